#!/usr/bin/env bash
# The GPU node's half of bench/gpu.py (see bench/gpu-pack.sh): joins the chunks copied to
# /tmp/g, unpacks them, puts the node's CUDA 13 libraries (PyTorch's) on the library path, installs
# the peer's wheels and runs the benchmark. Run from the repository root there; arguments go to
# bench/gpu.py (e.g. --only talks,short --rounds 3).
set -u
G=${VID2TEXT_GPU_DIR:-/tmp/g}
X=$G/x
if [ ! -x "$X/bin/vid2text" ]; then
  cat $(ls "$G"/c[0-9]* | sort -V) > "$G/all.tar" && mkdir -p "$X" && tar -xf "$G/all.tar" -C "$X" \
    && rm -f "$G/all.tar" "$G"/c[0-9]* || { echo "gpu-node: the chunks did not join" >&2; exit 1; }
  xz -d -f "$X/bin/vid2text.xz" "$X/m/ffmpeg/ffmpeg.xz" "$X/m/ffmpeg/ffprobe.xz" \
    "$X"/m/onnxruntime/libonnxruntime.so.*.xz
  chmod +x "$X/bin/vid2text" "$X/m/ffmpeg/ffmpeg" "$X/m/ffmpeg/ffprobe"
fi
T=$(python3 -c 'import os, nvidia; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia
export LD_LIBRARY_PATH=$(ls -d "$T"/*/lib 2>/dev/null | tr '\n' ':')$G/cublas12
# The ctranslate2 wheel (faster-whisper's engine) opens libcublas.so.12 (CUDA 12); a node with
# CUDA 13 only gets its cuBLAS 13 under that name (CTranslate2 looks its functions up by name).
mkdir -p "$G/cublas12"
for l in cublas cublasLt; do
  f=$(ls "$T"/*/lib/lib$l.so.1[23]* 2>/dev/null | head -1)
  [ -n "$f" ] && ln -sf "$f" "$G/cublas12/lib$l.so.12"
done
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$X"/whl/*.whl \
  && export PYTHONPATH=/tmp/site
export VID2TEXT_MODELS=$X/m PATH=$X/m/ffmpeg:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv
"$X/bin/vid2text" models 2>&1 | head -8
PYTHONUNBUFFERED=1 python3 bench/gpu.py --binary "$X/bin/vid2text" --models "$X/m" --data "$X/data" \
  --out "${OUT:-.}" "$@"
