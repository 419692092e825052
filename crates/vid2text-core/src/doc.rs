//! The document: one JSON line per input video. Field names are a contract (see DESIGN.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One document per input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Document {
    /// Stable id: sha256 of the input bytes (hex), or the manifest's `id`.
    pub id: String,
    /// The input's uri as given (path, manifest entry or URL).
    pub source: String,
    /// Media duration in seconds (longest stream, as ffprobe reports it).
    pub duration_s: f64,
    /// Spoken language (ISO 639-1, as Whisper names it); null when nothing was said.
    pub language: Option<String>,
    /// The training text, rendered from the spans below.
    pub text: String,
    /// What was said: one entry per Whisper segment, times in seconds from the start of the media.
    pub speech: Vec<SpeechSegment>,
    /// What was written on screen (OCR of keyframes), other than captions and watermarks.
    #[serde(default)]
    pub screen_text: Vec<ScreenText>,
    /// Captions burnt into the picture: the lines of the caption band, each from when it
    /// appeared to when it left.
    #[serde(default)]
    pub captions: Vec<Caption>,
    /// Text that never changes in a corner of the picture (channel names, platform handles,
    /// station bugs): kept out of `text`.
    #[serde(default)]
    pub watermarks: Vec<ScreenText>,
    /// The cues of the input's embedded text subtitle streams, in time order.
    #[serde(default)]
    pub subtitles: Vec<SubtitleCue>,
    pub stats: Stats,
    pub pipeline: PipelineInfo,
    /// Columns of the manifest line this input came from, other than `uri` and `id`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SpeechSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub compression_ratio: f64,
    /// Sampling temperature that produced the segment (0 unless Whisper's fallback was needed).
    #[serde(default)]
    pub temperature: f64,
    /// Share of the segment's characters that captions (or subtitle cues) on screen at the
    /// same time confirm; absent when the input has neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_agreement: Option<f64>,
}

