"""Runs faster-whisper the way its users do, for the side-by-side benchmark.

    python fw_run.py --model DIR --mode seq|batched --beam 5 --threads 2 FILE... > texts.json

Prints {file: text} as JSON. Sequential mode: WhisperModel.transcribe(vad_filter=True) one file
after another. Batched mode: BatchedInferencePipeline (which always uses its VAD) with --batch-size.
"""
import argparse
import json
import sys

from faster_whisper import BatchedInferencePipeline, WhisperModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["seq", "batched"], required=True)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--no-condition", action="store_true",
                    help="condition_on_previous_text=False (vid2text's default)")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type, cpu_threads=a.threads)
    out = {}
    if a.mode == "seq":
        for f in a.files:
            segments, _ = model.transcribe(f, beam_size=a.beam, vad_filter=True,
                                           condition_on_previous_text=not a.no_condition)
            out[f] = " ".join(s.text.strip() for s in segments)
    else:
        pipe = BatchedInferencePipeline(model=model)
        for f in a.files:
            segments, _ = pipe.transcribe(f, beam_size=a.beam, batch_size=a.batch_size)
            out[f] = " ".join(s.text.strip() for s in segments)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
