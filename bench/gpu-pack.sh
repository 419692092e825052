#!/usr/bin/env bash
# Packs what bench/gpu.py needs on a GPU node that has no Rust and no registry into chunks small
# enough for a copy limit (the lent machine here takes 64 MiB a call):
#
#   CUDA_ARCH_LIST=9.0 CARGO_TARGET_DIR=/work/cuda-target scripts/setup.sh --cuda-toolkit
#   bench/gpu-pack.sh /work/cuda-target/release/vid2text [OUT=.gpu] [CHUNK_MIB=62]
#
# OUT/c1, OUT/c2, ... each hold one chunk (copy each folder's files to /tmp/g on the node, one call
# each); the last also holds gpu-node.sh. Then, on the node, from the repository root:
#   bash /tmp/g/gpu-node.sh --only talks,short,scale
# Inside: the binary (stripped, xz), tiny.en, the VAD model, ONNX Runtime and the static FFmpeg
# (xz), the benchmark's talks and short clips as 16 kHz AAC with their references (bench/run.sh
# builds them in bench/work), and the faster-whisper 1.2.1 and ctranslate2 4.8.4 wheels for the
# node's Python 3.12.
set -euo pipefail
bin=${1:?usage: bench/gpu-pack.sh CUDA_BINARY [OUT] [CHUNK_MIB]}
out=${2:-.gpu}
chunk=${3:-62}
repo=$(cd "$(dirname "$0")/.." && pwd)
models=${VID2TEXT_MODELS:-$HOME/.cache/vid2text/models}
work=$repo/bench/work
[ -f "$work/corpus/references.json" ] && [ -f "$work/short/references.json" ] || {
  echo "gpu-pack: run bench/run.sh --only asr and --only short first (they build bench/work)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,whl,data} "$stage"/m/{ffmpeg,vad,onnxruntime,whisper}
strip -o "$stage/bin/vid2text" "$bin" && xz -T0 -6 "$stage/bin/vid2text"
for f in ffmpeg ffprobe; do xz -T0 -6 -c "$models/ffmpeg/$f" > "$stage/m/ffmpeg/$f.xz"; done
touch "$stage/m/ffmpeg/.complete"
cp -a "$models/vad/.complete" "$models/vad/silero_vad_16k_sequence.onnx" "$stage/m/vad/"
ort=$(readlink -f "$models/onnxruntime/libonnxruntime.so")
cp -a "$models/onnxruntime/.complete" "$models/onnxruntime/libonnxruntime_providers_shared.so" "$stage/m/onnxruntime/"
ln -s "$(basename "$ort")" "$stage/m/onnxruntime/libonnxruntime.so"
xz -T0 -6 -c "$ort" > "$stage/m/onnxruntime/$(basename "$ort").xz"
cp -a "$models/whisper/tiny.en" "$stage/m/whisper/"
python3 - "$work" "$stage/data" "$models/ffmpeg/ffmpeg" <<'PY'
import json, os, subprocess, sys
work, dest, ffmpeg = sys.argv[1:]
for name, src in (("talks", "corpus"), ("short", "short")):
    refs, out = json.load(open(f"{work}/{src}/references.json")), {}
    os.makedirs(f"{dest}/{name}", exist_ok=True)
    for path, ref in refs.items():
        base = os.path.basename(path)
        if name == "talks" and not base.startswith("talk"):
            continue
        m4a = base.rsplit(".", 1)[0] + ".m4a"
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", path, "-vn", "-ac", "1", "-ar", "16000",
                        "-c:a", "aac", "-b:a", "48k", f"{dest}/{name}/{m4a}"], check=True)
        out[m4a] = ref
    json.dump(out, open(f"{dest}/{name}/references.json", "w"), ensure_ascii=False)
PY
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$stage/whl" \
  ctranslate2==4.8.4 faster-whisper==1.2.1
rm -rf "$out" && mkdir -p "$out"
# The binary first: a node can check it from the first chunk alone.
(cd "$stage" && tar -cf - bin m/vad m/onnxruntime data whl m/ffmpeg m/whisper) \
  | split -b "${chunk}M" -a 2 --numeric-suffixes=1 - "$out/c"
n=0
for f in "$out"/c[0-9]*; do
  n=$((n + 1)); mkdir -p "$out/c$n"; mv "$f" "$out/c$n/c$n"
done
cp "$repo/bench/gpu-node.sh" "$out/c$n/"
echo "gpu-pack: $n chunks in $out/c1 .. $out/c$n ($(du -sh "$out" | cut -f1)); on the node: cp each to /tmp/g, then bash /tmp/g/gpu-node.sh"
