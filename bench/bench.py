"""vid2text vs faster-whisper, side by side on the same inputs in the same run; and OCR.

    bench/run.sh [--rounds 3] [--beams 1,5] [--model tiny.en] [--only asr|ocr|captions|short|cluster|corpus]
                 [--also "LABEL=PATH"]...

`--also` adds a row for another vid2text binary (another build of the engine, an older commit),
run alternately with the others on the same corpus.

Builds a deterministic corpus from ../shared/data (real speech clips joined with silence and
music into videos, about 20 minutes of media, plus the shared videos), then runs vid2text,
faster-whisper sequential (vad_filter=True) and faster-whisper's BatchedInferencePipeline
(batch 8) alternately for several rounds with the same CTranslate2 model directory, compute type
int8, beam size and thread count, and prints one table: medians of wall time, x real time, CPU
seconds, peak RSS, WER against the references, and the ratios peer/ours. vid2text runs with
`--no-ocr` (the same work as the peers); `--ocr-row` times it once more with OCR on.

The OCR table: every shared video and a generated 5-minute slide talk (10 slides), each read
alone; medians of the visual workers' time (keyframe decoding + OCR), keyframes sampled and read,
and the share skipped as near-identical.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import captions
import cluster
import corpus
import short

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VID2TEXT_TEST_DATA", REPO.parent / "shared" / "data"))
WORK = REPO / "bench" / "work"


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, **kw)


def normalize(text: str) -> list:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w']+", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return text.split()


def edits(ref: list, hyp: list) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref):
        cur = [i + 1] + [0] * len(hyp)
        for j, h in enumerate(hyp):
            cur[j + 1] = min(prev[j] + (r != h), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[-1]


def clips():
    """(path, reference) of every speech clip with a transcript."""
    out = [(DATA / "speech/en/jfk/jfk.flac", (DATA / "speech/en/jfk/jfk.txt").read_text().strip())]
    libri = DATA / "speech/en/librivox-pocketsphinx"
    for line in (libri / "trans.txt").read_text().splitlines():
        if line.strip():
            name, ref = line.split(None, 1)
            out.append((libri / f"{name}.wav", ref.strip()))
    return out


def build_corpus(target_s: float, files: int) -> dict:
    """Videos of clips joined with silence and music; returns {path: reference}."""
    corpus = WORK / "corpus"
    manifest = corpus / "references.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    corpus.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261125)
    speech = clips()
    music = DATA / "video/moviepy-chaplin.mp4"
    refs = {}
    for n in range(files):
        parts, words, length, last = [], [], 0.0, None
        while length < target_s / files:
            # No clip twice in a row: a sentence said twice is rare in real speech, and Whisper's
            # compression-ratio fallback (which both tools share) would dominate the timings.
            path, ref = rng.choice([c for c in speech if c[0] != last])
            last = path
            parts.append(("clip", path))
            words.append(ref)
            length += float(subprocess.check_output(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]))
            gap = rng.uniform(1.0, 6.0)
            parts.append(("silence", gap))
            length += gap
            if rng.random() < 0.2:
                parts.append(("clip", music))
                length += 9.6
        inputs, filters = [], []
        for i, (kind, value) in enumerate(parts):
            if kind == "clip":
                inputs += ["-i", str(value)]
            else:
                inputs += ["-f", "lavfi", "-t", f"{value:.2f}", "-i", "anullsrc=r=16000:cl=mono"]
            filters.append(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono[a{i}]")
        concat = "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[a]"
        out = corpus / f"talk{n:02d}.mp4"
        sh("ffmpeg", "-nostdin", "-v", "error", "-y", *inputs,
           "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=10:duration={length:.2f}",
           "-filter_complex", ";".join(filters) + ";" + concat,
           "-map", f"{len(parts)}:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", "-shortest", out)
        refs[str(out)] = " ".join(words)
    for name in ["autoeditor-example.mp4", "moviepy-chaplin.mp4", "lhotse-big_buck_bunny_small.mp4"]:
        dst = corpus / name
        shutil.copy(DATA / "video" / name, dst)
        refs[str(dst)] = None  # timed, not scored
    manifest.write_text(json.dumps(refs, indent=1))
    return refs


def duration(path: str) -> float:
    return float(subprocess.check_output(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path]))


def tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants (KiB), from /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def timed(cmd: list, env=None) -> tuple:
    """Runs cmd under GNU time; returns (stdout, wall s, cpu s, peak RSS MiB). CPU counts the
    children it waited for (FFmpeg); the peak RSS is of the whole process tree, sampled every
    0.1 s (GNU time's %M sees only the largest single process)."""
    with tempfile.NamedTemporaryFile("r") as t, tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(["/usr/bin/time", "-o", t.name, "-f", "%e %U %S %M", *map(str, cmd)],
                             stdout=out, stderr=err, text=True, env=env)
        peak = 0
        while p.poll() is None:
            peak = max(peak, tree_rss_kib(p.pid))
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{err.read()[-2000:]}")
        wall, user, sys_, rss = t.read().split()[-4:]
        peak = max(peak, int(rss))
        return out.read(), float(wall), float(user) + float(sys_), peak / 1024


# Every tool runs with glibc's heap on huge pages, as vid2text sets for itself (its re-exec is
# skipped when the variable names the tunable): the same process environment for all.
SAME_ENV = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


# vid2text's own counters of where its time went (the run summary's "stages"), per run, by the
# files and options of the run: printed under the tables.
STAGES: dict = {}


def run_ours(binary, model_dir, files, beam, threads, ocr=False, more=()):
    """One vid2text run. --no-dedup: the corpora repeat the same clips, and the peers transcribe
    every file (with dedup, vid2text would leave copies out of the output after transcribing
    them, and they would count as missing words)."""
    with tempfile.TemporaryDirectory() as out:
        extra = ([] if ocr else ["--no-ocr"]) + list(more)
        stdout, wall, cpu, rss = timed([binary, "run", "-q", "--json", "--no-dedup", *files, "-o", out,
                                        "--asr-model", model_dir, "--beam-size", beam, "--threads", threads,
                                        "--text-format", "speech", *extra], env=SAME_ENV)
        STAGES.setdefault((binary, tuple(files), str(beam), ocr, tuple(more)), []).append(
            json.loads(stdout).get("stages", {}))
        texts = {}
        cat = subprocess.check_output([binary, "cat", out], text=True)
        for line in cat.splitlines():
            d = json.loads(line)
            texts[d["source"]] = d["text"]
    return texts, wall, cpu, rss


def slide_talk(path: Path, slides: int = 10, every: int = 30) -> None:
    """A lecture-like video: a slide of title + 3 bullets every `every` s, silent audio."""
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    draws = []
    for i in range(slides):
        a, b = i * every, (i + 1) * every
        lines = [(f"Lecture part {i + 1}", 120, 60)] + [(f"Point {i + 1}.{k} - property {k * 7 + i}", 260 + 80 * k, 40) for k in range(3)]
        for text, y, size in lines:
            draws.append(f"drawtext=fontfile={font}:text='{text}':x=120:y={y}:fontsize={size}:fontcolor=black:enable='gte(t,{a})*lt(t,{b})'")
    total = slides * every
    tmp = path.with_name(path.stem + ".part.mp4")
    sh("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=white:s=1280x720:r=25:d={total}",
       "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={total}", "-vf", ",".join(draws),
       "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", tmp)
    tmp.rename(path)


def ocr_table(binary: str, rounds: int) -> None:
    talk = WORK / "ocr" / "slide-talk.mp4"
    if not talk.exists():
        talk.parent.mkdir(parents=True, exist_ok=True)
        slide_talk(talk)
    videos = sorted((DATA / "video").glob("*.*")) + [talk]
    print(f"\nOCR: each video alone, 1 OCR worker x 1 thread, medians of {rounds} rounds")
    print("| video | media s | keyframes | read by OCR | not read (same picture, back-off) | visual s | keyframes/s | x real time |")
    print("|---|---|---|---|---|---|---|---|")
    tot = [0.0, 0, 0, 0.0]
    for v in videos:
        times, frames, read = [], 0, 0
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as out:
                p = subprocess.run([binary, "run", "-q", "--json", str(v), "-o", out, "--asr-model", "tiny.en"],
                                   stdout=subprocess.PIPE, text=True, check=True)
                summary = json.loads(p.stdout)
                times.append(summary["visual_s"])
                frames, read = summary["keyframes"], summary["ocr_frames"]
        t = statistics.median(times)
        media = duration(str(v))
        tot = [tot[0] + media, tot[1] + frames, tot[2] + read, tot[3] + t]
        skipped = 100 * (frames - read) / frames if frames else 0
        print(f"| {v.name} | {media:.1f} | {frames} | {read} | {skipped:.0f} % | {t:.2f} | {frames / t if t else 0:.1f} | {media / t if t else 0:.1f} |")
    media, frames, read, t = tot
    print(f"| all | {media:.1f} | {frames} | {read} | {100 * (frames - read) / frames:.0f} % | {t:.2f} | {frames / t:.1f} | {media / t:.1f} |")


def run_fw(python, model_dir, files, beam, threads, mode, extra=(), env=None):
    stdout, wall, cpu, rss = timed([python, REPO / "bench/fw_run.py", "--model", model_dir, "--mode", mode,
                                    "--beam", beam, "--threads", threads, *extra, *files],
                                   env={**SAME_ENV, **(env or {})})
    return json.loads(stdout), wall, cpu, rss


def intel_cpu() -> bool:
    """CTranslate2 picks Intel MKL for its GEMMs on Intel CPUs and oneDNN elsewhere; vid2text asks
    for oneDNN everywhere (README, "oneDNN on Intel CPUs too")."""
    try:
        return "GenuineIntel" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# The peers' GEMM backends to try: CTranslate2's own choice, and on Intel CPUs oneDNN as well
# (CT2_USE_MKL=0, what vid2text runs), so that the batched pipeline gets the faster of the two.
PEER_BACKENDS = {"its default": {}, **({"oneDNN": {"CT2_USE_MKL": "0"}} if intel_cpu() else {})}


def wer(refs: dict, texts: dict) -> float:
    e = w = 0
    for path, ref in refs.items():
        if ref is None:
            continue
        r = normalize(ref)
        e += edits(r, normalize(texts.get(path, "")))
        w += len(r)
    return e / w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--beams", default="1,5")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--corpus", choices=["mixed", "long", "both"], default="both",
                    help="the ASR table's corpus: the mixed one (talks, short clips, music), the talks alone, or both")
    ap.add_argument("--binary", default=str(REPO / "target/release/vid2text"))
    ap.add_argument("--python", default=str(REPO / "bench/.venv/bin/python"))
    ap.add_argument("--only", choices=["asr", "ocr", "captions", "short", "cluster", "corpus"], help="one of the tables")
    ap.add_argument("--captions-model", default="base",
                    help="Whisper model of the captions table (base: Mandarin needs a multilingual model)")
    ap.add_argument("--no-sequential", action="store_true",
                    help="leave faster-whisper's sequential rows out of the ASR tables (the batched one stays)")
    ap.add_argument("--ocr-row", action="store_true", help="also time vid2text with OCR on in the ASR table")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=PATH",
                    help="another vid2text binary as a row of its own (e.g. a source build)")
    a = ap.parse_args()
    if a.only == "ocr":
        ocr_table(a.binary, a.rounds)
        return
    if a.only == "corpus":
        corpus.table(a.binary, a.python, DATA, WORK, a.rounds)
        return
    if a.only == "captions":
        captions.table(a.binary, a.rounds, a.captions_model, a.threads, WORK, DATA)
        return
    models = Path(os.environ.get("VID2TEXT_MODELS", Path.home() / ".cache/vid2text/models"))
    model_dir = str(models / "whisper" / a.model)
    if a.only == "short":
        short_table(a, model_dir)
        return
    if a.only == "cluster":
        cluster_tables(a, model_dir)
        return
    refs = build_corpus(a.minutes * 60, 4)
    corpora = {"mixed corpus": refs,
               "long-form only": {f: r for f, r in refs.items() if Path(f).name.startswith("talk")}}
    if a.corpus != "both":
        corpora = {k: v for k, v in corpora.items() if k.startswith(a.corpus)}
    for name, refs_ in corpora.items():
        asr_table(a, model_dir, name, refs_)
    print("\nThe floor (bench/floor.py); its limits count every second as speech, where VAD lets the "
          "pipelines skip the rest:", flush=True)
    subprocess.run([a.python, str(REPO / "bench/floor.py"), "--threads", str(a.threads)], check=True)
    if a.only != "asr":
        ocr_table(a.binary, a.rounds)
        captions.table(a.binary, a.rounds, a.captions_model, a.threads, WORK, DATA)


