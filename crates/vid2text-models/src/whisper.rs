//! Whisper through CTranslate2 (`ct2rs::sys::Whisper`), with our own long-form loop.
//!
//! The loop follows faster-whisper's `transcribe.py`: features of a <= 30 s window, a prompt of
//! `<|startofprev|>` + previous tokens + the start-of-transcript sequence, timestamp tokens parsed
//! into segments, seeking past the last complete segment, temperature fallback on a high
//! compression ratio or a low average log-probability, and the no-speech check.
//!
//! Speech is first cut into windows by voice activity detection: the speech spans of a video are
//! packed, the pauses between them cut out, into windows of at most 30 s; segment times are
//! mapped back onto the original timeline. Each video is a [`Transcription`], a state machine
//! that asks for one generate call at a time; [`WhisperModel::next_batch`] gathers the pending
//! requests of many videos into one batch, so batching never changes a video's result, and
//! [`WhisperModel::run_batch`] runs it on any thread (one batch per model replica at once).

use std::path::{Path, PathBuf};

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};

use crate::mel::{MelExtractor, HOP, N_FRAMES, N_SAMPLES};
use crate::tokenizer::Vocab;
use vid2text_core::round;

use crate::{Error, Result, SpeechSpan};

/// Seconds per timestamp token and per encoder position pair.
const TIME_PRECISION: f64 = 0.02;
const SR: f64 = 16_000.0;
/// Frames per timestamp step (0.02 s = 2 mel frames).
const INPUT_STRIDE: usize = 2;
/// Leftover audio shorter than this after a seek is not decoded again (0.1 s).
const MIN_REST_FRAMES: usize = 10;
/// Seconds before Whisper's last timestamp at which a speech start still counts as not
/// decoded (see `Transcription::advance`).
const RESEEK_OVERLAP: f64 = 0.1;

/// Whisper decoding settings (faster-whisper's names and defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
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
    /// are cut out (times map back across them; see [`plan_windows`]).
    pub max_kept_pause_s: f64,
    /// A window's output is dropped as a hallucination when its no-speech probability is above
    /// this and its average log-probability below `hallucination_logprob_threshold` (catches
    /// "Mm-hmm." on animal sounds and music that VAD let through).
    pub hallucination_no_speech_threshold: f64,
    pub hallucination_logprob_threshold: f64,
    /// Output still this repetitive after every fallback temperature is dropped (a decoding
    /// loop). Above Whisper's 2.4, which a sentence said twice already reaches.
    pub repetition_drop_threshold: f64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
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
        }
    }
}

/// How and where the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub device: EngineDevice,
    /// CTranslate2 compute type: int8, int8_float32, int8_float16, float16, float32, default.
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

fn compute_type(name: &str) -> Result<ComputeType> {
    Ok(match name {
        "default" => ComputeType::DEFAULT,
        "auto" => ComputeType::AUTO,
        "int8" => ComputeType::INT8,
        "int8_float32" => ComputeType::INT8_FLOAT32,
        "int8_float16" => ComputeType::INT8_FLOAT16,
        "int8_bfloat16" => ComputeType::INT8_BFLOAT16,
        "int16" => ComputeType::INT16,
        "float16" => ComputeType::FLOAT16,
        "bfloat16" => ComputeType::BFLOAT16,
        "float32" => ComputeType::FLOAT32,
        other => return Err(Error::Config(format!("unknown compute type `{other}`"))),
    })
}

/// A loaded Whisper model: engine, vocabulary and feature extractor, shared by all videos.
pub struct WhisperModel {
    engine: Whisper,
    vocab: Vocab,
    mel: MelExtractor,
    multilingual: bool,
    dir: PathBuf,
    replicas: usize,
}

/// One segment of speech, times in seconds on the original timeline: the document's
/// `speech` entry.
pub use vid2text_core::SpeechSegment as Segment;

/// What Whisper made of one video.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub language: Option<String>,
    pub language_probability: Option<f64>,
    pub segments: Vec<Segment>,
    /// Seconds of audio sent to Whisper (speech kept by VAD).
    pub speech_s: f64,
    pub windows: usize,
    /// Generate passes (windows, seeks within them, temperature fallbacks).
    pub passes: usize,
    /// Decoded parts dropped, by reason.
    pub dropped: std::collections::BTreeMap<String, u64>,
}

