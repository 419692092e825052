#!/usr/bin/env bash
# Set up, build, make an example video (speech synthesised with espeak-ng over an FFmpeg test
# pattern), transcribe it with vid2text and print what was said.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --bin vid2text

ex=target/example
rm -rf "$ex" && mkdir -p "$ex"
espeak-ng -v en-us -s 140 -w "$ex/speech.wav" \
  "Hello, and welcome to vid two text. This example video was made by the set up script. \
Every word you hear is turned into text for training language models."
# 2 s of silence, the speech, 2 s of silence; a test pattern as the picture.
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -i "$ex/speech.wav" -filter_complex "[1:a]adelay=2000|2000,apad=pad_dur=2[a]" \
  -map 0:v -map "[a]" -shortest -c:v libx264 -pix_fmt yuv420p -c:a aac "$ex/example.mp4"

target/release/vid2text run "$ex/example.mp4" -o "$ex/out" --asr-model tiny.en --subtitles srt
echo
target/release/vid2text cat --text "$ex/out"
echo "subtitles: $(ls "$ex"/out/subtitles/*.srt)"