def best_batch(a, model_dir, files, beam) -> tuple:
    """The batched pipeline's fastest batch size of 4, 8 and 16 on these files, with the fastest
    GEMM backend of PEER_BACKENDS (one run each): (batch, backend name)."""
    walls = {}
    for name, env in PEER_BACKENDS.items():
        for b in (4, 8, 16):
            try:
                walls[(b, name)] = run_fw(a.python, model_dir, files, beam, a.threads, "batched",
                                          ["--batch-size", str(b)], env=env)[1]
            except SystemExit as e:  # a backend that fails here is left out, and said so
                print(f"  batched pipeline, batch {b} ({name}): {str(e)[:300]}", file=sys.stderr, flush=True)
    print(f"  batched pipeline, beam {beam}: " + ", ".join(f"batch {b} ({n}) {w:.1f} s"
                                                           for (b, n), w in walls.items()),
          file=sys.stderr, flush=True)
    return min(walls, key=walls.get)


def asr_table(a, model_dir: str, corpus: str, refs: dict) -> None:
    files = list(refs)
    media_s = sum(duration(f) for f in files)
    print(f"\n{corpus}: {len(files)} files, {media_s / 60:.1f} min of media; model {a.model}, int8, "
          f"{a.threads} threads, {a.rounds} rounds; every tool with GLIBC_TUNABLES=glibc.malloc.hugetlb=1; "
          "peak RSS of the whole process tree", flush=True)
    for beam in [int(b) for b in a.beams.split(",")]:
        batch, backend = best_batch(a, model_dir, files, beam)
        peer_env = PEER_BACKENDS[backend]
        best_label = f"{batch}, best of 4/8/16" + (f", {backend} GEMM" if len(PEER_BACKENDS) > 1 else "")
        tools = {
            "vid2text": lambda beam: run_ours(a.binary, model_dir, files, beam, a.threads),
            **({"vid2text, OCR on too": lambda beam: run_ours(a.binary, model_dir, files, beam, a.threads, ocr=True)}
               if a.ocr_row else {}),
            **{label: (lambda beam, path=path: run_ours(path, model_dir, files, beam, a.threads))
               for label, path in (x.split("=", 1) for x in a.also)},
            **({} if a.no_sequential else {
                "faster-whisper sequential, defaults": lambda beam: run_fw(
                    a.python, model_dir, files, beam, a.threads, "seq"),
                "faster-whisper sequential, condition off": lambda beam: run_fw(
                    a.python, model_dir, files, beam, a.threads, "seq", ["--no-condition"])}),
            f"faster-whisper batched ({best_label})": lambda beam: run_fw(
                a.python, model_dir, files, beam, a.threads, "batched", ["--batch-size", str(batch)],
                env=peer_env),
        }
        results = {name: [] for name in tools}
        for r in range(a.rounds):
            order = list(tools)
            if r % 2:
                order.reverse()  # alternate who goes first
            for name in order:
                texts, wall, cpu, rss = tools[name](beam)
                results[name].append((wall, cpu, rss, wer(refs, texts)))
                print(f"  {corpus}, beam {beam} round {r + 1} {name}: {wall:.1f} s", file=sys.stderr, flush=True)
        med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in results.items()}
        ours = med["vid2text"]
        print(f"\n{corpus}, beam {beam}: medians of {a.rounds} rounds")
        print("| tool | wall/ours | wall s | x real time | CPU s | peak RSS MiB | WER % |")
        print("|---|---|---|---|---|---|---|")
        for n, (wall, cpu, rss, w) in med.items():
            print(f"| {n} | {wall / ours[0]:.2f} | {wall:.1f} | {media_s / wall:.1f} | {cpu:.1f} | {rss:.0f} | {100 * w:.2f} |",
                  flush=True)
        stage_table(STAGES.get((a.binary, tuple(files), str(beam), False, ()), []), med["vid2text"][0])


