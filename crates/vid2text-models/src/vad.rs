//! Silero VAD (v5/v6 ONNX) through ONNX Runtime, and Silero's `get_speech_timestamps` rules.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

pub use crate::onnx_environment;
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

/// Frames per model call: 1024 frames are 32.8 s of audio, so a call's fixed cost is spread
/// over many frames while its input stays small (2.4 MB).
const FRAMES_PER_CALL: usize = 1024;

/// A loaded Silero VAD session: the sequence export that silero-vad ships as
/// `silero_vad_16k_sequence.onnx` (and faster-whisper as `silero_vad_v6.onnx`). It takes many
/// frames at once (`input: [frames, 64 + 512]`) and runs its LSTM over them in order, carrying
/// `h` and `c` from call to call, so its probabilities are those of the frame-by-frame model
/// while one call replaces a thousand. Not thread-safe to run concurrently: one per worker.
pub struct SileroVad {
    session: Session,
}

impl SileroVad {
    pub fn load(model: &Path, env: &ort::environment::Environment) -> Result<Self> {
        let session = Session::builder(env)
            .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(model))
            .map_err(|e| Error::load(model, e))?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if !(names.contains(&"input") && names.contains(&"h") && names.contains(&"c")) {
            return Err(Error::load(
                model,
                format!(
                    "not Silero VAD's sequence export (inputs input, h, c; found {})",
                    names.join(", ")
                ),
            ));
        }
        Ok(SileroVad { session })
    }

    /// One model call over `frames` (each CONTEXT + WINDOW samples, back to back); `h` and `c`
    /// carry the LSTM state in and out. Appends one probability per frame to `probs`.
    fn run(
        &mut self,
        frames: &[f32],
        h: &mut Vec<f32>,
        c: &mut Vec<f32>,
        probs: &mut Vec<f32>,
    ) -> Result<()> {
        let n = frames.len() / (CONTEXT + WINDOW);
        let x = Tensor::from_array(([n, CONTEXT + WINDOW], frames.to_vec())).map_err(vad_err)?;
        let hs = Tensor::from_array(([1usize, 1, 128], std::mem::take(h))).map_err(vad_err)?;
        let cs = Tensor::from_array(([1usize, 1, 128], std::mem::take(c))).map_err(vad_err)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => x, "h" => hs, "c" => cs])
            .map_err(vad_err)?;
        let (_, p) = outputs[0].try_extract_tensor::<f32>().map_err(vad_err)?;
        if p.len() != n {
            return Err(vad_err(format!("{} probabilities for {n} frames", p.len())));
        }
        probs.extend_from_slice(p);
        *h = outputs[1]
            .try_extract_tensor::<f32>()
            .map_err(vad_err)?
            .1
            .to_vec();
        *c = outputs[2]
            .try_extract_tensor::<f32>()
            .map_err(vad_err)?
            .1
            .to_vec();
        Ok(())
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
