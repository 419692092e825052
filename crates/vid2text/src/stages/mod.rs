//! The stages of `vid2text run`, one room each. A stage is a config (a part of the validated
//! [`crate::settings::Settings`]), a `build` that loads what it needs once (a model per worker),
//! and a `run` loop over its input channel. Stages pass plain, owned data, one message type per
//! channel:
//!
//! ```text
//! feeder ─DecodeJob─► decode ─Audio─► asr ─AsrDone──────┐
//!                        └──VisualJob─► visual ─VisualDone─┴─► writer (join, assemble, commit)
//! ```
//!
//! - [`decode`]: checks, download, ffprobe, the content hash, FFmpeg → Silero VAD → speech windows.
//! - [`visual`]: embedded subtitle streams; keyframes → PP-OCR → screen-text spans.
//! - [`asr`]: Whisper, windows of many inputs batched per call on the model replicas.
//! - [`writer`]: joins each input's two halves, assembles its document, commits parts.
//!
//! [`crate::pipeline`] wires them together; nothing here reaches into another stage.

pub mod asr;
pub mod clock;
pub mod decode;
pub mod visual;
pub mod writer;

use std::sync::Arc;

use vid2text_core::captions::CaptionBand;
use vid2text_core::doc::{Caption, Failure, ScreenText, SubtitleCue};
use vid2text_core::input::Input;
use vid2text_media::MediaInfo;
use vid2text_models::whisper::Transcript;

/// The key of one input within a run: given in discovery order by the feeder, the same in
/// every stage (the ASR scheduler's jobs, the visual results and the writer's join).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InputKey(pub u64);

/// An input for the decode stage.
pub struct DecodeJob {
    pub key: InputKey,
    pub input: Input,
}

/// What the decode stage learned of an input that probed: what its document needs besides the
/// transcript and what the visual stage found.
#[derive(Debug, Clone)]
pub struct Header {
    pub input: Input,
    /// The document id: the manifest's, else the sha256 of the input's bytes.
    pub id: String,
    pub info: MediaInfo,
    /// `--max-duration`, when the input is longer.
    pub truncated_s: Option<f64>,
}

/// decode → asr. Messages of one input come in order: `Begin`, its windows, `End` (or `Failed`,
/// at any point). Windows stream, so a long input never sits in memory whole.
pub enum Audio {
    /// The input probed; its windows follow. `visual`: a visual result comes for it too.
    Begin {
        key: InputKey,
        header: Box<Header>,
        visual: bool,
    },
    Window {
        key: InputKey,
        /// The ranges of the original audio (samples) that `audio` is made of.
        ranges: Vec<(usize, usize)>,
        audio: Vec<f32>,
        /// Starts of the speech spans inside the window, seconds from its start.
        speech_starts: Vec<f64>,
    },
    End(InputKey),
    /// The input failed in the decode stage (before `Begin`, or after it: then no `End`).
    Failed {
        key: InputKey,
        failure: Failure,
        visual: bool,
    },
}

/// decode → visual: an input with a video stream or subtitle streams.
pub struct VisualJob {
    pub key: InputKey,
    pub uri: String,
    /// Local path FFmpeg reads.
    pub target: String,
    pub info: MediaInfo,
    /// A downloaded input stays until both stages are done with it: held for its `Drop`.
    #[allow(dead_code)]
    pub download: Option<Arc<RemoveOnDrop>>,
}

/// asr → writer: an input's transcript with its header, or why it failed.
pub struct AsrDone {
    pub key: InputKey,
    /// A [`VisualDone`] comes for the same key: the writer waits for it.
    pub visual: bool,
    /// Seconds of media the input holds (0 when it failed before probing).
    pub media_s: f64,
    pub result: Result<(Box<Header>, Transcript), Failure>,
}

/// visual → writer.
pub struct VisualDone {
    pub key: InputKey,
    pub result: Result<Visual, Failure>,
    /// Seconds the worker spent on the input.
    pub busy_s: f64,
}

/// What the visual stage found in one input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visual {
    /// Screen text other than captions and watermarks.
    pub screen_text: Vec<ScreenText>,
    /// Lines of the caption band.
    pub captions: Vec<Caption>,
    /// Texts that never change in a corner.
    pub watermarks: Vec<ScreenText>,
    pub caption_band: Option<CaptionBand>,
    /// Band crops sampled, and read by OCR.
    pub caption_frames: u64,
    pub caption_reads: u64,
    /// Cues of the embedded text subtitle streams, in time order.
    pub subtitles: Vec<SubtitleCue>,
    pub keyframes: u64,
    pub ocr_frames: u64,
    /// Picture subtitle streams (PGS, DVD, DVB), by codec: not read.
    pub skipped_subtitle_streams: Vec<String>,
}

/// Removes a temporary file (a download) when dropped.
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
