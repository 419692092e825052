#!/usr/bin/env bash
# Package vid2text with everything it needs at run time into one directory, to copy to machines
# (cluster nodes, GPU nodes) that have no Rust, no internet and no set-up:
#
#   DEST/vid2text        the binary; it finds lib/ through its run path ($ORIGIN/lib)
#   DEST/lib/            CTranslate2 (libctranslate2, its libgomp; libcublas*.so.12 when set up
#                        with --gpu, so --device cuda needs only the NVIDIA driver there)
#   DEST/models/         the models and libonnxruntime; the binary uses them when
#                        VID2TEXT_MODELS is not set
#
#   scripts/bundle.sh DEST                              # all installed Whisper models
#   scripts/bundle.sh --asr-models tiny.en,base DEST    # only these
#   scripts/bundle.sh --binary PATH DEST                # another build than target/release/vid2text
#
# Needs glibc 2.28 or later on the target (the ctranslate2 wheel is manylinux_2_28), libstdc++
# and FFmpeg (`ffmpeg`, `ffprobe` on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

asr_models=""
binary="${CARGO_TARGET_DIR:-target}/release/vid2text"
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --asr-models) asr_models=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "bundle.sh: unknown option: $1" >&2; exit 2 ;;
    *) dest=$1; shift ;;
  esac
done
[ -n "$dest" ] || { echo "usage: scripts/bundle.sh [--asr-models A,B] [--binary PATH] DEST" >&2; exit 2; }
[ -x "$binary" ] || { echo "bundle.sh: no binary at $binary (cargo build --release first)" >&2; exit 2; }
models="${VID2TEXT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vid2text/models}"

mkdir -p "$dest/lib" "$dest/models"
cp "$binary" "$dest/vid2text"
# The engine's libraries: whatever the binary was linked against (a source build has none).
if [ -d "$models/ctranslate2" ]; then
  cp -P "$models"/ctranslate2/*.so* "$dest/lib/"
fi
for part in vad ocr onnxruntime; do
  [ -d "$models/$part" ] && cp -rP "$models/$part" "$dest/models/"
done
mkdir -p "$dest/models/whisper"
if [ -z "$asr_models" ]; then
  asr_models=$(ls "$models/whisper" | paste -sd, -)
fi
IFS=, read -ra names <<< "$asr_models"
for name in "${names[@]}"; do
  [ -f "$models/whisper/$name/model.bin" ] || { echo "bundle.sh: no Whisper model $name in $models/whisper" >&2; exit 2; }
  cp -r "$models/whisper/$name" "$dest/models/whisper/"
done
echo "bundle.sh: $dest ($(du -sh "$dest" | cut -f1)): copy it anywhere and run $dest/vid2text"