impl WhisperModel {
    pub fn load(dir: &Path, engine: &EngineConfig) -> Result<Self> {
        if !dir.join("model.bin").is_file() {
            return Err(Error::Load(format!(
                "{}: no model.bin (not a CTranslate2 model directory)",
                dir.display()
            )));
        }
        let config = Config {
            device: match engine.device {
                EngineDevice::Cpu => Device::CPU,
                EngineDevice::Cuda => Device::CUDA,
            },
            compute_type: compute_type(&engine.compute_type)?,
            num_threads_per_replica: engine.threads,
            // One entry per replica (CTranslate2 places a model copy per listed device).
            device_indices: vec![0; engine.replicas.max(1)],
            ..Config::default()
        };
        let whisper = Whisper::new(dir, config)
            .map_err(|e| Error::Load(format!("{}: {e}", dir.display())))?;
        let vocab = Vocab::load(dir)?;
        let multilingual = whisper.is_multilingual();
        let mel = MelExtractor::new(whisper.n_mels());
        Ok(WhisperModel {
            engine: whisper,
            vocab,
            mel,
            multilingual,
            dir: dir.to_path_buf(),
            replicas: engine.replicas.max(1),
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the transcription of one video. Its speech windows arrive with
    /// [`Transcription::push_window`]; [`Transcription::end_input`] says there are no more. With
    /// `language: None` on a multilingual model, the language is detected from the first
    /// `language_detection_windows` windows (or all, when fewer) before any is decoded.
    pub fn begin(&self, config: &DecodeConfig) -> Result<Transcription> {
        let mut t = Transcription::new(config);
        match (&config.language, self.multilingual) {
            (_, false) => t.set_language(self.sot_sequence("en")?, "en".into(), None),
            (Some(lang), true) => t.set_language(self.sot_sequence(lang)?, lang.clone(), None),
            (None, true) => {}
        }
        Ok(t)
    }

    /// `<|startoftranscript|>` (+ `<|lang|><|transcribe|>` for multilingual models).
    fn sot_sequence(&self, lang: &str) -> Result<Vec<u32>> {
        let mut sot = vec![self.vocab.sot];
        if self.multilingual {
            let id = self.vocab.id(&format!("<|{lang}|>")).ok_or_else(|| {
                Error::Config(format!(
                    "language `{lang}` is not known to {}",
                    self.dir.display()
                ))
            })?;
            sot.push(id);
            sot.extend(self.vocab.transcribe);
        }
        Ok(sot)
    }

    /// Detects the language of transcriptions that wait for it and have enough windows.
    fn detect_pending_languages(&self, jobs: &mut [&mut Transcription]) {
        for job in jobs.iter_mut() {
            let n = job.config.language_detection_windows.max(1);
            let ready = job.sot_sequence.is_empty()
                && job.failed.is_none()
                && !job.windows.is_empty()
                && (job.windows.len() >= n || job.ended);
            if !ready {
                continue;
            }
            let detected = self
                .detect_language(&job.windows[..n.min(job.windows.len())])
                .and_then(|(lang, p)| Ok((self.sot_sequence(&lang)?, lang, p)));
            match detected {
                Ok((sot, lang, p)) => job.set_language(sot, lang, Some(p)),
                Err(e) => job.failed = Some(e.to_string()),
            }
        }
    }

    /// Detects the spoken language from several windows: the language with the highest mean
    /// probability over them.
    fn detect_language(&self, windows: &[Window]) -> Result<(String, f64)> {
        let n_mels = self.mel.n_mels();
        let mut feats = Vec::with_capacity(windows.len() * n_mels * N_FRAMES);
        for w in windows {
            feats.extend(self.mel.window_features(&w.audio));
        }
        let view = StorageView::new(&[windows.len(), n_mels, N_FRAMES], &mut feats, Device::CPU)
            .map_err(|e| Error::Inference(e.to_string()))?;
        let results = self
            .engine
            .detect_language(&view)
            .map_err(|e| Error::Inference(e.to_string()))?;
        let mut sums: std::collections::HashMap<String, f64> = Default::default();
        for per_window in &results {
            for r in per_window {
                *sums.entry(r.language.clone()).or_default() += r.probability as f64;
            }
        }
        let (token, sum) = sums
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| Error::Inference("language detection returned nothing".into()))?;
        let code = token
            .trim_start_matches("<|")
            .trim_end_matches("|>")
            .to_string();
        Ok((code, sum / results.len() as f64))
    }

    /// Chooses the next batch: up to `max_batch` pending windows of the given transcriptions
    /// (in order: the first job's windows first), marked in flight until [`Self::apply`] takes
    /// its results. Requests of one batch share temperature, prompt length and length limit
    /// (CTranslate2 needs `<|startoftranscript|>` at one position in a batch). None when no
    /// window is ready. Detects the language of transcriptions that wait for it first.
    pub fn next_batch(&self, jobs: &mut [&mut Transcription], max_batch: usize) -> Option<Batch> {
        self.detect_pending_languages(jobs);
        // Look further than one batch: the pending windows often mix temperatures, prompt
        // lengths and limits. The largest group is served first; the others wait.
        let look = max_batch.max(1) * 4;
        let mut requests: Vec<(usize, Request)> = Vec::new();
        for (i, job) in jobs.iter_mut().enumerate() {
            let room = look.saturating_sub(requests.len());
            if room == 0 {
                break;
            }
            requests.extend(job.next_requests(self, room).into_iter().map(|r| (i, r)));
        }
        if requests.is_empty() {
            return None;
        }
        let key = |r: &Request| (r.temperature.to_bits(), r.prompt.len(), r.max_length);
        let mut counts: Vec<((u32, usize, usize), usize)> = Vec::new();
        for (_, r) in &requests {
            match counts.iter_mut().find(|(k, _)| *k == key(r)) {
                Some((_, n)) => *n += 1,
                None => counts.push((key(r), 1)),
            }
        }
        // Most requests first; among equals, the group of the earliest request (stable order).
        let best = counts
            .iter()
            .rev()
            .max_by_key(|(_, n)| *n)
            .map(|(k, _)| *k)
            .expect("a request");
        let (mut group, rest): (Vec<_>, Vec<_>) =
            requests.into_iter().partition(|(_, r)| key(r) == best);
        let spill = group.split_off(group.len().min(max_batch.max(1)));
        for (i, req) in rest.into_iter().chain(spill) {
            jobs[i].cursors[req.window].in_flight = false;
        }
        let config = jobs[group[0].0].config.clone();
        let items = group
            .into_iter()
            .map(|(i, mut req)| {
                let audio = &jobs[i].windows[req.window].audio;
                let (a, b) = req.samples;
                req.audio = audio[a.min(audio.len())..b.min(audio.len())].to_vec();
                (jobs[i].tag, req)
            })
            .collect();
        Some(Batch { items, config })
    }

    /// Runs a batch: log-mel features, then one generate call. Safe to call from several
    /// threads at once: with `replicas` > 1 the calls run in parallel, one per model replica.
    pub fn run_batch(&self, mut batch: Batch) -> BatchDone {
        // Log-mel on up to one thread per core: a large batch (CUDA's 8) would otherwise keep
        // the device waiting on one core.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(batch.items.len())
            .max(1);
        let size = batch.items.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let mut chunks = batch.items.chunks_mut(size);
            let first = chunks.next();
            for chunk in chunks {
                scope.spawn(|| self.features(chunk));
            }
            if let Some(chunk) = first {
                self.features(chunk);
            }
        });
        let results = self.generate_on_one(
            &batch.items.iter().map(|(_, r)| r).collect::<Vec<_>>(),
            &batch.config,
        );
        for (_, r) in &mut batch.items {
            r.features = Vec::new();
        }
        BatchDone { batch, results }
    }

