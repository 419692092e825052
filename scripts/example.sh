#!/usr/bin/env bash
# Set up, build, make an example video (speech synthesised with espeak-ng over two title slides
# drawn by FFmpeg), turn it into text with vid2text and print what was said and shown.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --bin vid2text

ex=target/example
rm -rf "$ex" && mkdir -p "$ex"
espeak-ng -v en-us -s 140 -w "$ex/speech.wav" \
  "Hello, and welcome to vid two text. This example video was made by the set up script. \
Every word you hear, and every line you see, is turned into text for training language models."
# 2 s of silence, the speech, 2 s of silence; two slides as the picture, the second from 6 s.
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
slide() { # TEXT Y SIZE FROM TO
  echo "drawtext=fontfile=$font:text='$1':x=(w-text_w)/2:y=$2:fontsize=$3:fontcolor=black:enable='gte(t,$4)*lt(t,$5)'"
}
secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$ex/speech.wav")
secs=$(awk -v s="$secs" 'BEGIN { printf "%.2f", s + 4 }')
ffmpeg -nostdin -v error -y -f lavfi -i "color=white:size=640x360:rate=25:duration=$secs" \
  -i "$ex/speech.wav" \
  -filter_complex "[0:v]$(slide 'vid2text example' 120 44 0 6),$(slide 'Speech and on-screen text' 200 28 0 6),$(slide 'Made by scripts/example.sh' 150 32 6 60)[v];[1:a]adelay=2000|2000,apad=pad_dur=2[a]" \
  -map "[v]" -map "[a]" -shortest -c:v libx264 -pix_fmt yuv420p -c:a aac "$ex/example.mp4"

target/release/vid2text run "$ex/example.mp4" -o "$ex/out" --asr-model tiny.en --subtitles srt
echo
target/release/vid2text cat --text "$ex/out"
echo "subtitles: $(ls "$ex"/out/subtitles/*.srt)"
