//! Silero VAD (v6), computed in our code from the weights of its ONNX export, and Silero's
//! `get_speech_timestamps` rules.

use std::path::Path;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::onnx_weights;
pub use crate::SpeechSpan;
use crate::{Error, Result};

/// Samples per VAD step at 16 kHz (32 ms).
pub const WINDOW: usize = 512;
const CONTEXT: usize = 64;
const SR: usize = vid2text_core::SAMPLE_RATE;

/// Parameters of speech detection (Silero's names; times in ms unless said).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VadConfig {
    /// Speech probability at or above which a frame is speech.
    pub threshold: f32,
    /// Speech shorter than this is dropped.
    pub min_speech_duration_ms: u32,
    /// Silence shorter than this does not end a speech segment.
    pub min_silence_duration_ms: u32,
    /// Longer speech is split (at the last pause when there is one); keeps segments inside one
    /// 30 s Whisper window.
    pub max_speech_duration_s: f32,
    /// Padding added on both sides of each segment.
    pub speech_pad_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            min_speech_duration_ms: 250,
            min_silence_duration_ms: 1000,
            max_speech_duration_s: 28.0,
            speech_pad_ms: 300,
        }
    }
}

/// Frames per model call: 1024 frames are 32.8 s of audio, enough to make each layer one large
/// matrix product, while the buffers stay small (about 8 MB).
const FRAMES_PER_CALL: usize = 1024;

/// Samples of one frame with its context (64 + 512), and after the STFT's reflection (+ 64).
const FRAME: usize = CONTEXT + WINDOW;
const PADDED: usize = FRAME + 64;
/// The STFT: 256-sample Hann windows every 128 samples, 4 per frame, 129 frequencies each.
const N_FFT: usize = 256;
const HOP: usize = 128;
const STEPS: usize = (PADDED - N_FFT) / HOP + 1;
const BINS: usize = N_FFT / 2 + 1;
const HIDDEN: usize = 128;

/// Silero VAD v6, computed in our own code from the weights of the sequence export that
/// silero-vad ships as `silero_vad_16k_sequence.onnx` (faster-whisper ships the same model as
/// `silero_vad_v6.onnx`). The network is small (an STFT, four 1-D convolutions, an LSTM cell
/// of 128), and ONNX Runtime ran its convolutions one frame at a time (57 µs a frame on this
/// machine's cores, 86 % of it in `Conv`). Here the STFT is a real FFT and each convolution is
/// one matrix product over every frame of a call; only the LSTM's recurrence goes frame by
/// frame. Probabilities agree with Silero's own frame-by-frame ONNX model within 1e-4
/// (`tests/vad.rs`). One per worker: it holds its scratch buffers.
pub struct SileroVad {
    w: Weights,
    fft: Arc<dyn RealToComplex<f32>>,
    scratch: Scratch,
}

struct Weights {
    /// The STFT's window (the basis's first row: the zero frequency).
    window: Vec<f32>,
    /// Convolutions, each `[out][in][3]` as PyTorch stores them, and their biases.
    conv: [(Vec<f32>, Vec<f32>); 4],
    /// LSTM input weights `[4 * 128][128]` (gates i, o, f, c: ONNX's order), the recurrent
    /// weights transposed to `[128][4 * 128]`, and the two biases summed.
    lstm_w: Vec<f32>,
    lstm_r_t: Vec<f32>,
    lstm_b: Vec<f32>,
    /// The output layer: 128 weights and a bias.
    out_w: Vec<f32>,
    out_b: f32,
}

/// Per-call buffers, each frame's rows padded with a zero row on both sides where the next
/// convolution reads past its ends.
#[derive(Default)]
struct Scratch {
    mag: Vec<f32>,   // [n][STEPS + 2][BINS]
    h1: Vec<f32>,    // [n][STEPS + 2][128]
    h2: Vec<f32>,    // [n][2 + 2][64]
    h3: Vec<f32>,    // [n][64]
    h4: Vec<f32>,    // [n][128]
    gates: Vec<f32>, // [n][512]
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,
    fft_scratch: Vec<realfft::num_complex::Complex<f32>>,
}