    fn features(&self, items: &mut [(u64, Request)]) {
        for (_, r) in items {
            r.features = self.mel.window_features(&r.audio);
            r.audio = Vec::new();
        }
    }

    /// Gives a batch's results to its transcriptions (those no longer in `jobs` are skipped).
    /// When the engine failed, the batch's transcriptions fail with its message.
    pub fn apply(&self, jobs: &mut [&mut Transcription], done: BatchDone) {
        match done.results {
            Ok(results) => {
                for ((tag, req), res) in done.batch.items.into_iter().zip(results) {
                    if let Some(job) = jobs.iter_mut().find(|j| j.tag == tag) {
                        job.accept(self, req, res);
                    }
                }
            }
            Err(e) => {
                for (tag, req) in done.batch.items {
                    if let Some(job) = jobs.iter_mut().find(|j| j.tag == tag) {
                        job.cursors[req.window].in_flight = false;
                        job.failed.get_or_insert_with(|| e.to_string());
                    }
                }
            }
        }
    }

    /// Model replicas: how many batches can run at once.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    fn generate_on_one(
        &self,
        requests: &[&Request],
        config: &DecodeConfig,
    ) -> Result<Vec<Generated>> {
        let n_mels = self.mel.n_mels();
        let mut feats = Vec::with_capacity(requests.len() * n_mels * N_FRAMES);
        for r in requests {
            feats.extend_from_slice(&r.features);
        }
        let view = StorageView::new(&[requests.len(), n_mels, N_FRAMES], &mut feats, Device::CPU)
            .map_err(|e| Error::Inference(e.to_string()))?;
        let prompts: Vec<Vec<&str>> = requests
            .iter()
            .map(|r| r.prompt.iter().map(|&id| self.vocab.token(id)).collect())
            .collect();
        let temperature = requests[0].temperature;
        let mut options = WhisperOptions {
            beam_size: config.beam_size.max(1),
            patience: config.patience,
            length_penalty: config.length_penalty,
            repetition_penalty: config.repetition_penalty,
            no_repeat_ngram_size: config.no_repeat_ngram_size,
            max_length: requests[0].max_length,
            return_scores: true,
            return_no_speech_prob: true,
            max_initial_timestamp_index: (config.max_initial_timestamp / TIME_PRECISION).round()
                as usize,
            suppress_blank: true,
            suppress_tokens: vec![-1],
            ..WhisperOptions::default()
        };
        if temperature > 0.0 {
            options.beam_size = 1;
            options.num_hypotheses = config.best_of.max(1);
            options.sampling_topk = 0;
            options.sampling_temperature = temperature;
        } else {
            options.sampling_topk = 1;
            options.sampling_temperature = 1.0;
        }
        let results = self
            .engine
            .generate(&view, &prompts, &options)
            .map_err(|e| Error::Inference(e.to_string()))?;
        Ok(results
            .into_iter()
            .map(|r| {
                let tokens: Vec<u32> = r
                    .sequences_ids
                    .first()
                    .map(|s| s.iter().map(|&t| t as u32).collect())
                    .unwrap_or_default();
                let seq_len = tokens.len() as f64;
                let score = r.scores.first().copied().unwrap_or(0.0) as f64;
                let cum = score * seq_len.powf(config.length_penalty as f64);
                let text = self.vocab.decode(&tokens);
                Generated {
                    avg_logprob: cum / (seq_len + 1.0),
                    no_speech_prob: r.no_speech_prob as f64,
                    compression_ratio: vid2text_core::text::compression_ratio(&text),
                    tokens,
                }
            })
            .collect())
    }
}

