//! vid2text-models: the models of the pipeline, each behind a Cargo feature so that code without
//! them builds fast.
//!
//! - [`mel`]: Whisper's log-mel spectrogram (pure Rust).
//! - [`vad`] (feature `vad`): Silero VAD, computed in Rust from its ONNX file's weights
//!   ([`onnx_weights`] reads them).
//! - [`windows`]: the speech window planner (pure).
//! - [`whisper`]: Whisper's long-form loop (pure) and, with feature `whisper`, its engine
//!   through CTranslate2 (`ct2rs`) and the scheduler that batches across inputs; [`engine`]
//!   says which CTranslate2 is linked and what it computes with.
//! - [`ocr`] (feature `ocr`): PP-OCRv4 text detection and recognition through ONNX Runtime;
//!   [`ocr_image`] holds its image work (pure Rust).
//! - [`registry`]: where models live and how names resolve to directories.

#[cfg(feature = "whisper")]
pub mod engine;
pub mod mel;
#[cfg(feature = "ocr")]
pub mod ocr;
pub mod ocr_image;
pub mod onnx_weights;
pub mod registry;
pub mod tokenizer;
#[cfg(feature = "vad")]
pub mod vad;
pub mod whisper;
pub mod windows;

/// A boxed error, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model or library could not be loaded.
    #[error("cannot load {}", path.display())]
    Load {
        path: std::path::PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("{0}")]
    Config(String),
    /// A model failed on its input.
    #[error("{model} failed")]
    Inference {
        model: &'static str,
        #[source]
        source: BoxError,
    },
}

impl Error {
    pub fn load(path: &std::path::Path, source: impl Into<BoxError>) -> Self {
        Error::Load {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    pub fn inference(model: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Inference {
            model,
            source: source.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use vid2text_core::error::report;

/// A span of speech in samples of the 16 kHz audio, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechSpan {
    pub start: usize,
    pub end: usize,
}

/// ONNX Runtime's environment, which the OCR sessions are made in.
#[cfg(feature = "ocr")]
pub use ort::environment::Environment as OnnxEnvironment;

/// The ONNX Runtime environment, from the `libonnxruntime.so` the set-up script installed
/// (loaded at run time: no CDN download at build time). Once per process.
#[cfg(feature = "ocr")]
pub fn onnx_environment(lib: &std::path::Path) -> Result<ort::environment::Environment> {
    ort::init_from(lib)
        .map_err(|e| Error::load(lib, e))?
        .with_name("vid2text")
        .build()
        .map_err(|e| Error::load(lib, e))
}