impl SileroVad {
    pub fn load(model: &Path) -> Result<Self> {
        let bytes = std::fs::read(model).map_err(|e| Error::load(model, e))?;
        let w = Weights::from_onnx(&bytes)
            .map_err(|e| Error::load(model, format!("not Silero VAD v6's sequence export: {e}")))?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let scratch = Scratch {
            fft_in: fft.make_input_vec(),
            fft_out: fft.make_output_vec(),
            fft_scratch: fft.make_scratch_vec(),
            ..Scratch::default()
        };
        Ok(SileroVad { w, fft, scratch })
    }

    /// One call over `frames` (each CONTEXT + WINDOW samples, back to back); `h` and `c` carry
    /// the LSTM state in and out. Appends one probability per frame to `probs`.
    fn run(
        &mut self,
        frames: &[f32],
        h: &mut [f32],
        c: &mut [f32],
        probs: &mut Vec<f32>,
    ) -> Result<()> {
        let n = frames.len() / FRAME;
        let (w, s) = (&self.w, &mut self.scratch);
        // The magnitude STFT of each frame, reflected by 64 samples at its end.
        let rows = STEPS + 2;
        s.mag.clear();
        s.mag.resize(n * rows * BINS, 0.0);
        let mut padded = [0.0f32; PADDED];
        for (f, frame) in frames.chunks_exact(FRAME).enumerate() {
            padded[..FRAME].copy_from_slice(frame);
            for j in 0..PADDED - FRAME {
                padded[FRAME + j] = frame[FRAME - 2 - j];
            }
            for t in 0..STEPS {
                let x = &padded[t * HOP..t * HOP + N_FFT];
                for ((d, &a), &win) in s.fft_in.iter_mut().zip(x).zip(&w.window) {
                    *d = a * win;
                }
                self.fft
                    .process_with_scratch(&mut s.fft_in, &mut s.fft_out, &mut s.fft_scratch)
                    .map_err(vad_err)?;
                let row = (f * rows + t + 1) * BINS;
                for (m, z) in s.mag[row..row + BINS].iter_mut().zip(&s.fft_out) {
                    *m = (z.re * z.re + z.im * z.im).sqrt();
                }
            }
        }
        // conv1: 129 -> 128 channels, kernel 3, padding 1, over the 4 steps.
        s.h1.clear();
        s.h1.resize(n * rows * 128, 0.0);
        for t in 0..STEPS {
            conv_taps(
                n,
                &s.mag,
                t,
                rows * BINS,
                BINS,
                &w.conv[0].0,
                128,
                &mut s.h1,
                (t + 1) * 128,
                rows * 128,
            );
        }
        bias_relu(&mut s.h1, &w.conv[0].1, |i| {
            i % rows != 0 && i % rows != rows - 1
        });
        // conv2: 128 -> 64, stride 2: 2 steps.
        s.h2.clear();
        s.h2.resize(n * 4 * 64, 0.0);
        for t in 0..2 {
            conv_taps(
                n,
                &s.h1,
                2 * t,
                rows * 128,
                128,
                &w.conv[1].0,
                64,
                &mut s.h2,
                (t + 1) * 64,
                4 * 64,
            );
        }
        bias_relu(&mut s.h2, &w.conv[1].1, |i| i % 4 == 1 || i % 4 == 2);
        // conv3: 64 -> 64, stride 2: 1 step.
        s.h3.clear();
        s.h3.resize(n * 64, 0.0);
        conv_taps(n, &s.h2, 0, 4 * 64, 64, &w.conv[2].0, 64, &mut s.h3, 0, 64);
        bias_relu(&mut s.h3, &w.conv[2].1, |_| true);
        // conv4: 64 -> 128 over 1 step: only the middle tap meets data.
        s.h4.clear();
        s.h4.resize(n * 128, 0.0);
        matmul(
            n,
            64,
            128,
            &s.h3,
            64,
            &w.conv[3].0[1..],
            3,
            64 * 3,
            &mut s.h4,
            128,
            false,
        );
        bias_relu(&mut s.h4, &w.conv[3].1, |_| true);
        // The LSTM's input part for every frame at once, then the recurrence frame by frame.
        s.gates.clear();
        s.gates.resize(n * 4 * HIDDEN, 0.0);
        // B[c][j] = lstm_w[j][c].
        matmul(
            n,
            HIDDEN,
            4 * HIDDEN,
            &s.h4,
            HIDDEN,
            &w.lstm_w,
            1,
            HIDDEN,
            &mut s.gates,
            4 * HIDDEN,
            false,
        );
        for g in s.gates.chunks_exact_mut(4 * HIDDEN) {
            recur(g, h, &w.lstm_r_t);
            for (gj, &bj) in g.iter_mut().zip(&w.lstm_b) {
                *gj += bj;
            }
            let (i, rest) = g.split_at(HIDDEN);
            let (o, rest) = rest.split_at(HIDDEN);
            let (f, cand) = rest.split_at(HIDDEN);
            let mut logit = w.out_b;
            for k in 0..HIDDEN {
                c[k] = sigmoid(f[k]) * c[k] + sigmoid(i[k]) * tanh(cand[k]);
                h[k] = sigmoid(o[k]) * tanh(c[k]);
                logit += w.out_w[k] * h[k].max(0.0);
            }
            probs.push(sigmoid(logit));
        }
        Ok(())
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// tanh through one `exp` (glibc's `tanhf` took as long as the VAD's matrix products); exact to
/// about 1e-7, saturating cleanly at both ends.
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * x).exp() + 1.0)
}