def stage_table(runs: list, wall: float = 0.0) -> None:
    """Where vid2text's time went, from its own counters: each stage's working time summed over
    its workers (medians over the rounds), against the wall time times the cores."""
    if not runs or not runs[0]:
        return
    med = {k: statistics.median(r.get(k, 0) for r in runs) for k in runs[0]}
    parts = [("ffprobe + hash", "probe_s"), ("audio read (FFmpeg pipe)", "audio_s"), ("Silero VAD", "vad_s"),
             ("log-mel", "mel_s"), ("Whisper encoder", "encoder_s"), ("Whisper decoder", "decoder_s"),
             ("visual (keyframes, OCR, captions)", "visual_s"), ("writer", "writer_s")]
    busy = sum(med[k] for _, k in parts)
    print(f"\nvid2text's stages (its own counters, medians): {med['windows_encoded']:.0f} windows encoded; "
          f"process CPU {med['cpu_s']:.1f} s, FFmpeg children {med['ffmpeg_cpu_s']:.1f} s"
          + (f", in {wall:.1f} s wall x {os.cpu_count()} cores" if wall else ""))
    print("| stage | working s (summed over workers) | share |")
    print("|---|---|---|")
    for label, k in parts:
        print(f"| {label} | {med[k]:.2f} | {100 * med[k] / busy:.0f} % |")


