//! vid2text-models: the models of the pipeline, each behind a Cargo feature so that code without
//! them builds fast.
//!
//! - [`mel`]: Whisper's log-mel spectrogram (pure Rust).
//! - [`vad`] (feature `vad`): Silero VAD through ONNX Runtime (`ort`, loaded at run time).
//! - [`whisper`] (feature `whisper`): Whisper through CTranslate2 (`ct2rs`), our long-form loop;
//!   [`engine`] says which CTranslate2 is linked and what it computes with.
//! - [`ocr`] (feature `ocr`): PP-OCRv4 text detection and recognition through ONNX Runtime;
//!   [`ocr_image`] holds its image work (pure Rust).
//! - [`registry`]: where models live and how names resolve to directories.

#[cfg(feature = "whisper")]
pub mod engine;
pub mod mel;
#[cfg(feature = "ocr")]
pub mod ocr;
pub mod ocr_image;
pub mod registry;
pub mod tokenizer;
#[cfg(feature = "vad")]
pub mod vad;
#[cfg(feature = "whisper")]
pub mod whisper;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load model: {0}")]
    Load(String),
    #[error("{0}")]
    Config(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A span of speech in samples of the 16 kHz audio, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechSpan {
    pub start: usize,
    pub end: usize,
}

/// The ONNX Runtime environment, from the `libonnxruntime.so` the set-up script installed
/// (loaded at run time: no CDN download at build time). Once per process.
#[cfg(any(feature = "vad", feature = "ocr"))]
pub fn onnx_environment(lib: &std::path::Path) -> Result<ort::environment::Environment> {
    ort::init_from(lib)
        .map_err(|e| Error::Load(format!("{}: {e}", lib.display())))?
        .with_name("vid2text")
        .build()
        .map_err(|e| Error::Load(format!("{}: {e}", lib.display())))
}