/// The LSTM's recurrent part for one frame: `g += R h`, with R stored transposed so that the
/// inner loop runs over 512 independent sums (vectorized; with FMA where the CPU has it).
fn recur(g: &mut [f32], h: &[f32], r_t: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { recur_avx2(g, h, r_t) };
    }
    recur_plain(g, h, r_t)
}

fn recur_plain(g: &mut [f32], h: &[f32], r_t: &[f32]) {
    for (&hk, r) in h.iter().zip(r_t.chunks_exact(g.len())) {
        for (gj, &rj) in g.iter_mut().zip(r) {
            *gj += hk * rj;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn recur_avx2(g: &mut [f32], h: &[f32], r_t: &[f32]) {
    for (&hk, r) in h.iter().zip(r_t.chunks_exact(g.len())) {
        for (gj, &rj) in g.iter_mut().zip(r) {
            *gj = hk.mul_add(rj, *gj);
        }
    }
}

/// One output step of a kernel-3 convolution for every frame: the three taps are three matrix
/// products over the frames, summed into C. `input` holds each frame's padded rows of `cin`
/// channels (frame stride `frame_in`), the taps reading rows `first`, `first + 1`, `first + 2`;
/// `weights` are `[cout][cin][3]`; C is row `out_at` of each frame in `out` (frame stride
/// `frame_out`).
#[allow(clippy::too_many_arguments)]
fn conv_taps(
    n: usize,
    input: &[f32],
    first: usize,
    frame_in: usize,
    cin: usize,
    weights: &[f32],
    cout: usize,
    out: &mut [f32],
    out_at: usize,
    frame_out: usize,
) {
    assert_eq!(weights.len(), cout * cin * 3);
    for k in 0..3 {
        // B[c][o] = weights[o][c][k].
        matmul(
            n,
            cin,
            cout,
            &input[(first + k) * cin..],
            frame_in,
            &weights[k..],
            3,
            cin * 3,
            &mut out[out_at..],
            frame_out,
            k > 0,
        );
    }
}

/// C = A B, or C += A B when `accumulate`: A is `m` x `k`, rows of `a` `rsa` apart; B is `k` x
/// `n`, element (i, j) at `b[i * rsb + j * csb]`; C is `m` x `n`, rows of `c` `rsc` apart.
/// Checks that every element lies inside its slice, then runs `matrixmultiply`'s sgemm.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    rsc: usize,
    accumulate: bool,
) {
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * rsa + k <= a.len(), "A out of bounds");
    assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "B out of bounds");
    assert!((m - 1) * rsc + n <= c.len(), "C out of bounds");
    // SAFETY: the asserts bound every element that A, B and C address.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            1,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

/// Adds the bias and applies ReLU to each row of `x` whose index `keep` accepts (the padding
/// rows stay zero).
fn bias_relu(x: &mut [f32], bias: &[f32], keep: impl Fn(usize) -> bool) {
    for (i, row) in x.chunks_exact_mut(bias.len()).enumerate() {
        if keep(i) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = (*v + b).max(0.0);
            }
        }
    }
}

