"""Runs faster-whisper the way its users do, for the side-by-side benchmark.

    python fw_run.py --model DIR --mode seq|batched --beam 5 --threads 2 FILE... > texts.json

Prints {file: text} as JSON. Sequential mode: WhisperModel.transcribe(vad_filter=True) one file
after another. Batched mode: BatchedInferencePipeline (which always uses its VAD) with --batch-size.
`--device cuda` runs it on the GPU (bench/gpu.py). `--decode ffmpeg` decodes each file with the
FFmpeg command line (16 kHz mono float, inside the timed run) instead of PyAV, for machines without
PyAV (the lent GPU machine has none and no registry).
"""
import argparse
import json
import subprocess
import sys
import types

try:
    import av  # noqa: F401  (faster-whisper's own decoder)
except ImportError:
    # faster_whisper.audio imports av at module level but uses it only to decode paths; with
    # --decode ffmpeg it is handed samples instead.
    sys.modules["av"] = types.ModuleType("av")

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel


def ffmpeg_samples(path: str, ffmpeg: str) -> np.ndarray:
    raw = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", "16000",
                          "-f", "f32le", "-"], check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["seq", "batched"], required=True)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--decode", choices=["pyav", "ffmpeg"], default="pyav")
    ap.add_argument("--ffmpeg", default="ffmpeg", help="the FFmpeg binary of --decode ffmpeg")
    ap.add_argument("--no-condition", action="store_true",
                    help="condition_on_previous_text=False (vid2text's default)")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    model = WhisperModel(a.model, device=a.device, compute_type=a.compute_type, cpu_threads=a.threads)

    def audio(f: str):
        return ffmpeg_samples(f, a.ffmpeg) if a.decode == "ffmpeg" else f

    out = {}
    if a.mode == "seq":
        for f in a.files:
            segments, _ = model.transcribe(audio(f), beam_size=a.beam, vad_filter=True,
                                           condition_on_previous_text=not a.no_condition)
            out[f] = " ".join(s.text.strip() for s in segments)
    else:
        pipe = BatchedInferencePipeline(model=model)
        for f in a.files:
            segments, _ = pipe.transcribe(audio(f), beam_size=a.beam, batch_size=a.batch_size)
            out[f] = " ".join(s.text.strip() for s in segments)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
