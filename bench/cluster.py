"""The cluster table of the benchmark (`bench/run.sh --only cluster`).

Throughput of 1, 2 and 4 concurrent workers on this machine: the corpus (the mixed one of the
ASR table: talks, short clips, music) is planned into K shards and K `vid2text work` processes
run at once, each with cores/K threads, as K array tasks on one node would. Side by side, in the
same rounds: faster-whisper's batched pipeline run the way a user shards it by hand, K
processes over the same split (longest first onto the least loaded), cores/K threads each.

Then the planning times: `vid2text plan` over a manifest of 100,000 entries whose durations are
in a `duration_s` column (no probing) into 1,000 shards, `vid2text status` on that job, and
probing: 200 inputs planned with 1 probe worker and with the default (two per core).
"""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run_all(cmds: list, env, tree_rss_kib) -> tuple:
    """Starts every command at once; returns (wall s, CPU s, peak RSS MiB of all together,
    their outputs)."""
    start = time.monotonic()
    procs = [subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True) for cmd in cmds]
    peak, cpu, outs = 0, 0.0, []
    live = {p.pid: p for p in procs}
    while live:
        peak = max(peak, sum(tree_rss_kib(pid) for pid in live))
        for pid in list(live):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                cpu += usage.ru_utime + usage.ru_stime
                p = live.pop(pid)
                p.returncode = os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    wall = time.monotonic() - start
    for p, cmd in zip(procs, cmds):
        out, err = p.stdout.read(), p.stderr.read()
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{err[-2000:]}")
        outs.append(out)
    return wall, cpu, peak / 1024, outs


def _split(files: list, durations: dict, k: int) -> list:
    """Longest first onto the least loaded of k lists (the rule `vid2text plan` uses)."""
    loads, parts = [0.0] * k, [[] for _ in range(k)]
    for f in sorted(files, key=lambda f: -durations[f]):
        i = loads.index(min(loads))
        parts[i].append(f)
        loads[i] += durations[f] + 2.0
    return [p for p in parts if p]


def throughput(a, model_dir: str, refs: dict, durations: dict, env, wer, tree_rss_kib) -> None:
    files = list(refs)
    media_s = sum(durations[f] for f in files)
    cores = os.cpu_count()
    ks = [1, 2, 4]
    results = {}
    for r in range(a.rounds):
        for k in (ks if r % 2 == 0 else list(reversed(ks))):
            threads = max(1, cores // k)
            with tempfile.TemporaryDirectory() as tmp:
                job = Path(tmp) / "job"
                subprocess.run([a.binary, "plan", "-q", *files, "-o", job, "--shards", str(k), "--no-dedup",
                                "--asr-model", model_dir, "--no-ocr", "--text-format", "speech"],
                               check=True, capture_output=True)
                wall, cpu, rss, _ = _run_all(
                    [[a.binary, "work", job, "--shard", str(s), "--threads", str(threads), "-q"]
                     for s in range(k)], env, tree_rss_kib)
                texts = {}
                cat = subprocess.check_output([a.binary, "cat", job], text=True)
                for line in cat.splitlines():
                    d = json.loads(line)
                    texts[d["source"]] = d["text"]
            results.setdefault(("vid2text", k), []).append((wall, cpu, rss, wer(refs, texts)))
            print(f"  cluster, round {r + 1}, vid2text x{k}: {wall:.1f} s", file=sys.stderr, flush=True)
            parts = _split(files, durations, k)
            wall, cpu, rss, outs = _run_all(
                [[a.python, Path(__file__).parent / "fw_run.py", "--model", model_dir, "--mode", "batched",
                  "--beam", "5", "--threads", str(threads), "--batch-size", "8", *part] for part in parts],
                env, tree_rss_kib)
            texts = {}
            for out in outs:
                texts.update(json.loads(out))
            results.setdefault(("faster-whisper batched (8)", k), []).append((wall, cpu, rss, wer(refs, texts)))
            print(f"  cluster, round {r + 1}, faster-whisper x{k}: {wall:.1f} s", file=sys.stderr, flush=True)
    med = {key: [statistics.median(x[i] for x in v) for i in range(4)] for key, v in results.items()}
    print(f"\nConcurrent workers on one {cores}-core machine: {len(files)} files, {media_s / 60:.1f} min "
          f"of media, model {Path(model_dir).name}, beam 5, cores/K threads per worker, medians of "
          f"{a.rounds} rounds; peak RSS of all workers together")
    print("| workers K | tool | peer wall/ours | wall s | x real time | CPU s | peak RSS MiB | WER % |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ks:
        ours = med[("vid2text", k)]
        for tool in ("vid2text", "faster-whisper batched (8)"):
            w, c, m, e = med[(tool, k)]
            ratio = med[("faster-whisper batched (8)", k)][0] / ours[0] if tool == "vid2text" else w / ours[0]
            label = f"{ratio:.2f}" if tool == "vid2text" else f"({ratio:.2f}x ours)"
            print(f"| {k} | {tool} | {label} | {w:.1f} | {media_s / w:.0f} | {c:.1f} | {m:.0f} | {100 * e:.2f} |")


def planning(a, shorts: list) -> None:
    rng = random.Random(20261130)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = tmp / "100k.jsonl"
        with manifest.open("w") as f:
            for i in range(100_000):
                # Heavy-tailed, like real collections: most short, a few hours long.
                d = min(4 * 3600.0, rng.lognormvariate(4.0, 1.3))
                f.write(json.dumps({"uri": f"https://videos.example/{i:06d}.mp4", "duration_s": round(d, 2)}) + "\n")
        times, status_times = [], []
        for r in range(a.rounds):
            job = tmp / f"job{r}"
            t = time.monotonic()
            subprocess.run([a.binary, "plan", manifest, "-o", job, "--shards", "1000", "--asr-model", "tiny.en",
                            "--no-ocr"], check=True, capture_output=True)
            times.append(time.monotonic() - t)
            t = time.monotonic()
            st = subprocess.run([a.binary, "status", job, "--json"], capture_output=True, text=True)
            status_times.append(time.monotonic() - t)
            assert json.loads(st.stdout)["states"]["not_started"]["inputs"] == 100_000
            run = json.loads((job / "run.json").read_text())
        rows.append(("plan: 100,000 manifest entries with duration_s -> 1,000 shards", statistics.median(times),
                     f"shards of {run['plan']['shard_hours']['min']:.1f}-{run['plan']['shard_hours']['max']:.1f} h"))
        rows.append(("status: the same job (1,000 manifests, 100,000 entries)", statistics.median(status_times), ""))
        links = tmp / "links"
        links.mkdir()
        for i in range(200):
            (links / f"v{i:03d}.mp4").symlink_to(shorts[i % len(shorts)])
        for workers, label in ((1, "1 probe worker"), (0, f"default: {2 * os.cpu_count()} probe workers")):
            times = []
            for r in range(a.rounds):
                job = tmp / f"probe{workers}-{r}"
                t = time.monotonic()
                subprocess.run([a.binary, "plan", links, "-o", job, "--shards", "10", "--asr-model", "tiny.en",
                                "--no-ocr", "--probe-workers", str(workers)], check=True, capture_output=True)
                times.append(time.monotonic() - t)
            rows.append((f"plan: 200 files probed with ffprobe, {label}", statistics.median(times), ""))
    print(f"\nPlanning (medians of {a.rounds}; no peer has a planner)")
    print("| step | seconds | note |")
    print("|---|---|---|")
    for name, s, note in rows:
        print(f"| {name} | {s:.2f} | {note} |")