impl Weights {
    fn from_onnx(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut t = onnx_weights::float_initializers(bytes)?;
        let mut take = |name: &str, dims: &[usize]| {
            let x = t.remove(name).ok_or_else(|| format!("no tensor {name}"))?;
            if x.dims != dims {
                return Err(format!("{name} has shape {:?}, not {dims:?}", x.dims));
            }
            Ok::<_, String>(x.data)
        };
        let basis = take("stft.forward_basis_buffer", &[2 * BINS, 1, N_FFT])?;
        let mut conv = Vec::new();
        for (i, (cout, cin)) in [(128, BINS), (64, 128), (64, 64), (128, 64)]
            .into_iter()
            .enumerate()
        {
            conv.push((
                take(&format!("encoder.{i}.weight"), &[cout, cin, 3])?,
                take(&format!("encoder.{i}.bias"), &[cout])?,
            ));
        }
        let out_w = take("output.weight", &[1, HIDDEN, 1])?;
        let out_b = take("output.bias", &[1])?[0];
        let lstm = onnx_weights::nodes(bytes)?
            .into_iter()
            .find(|n| n.op_type == "LSTM")
            .ok_or("no LSTM node")?;
        let input = |i: usize| lstm.inputs.get(i).cloned().ok_or("LSTM inputs");
        let lstm_w = take(&input(1)?, &[1, 4 * HIDDEN, HIDDEN])?;
        let r = take(&input(2)?, &[1, 4 * HIDDEN, HIDDEN])?;
        let b = take(&input(3)?, &[1, 8 * HIDDEN])?;
        // The basis must be a Hann window times the DFT's cosines and sines, which the FFT
        // computes: its first row is the window.
        let window = basis[..N_FFT].to_vec();
        for k in [1, 7, 64, 128] {
            for n in 0..N_FFT {
                let a = 2.0 * std::f64::consts::PI * (k * n) as f64 / N_FFT as f64;
                let cos = window[n] as f64 * a.cos();
                let sin = window[n] as f64 * a.sin();
                let (bc, bs) = (
                    basis[k * N_FFT + n] as f64,
                    basis[(BINS + k) * N_FFT + n] as f64,
                );
                if (bc - cos).abs() > 1e-5 || (bs.abs() - sin.abs()).abs() > 1e-5 {
                    return Err(format!(
                        "the STFT basis is not a windowed DFT (frequency {k})"
                    ));
                }
            }
        }
        let mut lstm_r_t = vec![0.0; r.len()];
        for j in 0..4 * HIDDEN {
            for k in 0..HIDDEN {
                lstm_r_t[k * 4 * HIDDEN + j] = r[j * HIDDEN + k];
            }
        }
        let lstm_b = (0..4 * HIDDEN).map(|j| b[j] + b[4 * HIDDEN + j]).collect();
        Ok(Weights {
            window,
            conv: conv.try_into().map_err(|_| "four convolutions")?,
            lstm_w,
            lstm_r_t,
            lstm_b,
            out_w,
            out_b,
        })
    }
}

