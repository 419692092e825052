"""The floor: how fast Whisper could run on this machine if it did nothing but its matrix products.

    bench/.venv/bin/python bench/floor.py [--threads 2] [--tokens-per-s 4]

Counts the multiply-adds per second of audio of the tiny.en and base encoder and decoder
(Whisper's published shapes; a 30 s window = 1500 encoder frames; the decoder at
--tokens-per-s tokens per second of speech, beam 1), measures this machine's fp32 GEMM rate
(numpy's BLAS) and int8 GEMM rate (ONNX Runtime's MatMulInteger) at the encoder's shapes, and
prints the resulting limits in x real time. Every second of audio is taken as speech.
"""
import argparse
import os
import time

import numpy as np

# name: (d_model, encoder layers, decoder layers, vocabulary)
WHISPER = {"tiny.en": (384, 4, 4, 51864), "base": (512, 6, 6, 51865)}
FRAMES = 1500  # encoder positions per 30 s window
WINDOW_S = 30.0


def flops_per_audio_second(d: int, enc: int, dec: int, vocab: int, tokens_per_s: float) -> tuple:
    """(encoder, decoder) FLOPs per second of audio (2 per multiply-add)."""
    conv = 2 * 3000 * 80 * 3 * d + 2 * FRAMES * d * 3 * d
    # Per layer: Q, K, V, O projections (4 d^2 per frame), MLP (8 d^2), attention (2 n^2 d).
    layer = 2 * FRAMES * 12 * d * d + 2 * 2 * FRAMES * FRAMES * d
    encoder = (conv + enc * layer) / WINDOW_S
    # Cross-attention keys and values, once per window.
    cross_kv = dec * 2 * 2 * FRAMES * d * d / WINDOW_S
    # Per token: self-attention projections (4 d^2), cross Q and O (2 d^2), MLP (8 d^2), the
    # cross-attention over 1500 frames (2 * 1500 d), and the logits (d * vocab).
    token = dec * (2 * 14 * d * d + 2 * 2 * FRAMES * d) + 2 * d * vocab
    decoder = cross_kv + tokens_per_s * token
    return encoder, decoder


def rate_fp32(m: int, k: int, n: int, seconds: float = 2.0) -> float:
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    a @ b
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * m * k * n * runs / (time.perf_counter() - start)


def rate_int8(m: int, k: int, n: int, threads: int, seconds: float = 2.0) -> float:
    import onnx
    from onnx import TensorProto, helper
    import onnxruntime as ort

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [k, n])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [m, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    a = np.random.randint(0, 255, (m, k), dtype=np.uint8)
    b = np.random.randint(-127, 127, (k, n), dtype=np.int8)
    sess.run(None, {"a": a, "b": b})
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sess.run(None, {"a": a, "b": b})
        runs += 1
    return 2 * m * k * n * runs / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens-per-s", type=float, default=4.0)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    d = 384
    fp32 = rate_fp32(FRAMES, d, 4 * d)
    int8 = rate_int8(FRAMES, d, 4 * d, a.threads)
    print(f"GEMM at the encoder's MLP shape (1500 x {d} x {4 * d}), {a.threads} threads: "
          f"fp32 {fp32 / 1e9:.0f} GFLOP/s (numpy BLAS), int8 {int8 / 1e9:.0f} GOP/s (ONNX Runtime MatMulInteger)")
    print(f"\n| model | encoder GFLOP per s of audio | decoder GFLOP per s of audio | limit, all int8 | limit, all fp32 |")
    print("|---|---|---|---|---|")
    for name, (dm, enc, dec, vocab) in WHISPER.items():
        e, dd = flops_per_audio_second(dm, enc, dec, vocab, a.tokens_per_s)
        total = e + dd
        print(f"| {name} | {e / 1e9:.2f} | {dd / 1e9:.2f} | {int8 / total:.0f}x real time | {fp32 / total:.0f}x real time |")


if __name__ == "__main__":
    main()
