//! vid2text-core: the plain data that flows between vid2text's stages and the parts of the
//! pipeline that need no native model libraries: input discovery and manifests, the document
//! format, text utilities (WER, compression ratio), screen-text spans, rendering of the training
//! text, subtitle writers and the output-directory
//! commit protocol.

pub mod captions;
pub mod dedup;
pub mod doc;
pub mod error;
pub mod filters;
pub mod fusion;
pub mod input;
pub mod outdir;
#[cfg(feature = "parquet")]
pub mod parquet_parts;
pub mod render;
pub mod screen;
pub mod shards;
pub mod sidecar;
pub mod stats;
pub mod text;

pub use doc::{
    Caption, Document, Dropped, Failure, PipelineInfo, ScreenText, SpeechSegment, Stage, Stats,
    SubtitleCue,
};
pub use error::{Error, Result};

/// Sample rate of the audio every stage works on (FFmpeg decodes to it; Silero VAD and Whisper
/// take it): 16 kHz mono.
pub const SAMPLE_RATE: usize = 16_000;

/// vid2text's version, written into every document's `pipeline.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `x` rounded to `digits` decimals (document numbers stay short and stable).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