/// Speech probability of each 512-sample (32 ms) frame of 16 kHz audio that arrives in pieces
/// (a streamed decode), in memory that does not grow with the audio (4 bytes per frame).
pub struct VadStream {
    h: Vec<f32>,
    c: Vec<f32>,
    /// Frames waiting for the next model call, each CONTEXT + WINDOW samples.
    frames: Vec<f32>,
    /// Samples of the frame being filled (its context is the end of the previous frame).
    filled: usize,
    probs: Vec<f32>,
}

impl Default for VadStream {
    fn default() -> Self {
        Self::new()
    }
}

impl VadStream {
    pub fn new() -> Self {
        let mut frames = Vec::with_capacity(FRAMES_PER_CALL * (CONTEXT + WINDOW));
        frames.resize(CONTEXT, 0.0); // the first frame's context is silence
        VadStream {
            h: vec![0.0; 128],
            c: vec![0.0; 128],
            frames,
            filled: 0,
            probs: Vec::new(),
        }
    }

    pub fn push(&mut self, vad: &mut SileroVad, mut audio: &[f32]) -> Result<()> {
        while !audio.is_empty() {
            let take = (WINDOW - self.filled).min(audio.len());
            self.frames.extend_from_slice(&audio[..take]);
            self.filled += take;
            audio = &audio[take..];
            if self.filled == WINDOW {
                self.filled = 0;
                // The next frame starts with the last CONTEXT samples of this one.
                let mut context = [0.0f32; CONTEXT];
                context.copy_from_slice(&self.frames[self.frames.len() - CONTEXT..]);
                if self.frames.len() == FRAMES_PER_CALL * (CONTEXT + WINDOW) {
                    self.run(vad)?;
                }
                self.frames.extend_from_slice(&context);
            }
        }
        Ok(())
    }

    /// Runs the model on the frames held (all complete) and lets them go.
    fn run(&mut self, vad: &mut SileroVad) -> Result<()> {
        debug_assert_eq!(self.frames.len() % (CONTEXT + WINDOW), 0);
        if !self.frames.is_empty() {
            vad.run(&self.frames, &mut self.h, &mut self.c, &mut self.probs)?;
            self.frames.clear();
        }
        Ok(())
    }

    /// Runs the last, zero-padded partial frame and returns every frame's probability.
    pub fn finish(mut self, vad: &mut SileroVad) -> Result<Vec<f32>> {
        if self.filled > 0 {
            self.frames
                .resize(self.frames.len() + WINDOW - self.filled, 0.0);
        } else {
            self.frames.truncate(self.frames.len() - CONTEXT); // no frame was begun
        }
        self.run(vad)?;
        Ok(self.probs)
    }
}

fn vad_err(e: impl Into<crate::BoxError>) -> Error {
    Error::inference("silero vad", e)
}