/// A window of speech: at most 30 s of audio, made of one or more pieces of the original audio
/// (speech spans, with the pauses between them cut out or kept).
#[derive(Debug, Clone)]
struct Window {
    pieces: Vec<Piece>,
    /// Where voice activity detection found speech starting, in seconds from the window start.
    speech_starts: Vec<f64>,
    /// The samples; emptied once the window is decoded.
    audio: Vec<f32>,
}

/// A piece of a window: `len` samples of the original audio from `orig`, at sample `at` of
/// the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub orig: usize,
    pub at: usize,
    pub len: usize,
}

impl Window {
    /// Maps a segment `(start, end)` in window time onto the original timeline. A segment that
    /// runs across a cut pause (Whisper hears no pause there) keeps the times of the piece that
    /// holds most of it, so it never spans the silence that was cut out.
    fn original_span(&self, start: f64, end: f64) -> (f64, f64) {
        let (a, b) = (
            (start.max(0.0) * SR) as usize,
            (end.max(start).max(0.0) * SR) as usize,
        );
        let overlap = |p: &Piece| (b.min(p.at + p.len)).saturating_sub(a.max(p.at));
        let main = self
            .pieces
            .iter()
            .filter(|p| overlap(p) > 0)
            .max_by_key(|p| overlap(p));
        match main {
            Some(p) if self.pieces.len() > 1 => {
                let (a, b) = (a.clamp(p.at, p.at + p.len), b.clamp(p.at, p.at + p.len));
                (
                    (p.orig + a - p.at) as f64 / SR,
                    (p.orig + b - p.at) as f64 / SR,
                )
            }
            _ => {
                let s = self.original_time(start, false);
                (s, self.original_time(end.max(start), true).max(s))
            }
        }
    }

    /// Maps a time (s) within the window onto the original timeline. A time on the boundary of
    /// two pieces belongs to the later piece as a start and to the earlier one as an end, so a
    /// segment never starts or ends inside a pause that was cut out.
    fn original_time(&self, t: f64, is_end: bool) -> f64 {
        let x = (t.max(0.0) * SR).round() as usize;
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| if is_end { p.at < x } else { p.at <= x })
            .or(self.pieces.first());
        match piece {
            Some(p) => (p.orig + (x - x.min(p.at)).min(p.len)) as f64 / SR,
            None => t.max(0.0),
        }
    }
}

/// The plan of one window: the ranges `(start, end)` of the original audio it is made of, in
/// order, and where speech starts in it (seconds from the window start).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    pub ranges: Vec<(usize, usize)>,
    pub speech_starts: Vec<f64>,
}

impl WindowPlan {
    pub fn samples(&self) -> usize {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }
}

