"""Texts with a known language from ../shared/data, as vid2text meets them: whole sentences
(speech references, caption references of the captions benchmark), single screen lines read from
the shared and generated videos, and caption-length chunks (3-7 English words, 5-12 Chinese
characters) of the sentences. Prints `language<TAB>kind<TAB>text` lines."""
import json
import os
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VID2TEXT_TEST_DATA", REPO.parent / "shared" / "data"))

en = [l.split(None, 1)[1].strip() for l in (DATA / "speech/en/librivox-pocketsphinx/trans.txt").open()]
en.append((DATA / "speech/en/jfk/jfk.txt").read_text().strip())
zh = [l.split("\t")[1].strip() for l in (DATA / "speech/zh/trans.tsv").open() if "\t" in l]
captions = REPO / "bench/work/captions/corpus.json"  # written by `bench/run.sh --only captions`
if captions.exists():
    c = json.loads(captions.read_text())
    en += [t for t in c["English landscape"].values() if t]
    zh += [w for t in c["Mandarin portrait"].values() if t for w in t.split()]
screen = ["THE PEACH OPEN MOVIE PROJECT", "PRESENTS", "Huge frame text", "Contact us", "Lecture part 1",
          "Point 1.1 - property 7", "Gradient descent", "Step size matters",
          "Hello. This is an example video for your convenience and pleasure."]
rows = [("en", "sentence", s) for s in en] + [("zh", "sentence", s) for s in zh]
rows += [("en", "line", s) for s in screen]
rng = random.Random(1)
for s in en:
    w, i = s.split(), 0
    while i < len(w):
        n = rng.randint(3, 7)
        rows.append(("en", "chunk", " ".join(w[i:i + n])))
        i += n
for s in zh:
    i = 0
    while i < len(s):
        n = rng.randint(5, 12)
        rows.append(("zh", "chunk", s[i:i + n]))
        i += n
print("\n".join("\t".join(r) for r in rows))