/// Silero's `get_speech_timestamps` on per-frame probabilities: a line-by-line port of
/// silero-vad's `utils_vad.py`, kept in one piece so that it reads side by side with the
/// original.
pub fn speech_spans(probs: &[f32], audio_len: usize, c: &VadConfig) -> Vec<SpeechSpan> {
    let ms = |v: f32| (SR as f32 * v / 1000.0) as usize;
    let min_speech = ms(c.min_speech_duration_ms as f32);
    let pad = ms(c.speech_pad_ms as f32);
    let max_speech =
        ((SR as f32 * c.max_speech_duration_s) as usize).saturating_sub(WINDOW + 2 * pad);
    let min_silence = ms(c.min_silence_duration_ms as f32);
    let min_silence_at_max = ms(98.0);
    let neg_threshold = (c.threshold - 0.15).max(0.01);

    let mut spans: Vec<SpeechSpan> = Vec::new();
    let mut triggered = false;
    let mut start = 0usize;
    let (mut temp_end, mut prev_end, mut next_start) = (0usize, 0usize, 0usize);
    for (i, &p) in probs.iter().enumerate() {
        let pos = WINDOW * i;
        if p >= c.threshold && temp_end != 0 {
            temp_end = 0;
            if next_start < prev_end {
                next_start = pos;
            }
        }
        if p >= c.threshold && !triggered {
            triggered = true;
            start = pos;
            continue;
        }
        if triggered && pos - start > max_speech {
            if prev_end != 0 {
                spans.push(SpeechSpan {
                    start,
                    end: prev_end,
                });
                if next_start < prev_end {
                    triggered = false;
                } else {
                    start = next_start;
                }
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
            } else {
                spans.push(SpeechSpan { start, end: pos });
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
                triggered = false;
                continue;
            }
        }
        if p < neg_threshold && triggered {
            if temp_end == 0 {
                temp_end = pos;
            }
            if pos - temp_end > min_silence_at_max {
                prev_end = temp_end;
            }
            if pos - temp_end < min_silence {
                continue;
            }
            if temp_end - start > min_speech {
                spans.push(SpeechSpan {
                    start,
                    end: temp_end,
                });
            }
            prev_end = 0;
            next_start = 0;
            temp_end = 0;
            triggered = false;
        }
    }
    if triggered && audio_len.saturating_sub(start) > min_speech {
        spans.push(SpeechSpan {
            start,
            end: audio_len,
        });
    }
    // Padding: split short silences between neighbours, pad the rest.
    let n = spans.len();
    for i in 0..n {
        if i == 0 {
            spans[0].start = spans[0].start.saturating_sub(pad);
        }
        if i + 1 < n {
            let silence = spans[i + 1].start.saturating_sub(spans[i].end);
            if silence < 2 * pad {
                spans[i].end += silence / 2;
                spans[i + 1].start = spans[i + 1].start.saturating_sub(silence / 2);
            } else {
                spans[i].end = (spans[i].end + pad).min(audio_len);
                spans[i + 1].start = spans[i + 1].start.saturating_sub(pad);
            }
        } else {
            spans[i].end = (spans[i].end + pad).min(audio_len);
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrence_is_the_same_with_and_without_fma() {
        let r_t: Vec<f32> = (0..HIDDEN * 4 * HIDDEN)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0)
            .collect();
        let h: Vec<f32> = (0..HIDDEN)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 14.0)
            .collect();
        let (mut a, mut b) = (vec![0.25f32; 4 * HIDDEN], vec![0.25f32; 4 * HIDDEN]);
        recur(&mut a, &h, &r_t);
        recur_plain(&mut b, &h, &r_t);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{worst}");
        assert!(
            b.iter().any(|&v| (v - 0.25).abs() > 0.1),
            "the weights moved nothing"
        );
    }

    #[test]
    fn tanh_matches_the_library() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "{x}");
        }
        assert_eq!(tanh(1e30), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
    }

    fn frames(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn spans_follow_silero_rules() {
        let c = VadConfig {
            speech_pad_ms: 0,
            ..Default::default()
        };
        // 1 s silence, 2 s speech, 0.3 s pause (kept inside), 1 s speech, 2 s silence.
        let per_s = SR / WINDOW; // 31 frames
        let probs = frames(&[
            (0.0, per_s),
            (0.9, 2 * per_s),
            (0.1, 10),
            (0.9, per_s),
            (0.0, 2 * per_s),
        ]);
        let spans = speech_spans(&probs, probs.len() * WINDOW, &c);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(spans[0].start, per_s * WINDOW);
        // A blip shorter than min_speech is dropped.
        let probs = frames(&[(0.0, 40), (0.9, 3), (0.0, 80)]);
        assert!(speech_spans(&probs, probs.len() * WINDOW, &c).is_empty());
    }

    #[test]
    fn long_speech_is_split_under_the_limit() {
        let c = VadConfig::default();
        let probs = frames(&[(0.9, 2000)]); // 64 s of continuous speech
        let spans = speech_spans(&probs, probs.len() * WINDOW, &c);
        assert!(spans.len() >= 3, "{spans:?}");
        for s in &spans {
            assert!(s.end - s.start <= 30 * SR, "{s:?}");
        }
    }
}