/// Plans the windows of a video from its speech spans, packing them as faster-whisper does:
/// spans follow each other in a window, the pauses between them cut out, until the next would
/// make it longer than 30 s. A pause of up to `max_gap` samples is kept as audio instead (it
/// costs window space). A span longer than 30 s is cut into 30 s pieces, each its own window.
pub fn plan_windows(spans: &[SpeechSpan], max_gap: usize) -> Vec<WindowPlan> {
    let mut plans: Vec<WindowPlan> = Vec::new();
    let mut fill = 0usize;
    for s in spans {
        let mut at = s.start;
        while at < s.end {
            let to = (at + N_SAMPLES).min(s.end);
            let len = to - at;
            let last_end = plans.last().and_then(|p| p.ranges.last()).map(|r| r.1);
            match (plans.last_mut(), last_end) {
                // Kept pause: the previous range grows over the pause and this span.
                (Some(p), Some(end))
                    if at >= end && at - end <= max_gap && fill + (to - end) <= N_SAMPLES =>
                {
                    p.speech_starts.push((fill + at - end) as f64 / SR);
                    p.ranges.last_mut().expect("a range").1 = to;
                    fill += to - end;
                }
                // Pause cut out: a new range in the same window.
                (Some(p), Some(_)) if fill + len <= N_SAMPLES => {
                    p.speech_starts.push(fill as f64 / SR);
                    p.ranges.push((at, to));
                    fill += len;
                }
                _ => {
                    plans.push(WindowPlan {
                        ranges: vec![(at, to)],
                        speech_starts: vec![0.0],
                    });
                    fill = len;
                }
            }
            at = to;
        }
    }
    plans
}

/// Windows without VAD: the whole audio in consecutive ranges of `len` samples, each walked by
/// the seek loop 30 s at a time.
pub fn plan_fixed_windows(total: usize, len: usize) -> Vec<WindowPlan> {
    (0..total)
        .step_by(len.max(1))
        .map(|s| WindowPlan {
            ranges: vec![(s, (s + len).min(total))],
            speech_starts: vec![],
        })
        .collect()
}

/// Requests chosen for one generate call by [`WhisperModel::next_batch`], each with the tag of
/// its transcription; self-contained, so it can run on any thread.
pub struct Batch {
    items: Vec<(u64, Request)>,
    config: DecodeConfig,
}

/// A batch that ran: its results, or the engine's error.
pub struct BatchDone {
    batch: Batch,
    results: Result<Vec<Generated>>,
}

struct Request {
    window: usize,
    /// The part of the window's audio to decode (samples).
    samples: (usize, usize),
    /// Those samples, copied out when the request is chosen for a batch.
    audio: Vec<f32>,
    /// Their log-mel features, computed by [`WhisperModel::run_batch`].
    features: Vec<f32>,
    prompt: Vec<u32>,
    temperature: f32,
    /// Generation limit in tokens (see [`max_length_for`]).
    max_length: usize,
}

/// Generation limit for `samples` of audio: Whisper's 448 for long windows, less for short ones
/// (25 tokens per second and more), so that a hallucinating decoder cannot run on for hundreds of
/// tokens over a 2 s window. Three buckets keep batches large; the limit depends only on the
/// window, so batching never changes a result.
fn max_length_for(samples: usize) -> usize {
    match samples as f64 / SR {
        d if d <= 5.0 => 128,
        d if d <= 10.0 => 256,
        _ => 448,
    }
}

#[derive(Debug, Clone)]
struct Generated {
    tokens: Vec<u32>,
    avg_logprob: f64,
    no_speech_prob: f64,
    compression_ratio: f64,
}

/// Decoding state of one window.
#[derive(Default)]
struct Cursor {
    /// Mel-frame offset within the window.
    seek: usize,
    temperature_index: usize,
    /// Results at the temperatures tried so far for the current position.
    attempts: Vec<(f32, Generated)>,
    in_flight: bool,
    done: bool,
    segments: Vec<Segment>,
}

/// The transcription of one video, advanced by [`WhisperModel::step`]. Without conditioning on
/// previous text its windows are independent and several are decoded at once; with it, one
/// window at a time, in order.
pub struct Transcription {
    /// Unique in the process: names the transcription in a [`Batch`] while it runs.
    tag: u64,
    config: DecodeConfig,
    /// Empty until the language is known.
    sot_sequence: Vec<u32>,
    windows: Vec<Window>,
    cursors: Vec<Cursor>,
    /// No more windows will come.
    ended: bool,
    /// Language detection failed: the video fails at the ASR stage.
    failed: Option<String>,
    /// Tokens the next prompt is conditioned on (conditioning only).
    prompt_tokens: Vec<u32>,
    transcript: Transcript,
}

impl Transcription {
    fn new(config: &DecodeConfig) -> Self {
        static TAGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Transcription {
            tag: TAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            config: config.clone(),
            sot_sequence: vec![],
            windows: vec![],
            cursors: vec![],
            ended: false,
            failed: None,
            prompt_tokens: vec![],
            transcript: Transcript::default(),
        }
    }

