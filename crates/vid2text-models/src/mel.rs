//! Whisper's log-mel spectrogram, computed as `whisper.audio.log_mel_spectrogram` does:
//! 400-point STFT (periodic Hann window, hop 160, centred with reflect padding), power spectrum,
//! Slaney-style mel filterbank (as `librosa.filters.mel`), log10, clamp to (max - 8), then
//! `(x + 4) / 4`. The last STFT frame is dropped, so 30 s of audio gives exactly 3000 frames.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
use vid2text_core::SAMPLE_RATE;
/// Samples in one 30 s Whisper window.
pub const N_SAMPLES: usize = 30 * SAMPLE_RATE;
/// Mel frames in one 30 s Whisper window.
pub const N_FRAMES: usize = N_SAMPLES / HOP;

/// A reusable log-mel extractor (filterbank and FFT plan built once).
pub struct MelExtractor {
    n_mels: usize,
    /// `[n_mels][N_FFT / 2 + 1]`
    filters: Vec<Vec<f32>>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl MelExtractor {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        MelExtractor {
            n_mels,
            filters: mel_filters(SAMPLE_RATE as f64, N_FFT, n_mels),
            window,
            fft,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Log-mel features of `audio` zero-padded (or cut) to 30 s: `[n_mels * N_FRAMES]`, row-major
    /// `[n_mels][N_FRAMES]`, ready for a `[batch, n_mels, 3000]` model input.
    pub fn window_features(&self, audio: &[f32]) -> Vec<f32> {
        let mut padded = vec![0.0f32; N_SAMPLES];
        let n = audio.len().min(N_SAMPLES);
        padded[..n].copy_from_slice(&audio[..n]);
        let (mel, frames) = self.log_mel(&padded);
        debug_assert_eq!(frames, N_FRAMES);
        mel
    }

    /// Log-mel of arbitrary audio: (`[n_mels][frames]` row-major, frames), frames = len / 160.
    pub fn log_mel(&self, audio: &[f32]) -> (Vec<f32>, usize) {
        let pad = N_FFT / 2;
        // Reflect padding as torch.stft(center=True, pad_mode="reflect").
        let len = audio.len();
        let mut x = Vec::with_capacity(len + 2 * pad);
        for i in (1..=pad).rev() {
            x.push(reflect(audio, i as isize));
        }
        x.extend_from_slice(audio);
        for i in 0..pad {
            x.push(reflect(audio, len as isize - 2 - i as isize));
        }
        let n_bins = N_FFT / 2 + 1;
        let frames = 1 + (x.len() - N_FFT) / HOP;
        let frames = frames.saturating_sub(1); // Whisper drops the last frame.
        let mut power = vec![0.0f32; frames * n_bins];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for f in 0..frames {
            let start = f * HOP;
            for (k, v) in input.iter_mut().enumerate() {
                *v = x[start + k] * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("fft sizes match");
            let row = &mut power[f * n_bins..(f + 1) * n_bins];
            for (p, c) in row.iter_mut().zip(spectrum.iter()) {
                *p = c.re * c.re + c.im * c.im;
            }
        }
        let mut mel = vec![0.0f32; self.n_mels * frames];
        let mut max = f32::NEG_INFINITY;
        for (m, filt) in self.filters.iter().enumerate() {
            // Only the non-zero span of each triangular filter contributes.
            let lo = filt.iter().position(|&w| w != 0.0).unwrap_or(0);
            let hi = filt.iter().rposition(|&w| w != 0.0).map_or(0, |i| i + 1);
            let out = &mut mel[m * frames..(m + 1) * frames];
            for (f, o) in out.iter_mut().enumerate() {
                let row = &power[f * n_bins..(f + 1) * n_bins];
                let mut acc = 0.0f32;
                for k in lo..hi {
                    acc += filt[k] * row[k];
                }
                let v = acc.max(1e-10).log10();
                max = max.max(v);
                *o = v;
            }
        }
        let floor = max - 8.0;
        for v in &mut mel {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        (mel, frames)
    }
}

fn reflect(a: &[f32], i: isize) -> f32 {
    if a.is_empty() {
        return 0.0;
    }
    let n = a.len() as isize;
    if n == 1 {
        return a[0];
    }
    let period = 2 * (n - 1);
    let mut i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    a[i as usize]
}

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// `librosa.filters.mel(sr, n_fft, n_mels)` with its defaults (Slaney mel scale and norm).
pub fn mel_filters(sr: f64, n_fft: usize, n_mels: usize) -> Vec<Vec<f32>> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|i| {
            let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
            fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
                    let upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
                    (lower.min(upper).max(0.0) * enorm) as f32
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filterbank_matches_librosa() {
        // Values of whisper's assets/mel_filters.npz (mel_80), spot-checked.
        let f = mel_filters(16000.0, 400, 80);
        assert_eq!(f.len(), 80);
        assert_eq!(f[0].len(), 201);
        assert!((f[0][1] - 0.024_86).abs() < 2e-5, "{}", f[0][1]);
        // Each filter is a single triangle: non-negative, one peak.
        for row in &f {
            assert!(row.iter().all(|&w| w >= 0.0));
        }
    }

    #[test]
    fn thirty_seconds_is_3000_frames() {
        let m = MelExtractor::new(80);
        let audio: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let feats = m.window_features(&audio);
        assert_eq!(feats.len(), 80 * N_FRAMES);
        // Silence after the tone sits at the floor (max - 8, scaled).
        let max = feats.iter().cloned().fold(f32::MIN, f32::max);
        let last = feats[N_FRAMES - 1];
        assert!((last - (max - 2.0)).abs() < 1e-4, "max {max} last {last}");
    }
}
