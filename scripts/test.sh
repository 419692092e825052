#!/usr/bin/env bash
# Set up (system packages, Rust, models) and run every test: the README's test command, and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --slurm
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Tests that cannot run here record themselves (crates/vid2text/tests/it/util.rs, `skipped`).
skips=target/tmp/skipped.txt
mkdir -p target/tmp && : > "$skips"
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# The fuzz targets (fuzz/), 30 s each, so that a target that no longer builds or a regression
# it finds fails the run (cargo-fuzz on the stable toolchain, as the README runs it).
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
fuzz_log=$(mktemp)
for target in manifest subtitles filters; do
  # New inputs go to a scratch corpus: the committed seeds stay as they are.
  scratch=$(mktemp -d)
  if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$scratch" "corpus/$target" -- -max_total_time=30) >"$fuzz_log" 2>&1; then
    echo "fuzz $target: $(grep -E '^Done' "$fuzz_log" | tail -1)"
  else
    echo "fuzz $target: FAILED"; tail -40 "$fuzz_log"; status=1
  fi
  rm -rf "$scratch"
done
rm -f "$fuzz_log"
# One closing line over all test binaries; a skipped test is counted as skipped, not passed.
s=$(grep -c . "$skips" || true)
[ "$s" -gt 0 ] && sed 's/^/skipped: /' "$skips"
awk -v s="$s" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$log"
exit "$status"
