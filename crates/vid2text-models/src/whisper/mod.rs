//! Whisper, in four rooms:
//!
//! - [`config`]: how it searches ([`SearchConfig`]) and where the engine runs ([`EngineConfig`]);
//!   pure data.
//! - [`transcription`]: one input's windows and the long-form loop over them (seek, timestamps,
//!   fallback, drops); pure, tested without a model.
//! - [`model`] (feature `whisper`): the CTranslate2 engine, log-mel features, language detection.
//! - [`scheduler`] (feature `whisper`): the inputs in flight by key, batched across inputs.
//!
//! Speech is first cut into windows by voice activity detection ([`crate::windows`]): the speech
//! spans of an input are packed, the pauses between them cut out, into windows of at most 30 s;
//! segment times are mapped back onto the original timeline.

pub mod config;
#[cfg(feature = "whisper")]
pub mod model;
#[cfg(feature = "whisper")]
pub mod scheduler;
pub mod transcription;

pub use config::{check_compute_type, EngineConfig, EngineDevice, SearchConfig, COMPUTE_TYPES};
#[cfg(feature = "whisper")]
pub use model::{ModelTimes, WhisperModel};
#[cfg(feature = "whisper")]
pub use scheduler::{AsrScheduler, Batch, BatchDone};
pub use transcription::{Segment, Transcript, Transcription};