#[cfg(test)]
impl SpeechSegment {
    /// A segment with neutral scores, for tests.
    pub(crate) fn plain(start: f64, end: f64, text: &str) -> Self {
        SpeechSegment {
            start,
            end,
            text: text.into(),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            compression_ratio: 1.0,
            temperature: 0.0,
            caption_agreement: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScreenText {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub confidence: f64,
}

/// One caption line burnt into the picture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Caption {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub confidence: f64,
    /// The line's language (ISO 639-1), by its script or `lingua`; absent when unsure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One cue of an embedded subtitle stream (markup removed; lines joined by `\n`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubtitleCue {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// Index of the stream in the container.
    pub stream: u32,
    /// The stream's language tag, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Seconds of audio that voice activity detection kept as speech.
    pub speech_s: f64,
    /// Words in `text` (whitespace separated; CJK characters count one each).
    pub words: u64,
    /// What the filters dropped, by reason (e.g. `no_speech`, `hallucination`).
    pub dropped: BTreeMap<String, u64>,
    /// Speech windows (<= 30 s each) sent to Whisper.
    #[serde(default)]
    pub asr_windows: u64,
    /// Whisper generate passes over those windows: one per window, plus one for each seek past
    /// a segment cut at the window's end, plus each temperature fallback.
    #[serde(default)]
    pub asr_passes: u64,
    /// Of `asr_windows`, those decoded in one window with other inputs' short windows (packing);
    /// the passes of such a window count for each of its inputs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub asr_packed_windows: u64,
    /// Probability of the detected language, when it was detected rather than given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_probability: Option<f64>,
    /// Audio channels and sample rate of the source, before downmixing to 16 kHz mono.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioInfo>,
    /// Whether the input had a video stream.
    #[serde(default)]
    pub has_video: bool,
    /// Keyframes sampled from the video (scene changes and the fixed interval).
    #[serde(default)]
    pub keyframes: u64,
    /// Keyframes that went through OCR; the others were near-identical to the last one read.
    #[serde(default)]
    pub ocr_frames: u64,
    /// Subtitle streams that are pictures (PGS, DVD, DVB), by codec: not turned into text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_subtitle_streams: Vec<String>,
    /// The caption band found (fractions of the frame height, top and bottom), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_band: Option<[f64; 2]>,
    /// Crops of the caption band sampled, and those read by OCR (the others looked the same).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub caption_frames: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub caption_reads: u64,
    /// Share of the speech's characters that captions (or subtitle cues) confirm; absent when
    /// the input has neither. A corpus can keep only confirmed text by cutting on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_agreement: Option<f64>,
    /// Quality signals for a corpus builder to cut on at their own threshold: the speech's mean
    /// log-probability per token (Whisper's `avg_logprob` of each segment weighted by its
    /// duration; near 0 is confident, below -1 doubtful), the share of the media that is speech,
    /// and the speaking rate in words (CJK characters count one each) per minute of speech.
    /// Absent when nothing was said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_mean_logprob: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words_per_minute: Option<f64>,
    /// The language of each source that has text (`speech`, `captions`, `screen`,
    /// `subtitles`), ISO 639-1 where there is one: English speech with Chinese captions says
    /// so. Absent when no source has text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_languages: BTreeMap<String, String>,
    /// Personal data replaced by placeholders in the document's texts, by kind (`email`,
    /// `phone`, `ip`, `id_card`); absent when none was (or with `--keep-pii`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pii: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PipelineInfo {
    pub version: String,
    pub asr_model: Option<String>,
    pub ocr_model: Option<String>,
    pub vad_model: Option<String>,
    pub config_hash: String,
}

/// The stage of the walk where an input failed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Finding the input: missing path, unreadable directory, symlink loop.
    Input,
    /// Reading a manifest line.
    Manifest,
    /// Downloading an http(s) input.
    Download,
    /// ffprobe.
    Probe,
    /// ffmpeg decoding to PCM.
    Decode,
    /// Voice activity detection.
    Vad,
    /// Whisper.
    Asr,
    /// Keyframe sampling and OCR.
    Ocr,
    /// Embedded subtitle streams.
    Subtitles,
    /// Writing sidecar outputs.
    Write,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Manifest => "manifest",
            Stage::Download => "download",
            Stage::Probe => "probe",
            Stage::Decode => "decode",
            Stage::Vad => "vad",
            Stage::Asr => "asr",
            Stage::Ocr => "ocr",
            Stage::Subtitles => "subtitles",
            Stage::Write => "write",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input whose document was made and left out whole: a line of `OUT/dropped/part-*.jsonl`
/// (a copy of a committed document, another language, too little content). Counted like a
/// committed input: a rerun does not do it again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dropped {
    pub uri: String,
    /// The document id it would have had.
    pub id: String,
    /// `duplicate` (the same bytes as a committed document), `near_duplicate` (near-identical
    /// text), `language` (not in `--languages`), `too_short` (under `--min-words` or
    /// `--min-speech-s`).
    pub reason: String,
    /// The committed document it repeats (its `source` and `id`), for the two duplicate reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub duration_s: f64,
    #[serde(default)]
    pub speech_s: f64,
    #[serde(default)]
    pub words: u64,
}

impl Dropped {
    /// The record of `doc` left out for `reason`.
    pub fn of(doc: &Document, reason: &str) -> Self {
        Dropped {
            uri: doc.source.clone(),
            id: doc.id.clone(),
            reason: reason.into(),
            duplicate_of: None,
            duplicate_of_id: None,
            similarity: None,
            language: doc.language.clone(),
            duration_s: doc.duration_s,
            speech_s: doc.stats.speech_s,
            words: doc.stats.words,
        }
    }
}

/// One input that could not be turned into a document: a line of `OUT/failures/part-*.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub uri: String,
    pub stage: Stage,
    pub error: String,
}

impl Failure {
    pub fn new(uri: impl Into<String>, stage: Stage, error: impl std::fmt::Display) -> Self {
        Failure {
            uri: uri.into(),
            stage,
            error: error.to_string(),
        }
    }
}

impl Failure {
    /// A failure whose message is an error and its sources (see [`crate::error::report`]).
    pub fn from_error(
        uri: impl Into<String>,
        stage: Stage,
        e: &(dyn std::error::Error + 'static),
    ) -> Self {
        Failure::new(uri, stage, crate::error::report(e))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed for {}: {}", self.stage, self.uri, self.error)
    }
}