def short_corpus() -> dict:
    """{path: reference} of the short videos: every English clip with a reference."""
    misc = DATA / "speech/en/misc"
    extra = [(misc / name, ref) for name, ref in
             (l.split("\t")[:2] for l in (misc / "trans.tsv").read_text().splitlines() if l.strip())]
    return short.corpus(WORK, clips() + extra)


def short_table(a, model_dir: str) -> None:
    refs = short_corpus()
    files = list(refs)
    media_s = sum(duration(f) for f in files)
    tools = {
        "vid2text (packed)": lambda beam: run_ours(a.binary, model_dir, files, beam, a.threads),
        "vid2text --no-pack-inputs": lambda beam: run_ours(a.binary, model_dir, files, beam, a.threads,
                                                            more=["--no-pack-inputs"]),
        "faster-whisper sequential": lambda beam: run_fw(a.python, model_dir, files, beam, a.threads, "seq",
                                                         ["--no-condition"]),
        "faster-whisper batched (8)": lambda beam: run_fw(a.python, model_dir, files, beam, a.threads, "batched"),
    }
    for beam in [int(b) for b in a.beams.split(",")]:
        short.table(tools, refs, a.rounds, media_s, wer, beam)
        for label, more in (("packed", ()), ("--no-pack-inputs", ("--no-pack-inputs",))):
            print(f"\n{label}:", end="")
            stage_table(STAGES.get((a.binary, tuple(files), str(beam), False, more), []))


def cluster_tables(a, model_dir: str) -> None:
    refs = build_corpus(a.minutes * 60, 4)
    durations = {f: duration(f) for f in refs}
    cluster.throughput(a, model_dir, refs, durations, SAME_ENV, wer, tree_rss_kib)
    cluster.planning(a, list(short_corpus()))


if __name__ == "__main__":
    main()
