#!/usr/bin/env bash
# The side-by-side benchmark: vid2text vs faster-whisper 1.2.1 (sequential with VAD, and batched),
# same inputs, same model directory, same compute type, beam and threads. Prints one table.
#   bench/run.sh [--rounds 3] [--beams 1,5] [--model tiny.en|base] [--minutes 20]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# GNU time (peak RSS per run) and venv, from Debian.
for p in time python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --bin vid2text
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet --disable-pip-version-check faster-whisper==1.2.1
fi
# onnx builds the int8 GEMM probe of bench/floor.py.
bench/.venv/bin/python -c "import onnx" 2>/dev/null || \
  bench/.venv/bin/pip install --quiet --disable-pip-version-check onnx==1.23.2
exec bench/.venv/bin/python bench/bench.py "$@"