    fn set_language(&mut self, sot: Vec<u32>, language: String, probability: Option<f64>) {
        self.sot_sequence = sot;
        self.transcript.language = Some(language);
        self.transcript.language_probability = probability;
    }

    /// Adds the next window: `audio` (at most 30 s with VAD), the concatenation of the original
    /// ranges `ranges`, with the starts of the speech spans inside it (seconds from its start;
    /// empty without VAD).
    pub fn push_window(
        &mut self,
        ranges: &[(usize, usize)],
        audio: Vec<f32>,
        speech_starts: Vec<f64>,
    ) {
        let mut pieces = Vec::with_capacity(ranges.len());
        let mut at = 0;
        for &(a, b) in ranges {
            pieces.push(Piece {
                orig: a,
                at,
                len: b - a,
            });
            at += b - a;
        }
        self.transcript.speech_s += audio.len() as f64 / SR;
        self.transcript.windows += 1;
        self.cursors.push(Cursor {
            done: audio.len() / HOP < MIN_REST_FRAMES,
            ..Cursor::default()
        });
        self.windows.push(Window {
            pieces,
            audio,
            speech_starts,
        });
    }

    /// No more windows will come.
    pub fn end_input(&mut self) {
        self.ended = true;
    }

    /// Why the transcription failed (language detection or the engine), if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Windows pushed and not yet decoded (their audio is still held).
    pub fn pending_windows(&self) -> usize {
        self.cursors.iter().filter(|c| !c.done).count()
    }

    pub fn is_done(&self) -> bool {
        self.ended && self.cursors.iter().all(|c| c.done)
    }

    pub fn finish(mut self) -> Transcript {
        for c in &mut self.cursors {
            self.transcript.segments.append(&mut c.segments);
        }
        self.transcript
    }

    /// Up to `max` requests for windows that are ready.
    fn next_requests(&mut self, model: &WhisperModel, max: usize) -> Vec<Request> {
        let mut out = Vec::new();
        if self.sot_sequence.is_empty() || self.failed.is_some() {
            return out; // waiting for language detection
        }
        for i in 0..self.windows.len() {
            if out.len() >= max {
                break;
            }
            let c = &self.cursors[i];
            if c.done {
                continue;
            }
            if c.in_flight {
                if self.config.condition_on_previous_text {
                    break;
                }
                continue;
            }
            out.push(self.request(model, i));
            self.cursors[i].in_flight = true;
            if self.config.condition_on_previous_text {
                break;
            }
        }
        out
    }

    fn request(&self, model: &WhisperModel, window: usize) -> Request {
        let w = &self.windows[window];
        let c = &self.cursors[window];
        let start = (c.seek * HOP).min(w.audio.len());
        let end = (start + N_SAMPLES).min(w.audio.len());
        let temperature = self
            .config
            .temperatures
            .get(c.temperature_index)
            .copied()
            .unwrap_or(0.0);
        let mut prompt = Vec::new();
        if self.config.condition_on_previous_text && !self.prompt_tokens.is_empty() {
            if let Some(prev) = model.vocab.sot_prev {
                prompt.push(prev);
                let keep = 448 / 2 - 1;
                let from = self.prompt_tokens.len().saturating_sub(keep);
                prompt.extend_from_slice(&self.prompt_tokens[from..]);
            }
        }
        prompt.extend_from_slice(&self.sot_sequence);
        Request {
            window,
            samples: (start, end),
            audio: Vec::new(),
            features: Vec::new(),
            prompt,
            temperature,
            max_length: max_length_for(end - start),
        }
    }

    fn needs_fallback(&self, g: &Generated) -> bool {
        let c = &self.config;
        if g.no_speech_prob > c.no_speech_threshold && g.avg_logprob < c.log_prob_threshold {
            return false; // silence: fallback would not help
        }
        // The no-speech probability comes from the first decoding step and is the same at every
        // temperature: when it already marks the window as a likely hallucination, sampling
        // would only spend time (up to 5 x 5 runaway generations) on output that is dropped.
        if g.no_speech_prob > c.hallucination_no_speech_threshold {
            return false;
        }
        g.compression_ratio > c.compression_ratio_threshold || g.avg_logprob < c.log_prob_threshold
    }

