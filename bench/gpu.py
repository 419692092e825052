"""vid2text against faster-whisper on an NVIDIA GPU, side by side on the same inputs in one run.

    python3 bench/gpu.py --binary BIN --models DIR --data DIR [--rounds 3] [--out DIR]

Written for a GPU node with no Rust, no registry and no GNU time (the lent H200 here: README,
"GPU"): it needs only Python 3 with numpy, the vid2text binary, a model directory laid out as
`scripts/setup.sh` leaves it (whisper/tiny.en, vad, onnxruntime, ffmpeg), and, for the peer, the
ctranslate2 and faster-whisper packages importable by the same python (bench/fw_run.py runs it
with `--decode ffmpeg`: the same FFmpeg decodes for both tools).

DATA holds `talks/` (the long-form talks of bench/run.sh's corpus) and `short/` (its 21 short
clips), each with a `references.json` ({file name: transcript}). The tables: medians of wall time,
x real time, process-tree CPU seconds, peak RSS of the process tree, peak GPU memory (nvidia-smi,
whole device less its idle use) and WER, per tool and batch size; ratios first. Every round
alternates the order of the tools. Results go to stdout and, as they come, to OUT/gpu.log and
OUT/gpu.json, so a run cut short still returns what it measured.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import tree_rss_kib, wer  # noqa: E402

HERE = Path(__file__).resolve().parent
LOG = None
TIMEOUT_S = 150  # one run; a lent machine's minutes are few
RESULTS: dict = {}


def say(*parts) -> None:
    line = " ".join(str(p) for p in parts)
    print(line, flush=True)
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def gpu_mem_mib() -> int:
    try:
        out = subprocess.check_output(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                      text=True, timeout=5)
        return int(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


def timed(cmd: list, env=None) -> tuple:
    """(stdout, wall s, CPU s of the process and its children, peak tree RSS MiB, peak GPU MiB)."""
    base_gpu = gpu_mem_mib()
    peak = {"rss": 0, "gpu": 0}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, text=True, env=env)
        done = threading.Event()

        def sample_gpu():
            while not done.is_set():
                peak["gpu"] = max(peak["gpu"], gpu_mem_mib() - base_gpu)
                done.wait(0.25)

        sampler = threading.Thread(target=sample_gpu, daemon=True)
        sampler.start()
        while p.poll() is None:
            peak["rss"] = max(peak["rss"], tree_rss_kib(p.pid))
            if time.perf_counter() - t0 > TIMEOUT_S:
                p.kill()
                p.wait()
                done.set()
                raise RuntimeError(f"killed after {TIMEOUT_S} s: {' '.join(map(str, cmd))}")
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{err.read()[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return out.read(), wall, cpu, peak["rss"] / 1024, peak["gpu"]


def ours(a, files, beam, more=()):
    with tempfile.TemporaryDirectory() as out:
        stdout, wall, cpu, rss, gpu = timed(
            [a.binary, "run", "-q", "--json", "--no-dedup", "--no-ocr", *files, "-o", out, "--asr-model",
             f"{a.models}/whisper/{a.model}", "--beam-size", beam, "--text-format", "speech", *more])
        summary = json.loads(stdout)
        texts = {}
        for line in subprocess.check_output([a.binary, "cat", out], text=True).splitlines():
            d = json.loads(line)
            texts[Path(d["source"]).name] = d["text"]
    return texts, wall, cpu, rss, gpu, summary.get("stages", {})


def fw(a, files, beam, mode, more=()):
    stdout, wall, cpu, rss, gpu = timed(
        [sys.executable, HERE / "fw_run.py", "--model", f"{a.models}/whisper/{a.model}", "--mode", mode,
         "--beam", beam, "--threads", a.fw_threads, "--device", a.device, "--compute-type", a.compute_type,
         "--decode", "ffmpeg", "--ffmpeg", a.ffmpeg, *more, *files])
    return {Path(k).name: v for k, v in json.loads(stdout).items()}, wall, cpu, rss, gpu, {}


def table(name: str, tools: dict, refs: dict, media_s: float, rounds: int, beam: int) -> None:
    results = {n: [] for n in tools}
    stages = {n: [] for n in tools}
    for r in range(rounds):
        order = list(tools) if r % 2 == 0 else list(reversed(tools))
        for n in order:
            try:
                texts, wall, cpu, rss, gpu, st = tools[n](beam)
            except RuntimeError as e:
                say(f"  {name} beam {beam} {n}: {e}")
                continue
            results[n].append((wall, cpu, rss, gpu, wer(refs, texts)))
            stages[n].append(st)
            say(f"  {name}, beam {beam}, round {r + 1}, {n}: {wall:.2f} s, WER {100 * results[n][-1][4]:.2f} %")
    med = {n: [statistics.median(x[i] for x in v) for i in range(5)] for n, v in results.items() if v}
    if not med:
        return
    first = next(iter(med.values()))[0]
    say(f"\n{name}, beam {beam}: {media_s / 60:.1f} min of audio, medians of {rounds} rounds; "
        f"wall/first is against the first row")
    say("| tool | wall/first | wall s | x real time | CPU s | peak RSS MiB | peak GPU MiB | WER % |")
    say("|---|---|---|---|---|---|---|---|")
    for n, (wall, cpu, rss, gpu, w) in med.items():
        say(f"| {n} | {wall / first:.2f} | {wall:.2f} | {media_s / wall:.0f} | {cpu:.1f} | {rss:.0f} | {gpu:.0f} | "
            f"{100 * w:.2f} |")
    for n, runs in stages.items():
        if runs and runs[0]:
            keys = ["windows_encoded", "asr_passes", "mel_s", "encoder_s", "decoder_s", "audio_s", "vad_s"]
            say(f"  {n} stages (medians): " + ", ".join(
                f"{k} {statistics.median(r.get(k, 0) for r in runs):.2f}" for k in keys if k in runs[0]))
    RESULTS[f"{name}, beam {beam}"] = {"media_s": media_s, "medians": med, "runs": results}
    if LOG:
        (Path(LOG).parent / "gpu.json").write_text(json.dumps(RESULTS, indent=1))


def duration(ffprobe: str, path: str) -> float:
    return float(subprocess.check_output([ffprobe, "-v", "error", "-show_entries", "format=duration", "-of",
                                          "csv=p=0", path]))


def main() -> None:
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fw-threads", default="4", help="faster-whisper's cpu_threads (its VAD and features)")
    ap.add_argument("--copies", type=int, default=4, help="copies of the talks in the throughput table")
    ap.add_argument("--only", default="talks,short,scale,cpu")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--device", default="cuda", help="cpu: try this script where there is no GPU")
    a = ap.parse_args()
    a.compute_type = "float16" if a.device == "cuda" else "int8"
    LOG = str(Path(a.out) / "gpu.log")
    a.ffmpeg = f"{a.models}/ffmpeg/ffmpeg"
    ffprobe = f"{a.models}/ffmpeg/ffprobe"
    only = a.only.split(",")
    data = Path(a.data)

    def corpus(sub):
        refs = json.loads((data / sub / "references.json").read_text())
        files = [str(data / sub / n) for n in refs]
        return refs, files, sum(duration(ffprobe, f) for f in files)

    def copies():
        """The talks a.copies times over (links with their own names), for throughput."""
        refs, files, media_s = corpus("talks")
        many_refs, many = {}, []
        work = Path(tempfile.mkdtemp())
        for c in range(a.copies):
            for f in files:
                link = work / f"c{c}-{Path(f).name}"
                link.symlink_to(Path(f).resolve())
                many.append(str(link))
                many_refs[link.name] = refs[Path(f).name]
        return many_refs, many, media_s * a.copies

    cuda = ["--device", a.device, "--compute-type", a.compute_type]
    dev = f"{a.device} {a.compute_type}"

    def talks(beam):
        refs, files, media_s = corpus("talks")
        tools = {
            f"vid2text {dev} (batch 8, default)": lambda b: ours(a, files, b, cuda),
            f"vid2text {dev}, batch 16": lambda b: ours(a, files, b, cuda + ["--batch-size", "16"]),
            f"vid2text {dev}, batch 32": lambda b: ours(a, files, b, cuda + ["--batch-size", "32"]),
            "vid2text cuda int8_float16": lambda b: ours(a, files, b, ["--device", "cuda", "--compute-type",
                                                                       "int8_float16"]),
            f"faster-whisper batched {dev} (8)": lambda b: fw(a, files, b, "batched", ["--batch-size", "8"]),
            f"faster-whisper batched {dev} (16)": lambda b: fw(a, files, b, "batched",
                                                                     ["--batch-size", "16"]),
            f"faster-whisper sequential {dev}, condition off": lambda b: fw(a, files, b, "seq",
                                                                                  ["--no-condition"]),
        }
        if beam == 1:  # the rows that matter most; the batch sweep is at beam 5
            tools = {k: v for k, v in tools.items() if "batch 16" not in k and "batch 32" not in k
                     and "int8_float16" not in k and "(8)" not in k}
        if "cpu" in only and beam == 5:
            tools[f"vid2text cpu int8, {os.cpu_count()} threads"] = lambda b: ours(a, files, b)
        table(f"talks ({len(files)} files)", tools, refs, media_s, a.rounds, beam)
    if "talks" in only:
        talks(5)
    if "short" in only:
        refs, files, media_s = corpus("short")
        tools = {
            f"vid2text {dev} (packed)": lambda b: ours(a, files, b, cuda),
            f"vid2text {dev} --no-pack-inputs": lambda b: ours(a, files, b, cuda + ["--no-pack-inputs"]),
            f"faster-whisper sequential {dev}, condition off": lambda b: fw(a, files, b, "seq",
                                                                                  ["--no-condition"]),
            f"faster-whisper batched {dev} (8)": lambda b: fw(a, files, b, "batched", ["--batch-size", "8"]),
        }
        table(f"short clips ({len(files)} files)", tools, refs, media_s, a.rounds, 5)
    if "scale" in only:
        many_refs, many, media_s = copies()
        tools = {
            f"vid2text {dev}, batch 16": lambda b: ours(a, many, b, cuda + ["--batch-size", "16"]),
            f"vid2text {dev}, batch 32": lambda b: ours(a, many, b, cuda + ["--batch-size", "32"]),
            f"vid2text {dev}, batch 32, 2 replicas": lambda b: ours(a, many, b, cuda + [
                "--batch-size", "32", "--replicas", "2"]),
            f"faster-whisper batched {dev} (16)": lambda b: fw(a, many, b, "batched", ["--batch-size", "16"]),
        }
        table(f"talks x {a.copies} ({len(many)} files)", tools, many_refs, media_s, 1, 5)
    if "talks" in only:
        talks(1)
    if "sweep" in only:
        # Replicas x batch size on CUDA: CTranslate2's timestamp rules do per-row host work at
        # every decoding step on a GPU, so one replica leaves the GPU waiting on one CPU thread.
        many_refs, many, media_s = copies()
        for beam, configs in ((5, [(1, 8), (2, 8), (4, 8), (8, 8), (4, 4), (8, 4), (16, 4), (4, 16)]),
                              (1, [(1, 8), (4, 8), (8, 4)])):
            tools = {f"vid2text {dev}, {r} replicas x batch {b}":
                     (lambda bm, r=r, b=b: ours(a, many, bm, cuda + ["--replicas", str(r), "--batch-size", str(b)]))
                     for r, b in configs}
            tools[f"faster-whisper batched {dev} (16)"] = lambda bm: fw(a, many, bm, "batched",
                                                                        ["--batch-size", "16"])
            table(f"talks x {a.copies} ({len(many)} files)", tools, many_refs, media_s, 1, beam)


if __name__ == "__main__":
    main()
