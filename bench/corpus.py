"""The corpus table of the benchmark (`bench/run.sh --only corpus`).

A generated OUT of 10,000 documents (100 parts of 100, zstd JSONL as vid2text commits them):
English texts of 50-400 words drawn from the shared speech references and Chinese texts of
100-600 characters, of which 500 are near-duplicate copies (a few words changed) and 200
exact copies (the same id). Timed, medians of several rounds:

- `vid2text stats OUT` (streams every part);
- `vid2text dedup OUT` (MinHash over 2-token shingles, 120 values, 30 LSH bands of 4, 0.7),
  side by side with the peer most corpus pipelines use for this, datasketch's MinHashLSH with
  the same shingles, number of values and threshold, on the same texts (its time includes
  reading the parts, as ours does).
"""
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _texts(rng: random.Random, data: Path) -> tuple:
    words = []
    for p in [data / "speech/en/librivox-pocketsphinx/trans.txt", data / "speech/en/jfk/jfk.txt"]:
        words += re.findall(r"[a-z']+", p.read_text().lower())
    chars = [c for l in (data / "speech/zh/trans.tsv").open() if "\t" in l for c in l.split("\t")[1]
             if "\u4e00" <= c <= "\u9fff"]
    # A larger vocabulary than the references alone, so unrelated texts share few shingles.
    words = sorted(set(words)) + [f"w{i}" for i in range(3000)]
    return words, sorted(set(chars)) + [chr(0x4e00 + i) for i in range(2000)]


def build(out: Path, data: Path, n: int = 10_000) -> dict:
    """Writes OUT/docs; returns what was planted."""
    import zstandard

    rng = random.Random(20261130)
    words, chars = _texts(rng, data)
    docs, planted = [], {"near": 0, "exact": 0}
    for i in range(n):
        if i >= 1000 and i % 20 == 0:  # 500 near copies of earlier documents
            src = docs[rng.randrange(len(docs))]
            toks = src["text"].split(" ") if src["language"] == "en" else list(src["text"])
            for _ in range(max(1, len(toks) // 100)):
                toks[rng.randrange(len(toks))] = rng.choice(words if src["language"] == "en" else chars)
            text = " ".join(toks) if src["language"] == "en" else "".join(toks)
            doc = dict(src, id=f"near{i}", source=f"v{i}.mp4", text=text)
            planted["near"] += 1
        elif i >= 1000 and i % 50 == 1:  # 200 exact copies: the same bytes under another name
            src = docs[rng.randrange(len(docs))]
            doc = dict(src, source=f"v{i}.mp4")
            planted["exact"] += 1
        elif rng.random() < 0.7:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 400)))
            doc = {"id": f"id{i}", "source": f"v{i}.mp4", "language": "en", "text": text}
        else:
            text = "".join(rng.choice(chars) for _ in range(rng.randint(100, 600)))
            doc = {"id": f"id{i}", "source": f"v{i}.mp4", "language": "zh", "text": text}
        doc.setdefault("duration_s", 60.0)
        docs.append(doc)
    (out / "docs").mkdir(parents=True, exist_ok=True)
    cctx = zstandard.ZstdCompressor(level=3)
    for p in range(0, n, 100):
        lines = []
        for d in docs[p:p + 100]:
            full = dict(d, speech=[{"start": 0.0, "end": 50.0, "text": d["text"], "avg_logprob": -0.3,
                                    "no_speech_prob": 0.01, "compression_ratio": 1.5}],
                        stats={"speech_s": 50.0, "words": len(d["text"].split()), "dropped": {}},
                        pipeline={"version": "bench", "config_hash": "x"})
            lines.append(json.dumps(full, ensure_ascii=False))
        (out / "docs" / f"part-00000-{p // 100:05d}.jsonl.zst").write_bytes(
            cctx.compress(("\n".join(lines) + "\n").encode()))
    return planted


PEER = r'''
import json, sys, time, zstandard, re
from pathlib import Path
from datasketch import MinHash, MinHashLSH
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
def tokens(text):
    out, word = [], ""
    for c in text:
        if CJK.match(c):
            if word: out.append(word); word = ""
            out.append(c)
        elif c.isalnum(): word += c.lower()
        elif word and c not in "'\u2019": out.append(word); word = ""
    if word: out.append(word)
    return out
lsh = MinHashLSH(threshold=0.7, num_perm=120)
ids, near, exact = set(), 0, 0
d = zstandard.ZstdDecompressor()
for p in sorted(Path(sys.argv[1], "docs").glob("*.jsonl.zst")):
    with open(p, "rb") as f:
        for n, line in enumerate(d.stream_reader(f).read().decode().splitlines()):
            doc = json.loads(line)
            if doc["id"] in ids: exact += 1; continue
            ids.add(doc["id"])
            t = tokens(doc["text"])
            if len(t) < 20: continue
            m = MinHash(num_perm=120)
            m.update_batch([(a + "\x1f" + b).encode() for a, b in zip(t, t[1:])])
            if lsh.query(m): near += 1; continue
            lsh.insert(f"{p.name}:{n}", m)
print(json.dumps({"duplicates": exact, "near_duplicates": near}))
'''


def table(binary: str, python: str, data: Path, work: Path, rounds: int) -> None:
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "zstandard==0.25.0", "datasketch==1.6.5"], check=True)
    out = work / "corpus10k"
    if not (out / "docs").exists():
        planted = subprocess.run([python, __file__, "build", str(out), str(data)], check=True,
                                 capture_output=True, text=True).stdout
        (out / "planted.json").write_text(planted)
    planted = json.loads((out / "planted.json").read_text())
    rows = {}

    def timed(name, cmd):
        walls, result = [], None
        for _ in range(rounds):
            t = time.monotonic()
            r = subprocess.run(cmd, check=True, capture_output=True, text=True)
            walls.append(time.monotonic() - t)
            result = r.stdout.strip()
        rows[name] = (statistics.median(walls), result)
        print(f"  corpus: {name} {statistics.median(walls):.2f} s", file=sys.stderr, flush=True)

    timed("vid2text stats", [binary, "stats", out, "--json"])
    timed("vid2text dedup", [binary, "dedup", out, "--json"])
    timed("datasketch MinHashLSH (peer)", [python, "-c", PEER, out])
    stats = json.loads(rows["vid2text stats"][1])
    ours = json.loads(rows["vid2text dedup"][1])
    peer = json.loads(rows["datasketch MinHashLSH (peer)"][1])
    print(f"\nCorpus tools on a generated OUT of {stats['documents']} documents "
          f"({stats['text']['words']} words, {stats['text']['cjk_chars']} CJK characters; planted: "
          f"{planted['exact']} exact and {planted['near']} near copies), medians of {rounds} rounds")
    print("| step | peer time/ours | seconds | found |")
    print("|---|---|---|---|")
    print(f"| vid2text stats | - | {rows['vid2text stats'][0]:.2f} | {stats['documents']} documents |")
    ratio = rows["datasketch MinHashLSH (peer)"][0] / rows["vid2text dedup"][0]
    print(f"| vid2text dedup | {ratio:.2f} | {rows['vid2text dedup'][0]:.2f} | "
          f"{ours['duplicates']} duplicates, {ours['near_duplicates']} near |")
    print(f"| datasketch MinHashLSH, same shingles, 120 values, 0.7 | ({ratio:.2f}x ours) | "
          f"{rows['datasketch MinHashLSH (peer)'][0]:.2f} | {peer['duplicates']} duplicates, "
          f"{peer['near_duplicates']} near |")


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "build":
    print(json.dumps(build(Path(sys.argv[2]), Path(sys.argv[3]))))