    fn accept(&mut self, model: &WhisperModel, req: Request, g: Generated) {
        let fallback = self.needs_fallback(&g);
        let n_temps = self.config.temperatures.len();
        let threshold = self.config.compression_ratio_threshold;
        self.transcript.passes += 1;
        let c = &mut self.cursors[req.window];
        c.in_flight = false;
        c.attempts.push((req.temperature, g));
        if fallback && c.temperature_index + 1 < n_temps {
            c.temperature_index += 1;
            return; // the next request retries this position at a higher temperature
        }
        // Keep the last attempt when it passed; otherwise the best by avg_logprob, preferring
        // those under the compression threshold (as faster-whisper does).
        let attempts = std::mem::take(&mut c.attempts);
        c.temperature_index = 0;
        let (temperature, g) = if !fallback {
            attempts.into_iter().last().expect("one attempt")
        } else {
            let below: Vec<_> = attempts
                .iter()
                .filter(|(_, g)| g.compression_ratio <= threshold)
                .cloned()
                .collect();
            let pool = if below.is_empty() { attempts } else { below };
            pool.into_iter()
                .max_by(|a, b| a.1.avg_logprob.total_cmp(&b.1.avg_logprob))
                .expect("one attempt")
        };
        self.advance(model, req.window, temperature, g);
    }

    /// Turns an accepted result into segments and moves the window's seek position.
    fn advance(&mut self, model: &WhisperModel, window: usize, temperature: f32, g: Generated) {
        let c = &self.config;
        let w = &self.windows[window];
        let content = w.audio.len() / HOP;
        let seek = self.cursors[window].seek;
        let segment_size = N_FRAMES.min(content - seek.min(content));
        let time_offset = seek as f64 * HOP as f64 / SR;

        let silent =
            g.no_speech_prob > c.no_speech_threshold && g.avg_logprob < c.log_prob_threshold;
        let doubtful = g.no_speech_prob > c.hallucination_no_speech_threshold
            && g.avg_logprob < c.hallucination_logprob_threshold;
        let repetitive = g.compression_ratio > c.repetition_drop_threshold;
        if silent || doubtful || repetitive {
            let reason = if silent {
                "no_speech"
            } else if doubtful {
                "hallucination"
            } else {
                "repetition"
            };
            *self.transcript.dropped.entry(reason.into()).or_default() += 1;
            self.move_seek(window, seek + segment_size);
            return;
        }

        let vocab = &model.vocab;
        let tokens = &g.tokens;
        let ts = |t: u32| (t - vocab.timestamp_begin) as f64 * TIME_PRECISION;
        let single_timestamp_ending = tokens.len() >= 2
            && !vocab.is_timestamp(tokens[tokens.len() - 2])
            && vocab.is_timestamp(tokens[tokens.len() - 1]);
        let consecutive: Vec<usize> = (1..tokens.len())
            .filter(|&i| vocab.is_timestamp(tokens[i]) && vocab.is_timestamp(tokens[i - 1]))
            .collect();
        let mut pieces: Vec<(f64, f64, &[u32])> = Vec::new();
        let new_seek;
        if !consecutive.is_empty() {
            let mut slices = consecutive;
            if single_timestamp_ending {
                slices.push(tokens.len());
            }
            let mut last = 0;
            for &cur in &slices {
                let sliced = &tokens[last..cur];
                if sliced.len() >= 2 && vocab.is_timestamp(sliced[0]) {
                    let end_tok = sliced[sliced.len() - 1];
                    let end = if vocab.is_timestamp(end_tok) {
                        ts(end_tok)
                    } else {
                        ts(sliced[0])
                    };
                    pieces.push((ts(sliced[0]), end, sliced));
                }
                last = cur;
            }
            new_seek = if single_timestamp_ending {
                seek + segment_size
            } else {
                let last_ts = tokens[last - 1];
                let pos = if vocab.is_timestamp(last_ts) {
                    ts(last_ts)
                } else {
                    0.0
                };
                seek + ((pos / TIME_PRECISION).round() as usize) * INPUT_STRIDE
            };
        } else {
            let mut duration = segment_size as f64 * HOP as f64 / SR;
            if let Some(&last_ts) = tokens.iter().rev().find(|&&t| vocab.is_timestamp(t)) {
                if last_ts != vocab.timestamp_begin {
                    duration = ts(last_ts);
                }
            }
            pieces.push((0.0, duration, &tokens[..]));
            new_seek = seek + segment_size;
        }

        // Whisper may end a window early, predicting no more speech (a single timestamp at the
        // end, or no timestamps): the rest of the window is then skipped. When voice activity
        // detection found speech starting in that rest, decode again from there. A start up to
        // RESEEK_OVERLAP before the last timestamp counts as skipped too: where pauses are cut
        // out, the next speaker starts right at the cut, and Whisper's last timestamp often
        // lands a little past it without a word of what follows (re-reading 0.1 s costs at most
        // part of a word; missing the start loses the whole utterance).
        let decoded_until = time_offset
            + tokens
                .iter()
                .rev()
                .find(|&&t| vocab.is_timestamp(t))
                .map_or(0.0, |&t| ts(t));
        let new_seek_t = new_seek as f64 * HOP as f64 / SR;
        let new_seek = match w
            .speech_starts
            .iter()
            .find(|&&s| s > (decoded_until - RESEEK_OVERLAP).max(time_offset) && s < new_seek_t)
        {
            Some(&s) => (s * SR) as usize / HOP,
            None => new_seek,
        };
        let max_t = content as f64 * HOP as f64 / SR;
        let mut segments = Vec::new();
        for (start, end, toks) in pieces {
            let text = vocab.decode(toks);
            if text.trim().is_empty() {
                continue;
            }
            let (s, e) = (
                (time_offset + start).min(max_t),
                (time_offset + end).min(max_t),
            );
            let (os, oe) = w.original_span(s, e);
            segments.push(Segment {
                start: round(os, 3),
                end: round(oe, 3),
                text: text.trim().to_string(),
                avg_logprob: round(g.avg_logprob, 4),
                no_speech_prob: round(g.no_speech_prob, 4),
                compression_ratio: round(g.compression_ratio, 3),
                temperature: temperature as f64,
            });
        }
        self.cursors[window].segments.extend(segments);
        if c.condition_on_previous_text {
            if temperature > c.prompt_reset_on_temperature {
                self.prompt_tokens.clear();
            } else {
                self.prompt_tokens.extend_from_slice(&g.tokens);
            }
        }
        // Never stall: a seek that does not move goes to the end of the decoded part.
        let new_seek = if new_seek <= seek {
            seek + segment_size
        } else {
            new_seek
        };
        self.move_seek(window, new_seek);
    }

