//! Whisper's settings: how it searches for a transcript ([`SearchConfig`]) and where and how
//! its engine runs ([`EngineConfig`]). Pure data, validated before any model is loaded.

use crate::{Error, Result};

/// How Whisper searches for each window's transcript: beam search, temperature fallback and the
/// thresholds that judge its output (faster-whisper's names and defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    pub beam_size: usize,
    pub best_of: usize,
    pub patience: f32,
    pub length_penalty: f32,
    pub repetition_penalty: f32,
    pub no_repeat_ngram_size: usize,
    /// Tried in order until the output passes the thresholds.
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: f64,
    pub log_prob_threshold: f64,
    pub no_speech_threshold: f64,
    /// Prompt each window with the text before it (faster-whisper's default). Off by default:
    /// VAD windows break at pauses, so little context is lost, windows become independent (a
    /// video's windows are decoded in parallel batches) and a hallucination cannot feed itself.
    pub condition_on_previous_text: bool,
    pub prompt_reset_on_temperature: f32,
    /// Language code (`en`, `zh`, ...) or None to detect it (multilingual models only).
    pub language: Option<String>,
    /// Speech windows of a video sampled for language detection (spread over the video).
    pub language_detection_windows: usize,
    pub max_initial_timestamp: f64,
    /// Pauses between speech spans up to this long stay inside a window as audio; longer ones
    /// are cut out (times map back across them; see [`crate::windows::plan_windows`]).
    pub max_kept_pause_s: f64,
    /// A window's output is dropped as a hallucination when its no-speech probability is above
    /// this and its average log-probability below `hallucination_logprob_threshold` (catches
    /// "Mm-hmm." on animal sounds and music that VAD let through).
    pub hallucination_no_speech_threshold: f64,
    pub hallucination_logprob_threshold: f64,
    /// Output still this repetitive after every fallback temperature is dropped (a decoding
    /// loop). Above Whisper's 2.4, which a sentence said twice already reaches.
    pub repetition_drop_threshold: f64,
    /// Short windows of several inputs share one generate call (see the scheduler). Off with
    /// conditioning on previous text. Written to the run's config only when off, so the
    /// configuration of earlier outputs stays the same.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub pack_inputs: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            beam_size: 5,
            best_of: 5,
            patience: 1.0,
            length_penalty: 1.0,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: 2.4,
            log_prob_threshold: -1.0,
            no_speech_threshold: 0.6,
            condition_on_previous_text: false,
            prompt_reset_on_temperature: 0.5,
            language: None,
            language_detection_windows: 3,
            max_initial_timestamp: 1.0,
            max_kept_pause_s: 0.0,
            hallucination_no_speech_threshold: 0.5,
            hallucination_logprob_threshold: -0.5,
            repetition_drop_threshold: 3.0,
            pack_inputs: true,
        }
    }
}

/// How and where the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub device: EngineDevice,
    /// CTranslate2 compute type: one of [`COMPUTE_TYPES`].
    pub compute_type: String,
    /// Intra-op threads per replica (0: CTranslate2's default).
    pub threads: usize,
    /// Model replicas: each runs its own batches, on `threads` threads, in parallel with the
    /// others.
    pub replicas: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineDevice {
    Cpu,
    Cuda,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            device: EngineDevice::Cpu,
            compute_type: "int8".into(),
            threads: 0,
            replicas: 1,
        }
    }
}

/// CTranslate2's compute types, by the names it takes.
pub const COMPUTE_TYPES: [&str; 10] = [
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
];

/// Checks a compute type name (before anything is loaded or written).
pub fn check_compute_type(name: &str) -> Result<()> {
    if COMPUTE_TYPES.contains(&name) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "unknown compute type `{name}` (one of {})",
            COMPUTE_TYPES.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_types_are_checked() {
        for t in COMPUTE_TYPES {
            check_compute_type(t).unwrap();
        }
        let e = check_compute_type("int4").unwrap_err().to_string();
        assert!(
            e.contains("unknown compute type `int4`") && e.contains("float16"),
            "{e}"
        );
    }
}
