"""The short-video table of the side-by-side benchmark (`bench/run.sh --only short`).

Most videos on short-video platforms last 10-60 s and speak for part of that; Whisper's encoder
reads 30 s whatever the input. The corpus: every English speech clip with a reference in
../shared/data/speech (3-11 s each), each made into short videos three times over with different
silence before and after (0.3-2.5 s) and a moving test picture, 21 files. Each tool transcribes
all of them in one process, alternating, the same model directory, compute type, beam and
threads: vid2text packed (the default), vid2text unpacked (`--no-pack-inputs`), faster-whisper
sequential (`vad_filter=True`, `condition_on_previous_text=False`) and batched.
"""
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path


def corpus(work: Path, clips) -> dict:
    """{path: reference} of the short videos, built once."""
    out = work / "short"
    manifest = out / "references.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261130)
    refs = {}
    n = 0
    for copy in range(3):
        for path, ref in clips:
            before, after = rng.uniform(0.3, 2.5), rng.uniform(0.3, 2.5)
            dst = out / f"short{n:02d}.mp4"
            n += 1
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path),
                 "-f", "lavfi", "-i", "testsrc2=size=320x568:rate=15",
                 "-filter_complex",
                 f"[0:a]aresample=16000,aformat=channel_layouts=mono,"
                 f"adelay={int(before * 1000)}:all=1,apad=pad_dur={after:.2f}[a]",
                 "-map", "1:v", "-map", "[a]", "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                 "-c:a", "aac", str(dst)], check=True)
            refs[str(dst)] = ref
    manifest.write_text(json.dumps(refs, indent=1))
    return refs


def table(tools: dict, refs: dict, rounds: int, media_s: float, wer, beam: int) -> None:
    """Runs each tool `rounds` times, alternating, and prints medians, packed vid2text first."""
    results = {name: [] for name in tools}
    for r in range(rounds):
        order = list(tools) if r % 2 == 0 else list(reversed(tools))
        for name in order:
            texts, wall, cpu, rss = tools[name](beam)
            results[name].append((wall, cpu, rss, wer(refs, texts)))
            print(f"  short, beam {beam}, round {r + 1} {name}: {wall:.1f} s", file=sys.stderr, flush=True)
    med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in results.items()}
    ours = med[next(iter(med))]
    print(f"\nShort videos: {len(refs)} files, {media_s:.0f} s of media, beam {beam}, medians of {rounds} rounds")
    print("| tool | wall/ours | wall s | x real time | CPU s | peak RSS MiB | WER % |")
    print("|---|---|---|---|---|---|---|")
    for n, (wall, cpu, rss, w) in med.items():
        print(f"| {n} | {wall / ours[0]:.2f} | {wall:.1f} | {media_s / wall:.1f} | {cpu:.1f} | {rss:.0f} | {100 * w:.2f} |",
              flush=True)