    fn move_seek(&mut self, window: usize, seek: usize) {
        let content = self.windows[window].audio.len() / HOP;
        let c = &mut self.cursors[window];
        c.seek = seek;
        if seek + MIN_REST_FRAMES >= content {
            c.done = true;
            self.windows[window].audio = Vec::new(); // free the samples
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pack_spans_at_pauses() {
        let span = |a: f64, b: f64| SpeechSpan {
            start: (a * SR) as usize,
            end: (b * SR) as usize,
        };
        let spans = [
            span(1.0, 11.0),
            span(12.0, 22.0),
            span(30.0, 40.0),
            span(41.0, 75.0),
        ];
        let s = |a: f64| (a * SR) as usize;
        // Pauses cut out: 1-11 + 12-22 (20 s), + 30-40 would make 30 s: fits; 41-71 is a 34 s
        // span cut at 30 s, 71-75 its rest.
        let plans = plan_windows(&spans, 0);
        let ranges: Vec<_> = plans.iter().map(|p| p.ranges.clone()).collect();
        assert_eq!(
            ranges,
            vec![
                vec![(s(1.0), s(11.0)), (s(12.0), s(22.0)), (s(30.0), s(40.0))],
                vec![(s(41.0), s(71.0))],
                vec![(s(71.0), s(75.0))],
            ]
        );
        assert_eq!(plans[0].speech_starts, vec![0.0, 10.0, 20.0]);
        assert_eq!(plans[0].samples(), s(30.0));
        // A 1 s pause kept (under 3 s): 1-22 as one range, then 30-40 no longer fits after it.
        let kept = plan_windows(&spans, 3 * 16000);
        assert_eq!(kept[0].ranges, vec![(s(1.0), s(22.0))]);
        assert_eq!(kept[0].speech_starts, vec![0.0, 11.0]);
        assert_eq!(kept[1].ranges, vec![(s(30.0), s(40.0))]);
        assert_eq!(plan_fixed_windows(25, 10).len(), 3);
    }

    #[test]
    fn window_times_map_back_across_cut_pauses() {
        let w = Window {
            pieces: vec![
                Piece {
                    orig: 16_000,
                    at: 0,
                    len: 160_000,
                },
                Piece {
                    orig: 320_000,
                    at: 160_000,
                    len: 80_000,
                },
            ],
            speech_starts: vec![],
            audio: vec![],
        };
        assert_eq!(w.original_time(2.5, false), 3.5);
        // 10 s into the window is where the second piece (20 s of the original) begins.
        assert_eq!(w.original_time(10.0, false), 20.0);
        assert_eq!(w.original_time(10.0, true), 11.0);
        assert_eq!(w.original_time(12.0, true), 22.0);
        // Past the end: clamped to the last piece.
        assert_eq!(w.original_time(40.0, true), 25.0);
        // A segment across the cut keeps the piece holding most of it.
        assert_eq!(w.original_span(2.0, 11.0), (3.0, 11.0));
        assert_eq!(w.original_span(9.5, 14.0), (20.0, 24.0));
        assert_eq!(w.original_span(10.5, 12.0), (20.5, 22.0));
    }
}
