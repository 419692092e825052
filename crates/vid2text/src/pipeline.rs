//! `vid2text run`: the walk of every input, as concurrent stages joined by bounded channels.
//!
//! ```text
//! discover ─► [decode workers: ffprobe, sha256, ffmpeg → 16 kHz PCM, Silero VAD] ─► ASR (main thread:
//!        │    Whisper, windows of several videos batched per call) ───────────────┐
//!        └──► [visual workers: subtitle streams; ffmpeg keyframes → PP-OCR] ───────┴─► writer (join,
//!                                                                         render text, commit parts)
//! ```
//!
//! Bounded channels keep memory flat: at most a few decoded inputs wait for the ASR stage, and a
//! decode worker hands an input to the visual workers only when one is free, so OCR and ASR of
//! different inputs overlap. The writer joins each input's transcript with its screen text.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vid2text_core::doc::SubtitleCue;
use vid2text_core::doc::{AudioInfo, Document, Failure, PipelineInfo, ScreenText, Stage, Stats};
use vid2text_core::input::{self, Input, Location};
use vid2text_core::outdir::OutDir;
use vid2text_core::render;
use vid2text_core::round;
use vid2text_core::screen::ScreenTracker;
use vid2text_core::subtitles;
use vid2text_media::MediaInfo;
use vid2text_models::ocr::OcrEngine;
use vid2text_models::ocr_image::{RgbImage, Thumbnail};
use vid2text_models::vad::{onnx_environment, speech_spans, SileroVad, VadStream};
use vid2text_models::whisper::{
    plan_fixed_windows, plan_windows, Batch, BatchDone, Transcript, Transcription, WhisperModel,
    WindowPlan,
};

use crate::settings::Settings;

/// What a run did, printed as its last line (and as JSON with `--json`).
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    /// Documents committed by this run.
    pub documents: usize,
    /// Inputs that failed in this run.
    pub failed: usize,
    /// Inputs already committed by an earlier run (documents or failures), not redone.
    pub skipped: usize,
    /// Skipped inputs that an earlier run recorded as failed.
    pub failed_before: usize,
    pub media_s: f64,
    pub speech_s: f64,
    /// Keyframes sampled and keyframes read by OCR (the rest were near-identical), over the
    /// documents of this run.
    pub keyframes: u64,
    pub ocr_frames: u64,
    /// Seconds the visual workers spent (keyframe decoding, OCR, subtitle streams), summed.
    pub visual_s: f64,
    pub wall_s: f64,
    /// Peak resident memory of the process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    pub output: String,
}

impl Summary {
    pub fn line(&self) -> String {
        let speed = if self.wall_s > 0.0 {
            self.media_s / self.wall_s
        } else {
            0.0
        };
        let mut s = format!(
            "{} inputs: {} new documents, {} failed",
            self.inputs, self.documents, self.failed
        );
        if self.skipped > 0 {
            s += &format!(
                ", {} already committed ({} as failures)",
                self.skipped, self.failed_before
            );
        }
        s += &format!(
            "; {} of media in {} ({speed:.1}x real time, peak memory {:.0} MiB) -> {}",
            human_duration(self.media_s),
            human_duration(self.wall_s),
            self.peak_rss_mib,
            self.output
        );
        s
    }

    /// Whether any input of the job is recorded as failed (now or by an earlier run).
    pub fn any_failed(&self) -> bool {
        self.failed + self.failed_before > 0
    }
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| round(kb / 1024.0, 1))
        .unwrap_or(0.0)
}

fn human_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.2} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// An input that decoded: what its document needs besides the transcript.
struct Header {
    input: Input,
    id: String,
    info: MediaInfo,
    truncated_s: Option<f64>,
    /// The key its visual result will come under, when it was sent to the visual workers.
    visual: Option<u64>,
}

/// What decode workers send to the ASR stage. Messages of one input carry its key and come in
/// order: `Begin`, its windows, `End`. Windows stream, so a long input never sits in memory whole.
enum Decoded {
    /// The input failed before any window was sent (a visual result may still come, under
    /// the key given).
    Failed(Failure, Option<u64>),
    Begin(u64, Box<Header>),
    Window {
        key: u64,
        /// The ranges of the original audio (samples) that `audio` is made of.
        ranges: Vec<(usize, usize)>,
        audio: Vec<f32>,
        /// Starts of the speech spans inside the window, seconds from its start.
        speech_starts: Vec<f64>,
    },
    End(u64),
}

/// Inputs up to this long (in samples: 10 min) are decoded once and kept in memory; longer ones
/// are decoded a second time to cut their windows, so memory stays flat however long they are.
const KEEP_SAMPLES: usize = 10 * 60 * 16_000;

/// Without VAD, windows of this many samples (10 min) are walked 30 s at a time.
const FIXED_WINDOW: usize = 10 * 60 * 16_000;

/// What the writer receives. A document or failure from the ASR stage that names a key waits
/// for the visual result of that key (and the other way round).
enum Outcome {
    Document(Box<Document>, Option<u64>),
    Failure(Failure, Option<u64>),
    Visual(u64, Result<Box<Visual>, Failure>),
}

/// An input for the visual workers.
struct VisualJob {
    key: u64,
    uri: String,
    /// Local path FFmpeg reads.
    target: String,
    info: MediaInfo,
    /// A downloaded input stays until both stages are done with it.
    _download: Option<Arc<RemoveOnDrop>>,
}

/// What the visual workers found in one input.
#[derive(Default)]
struct Visual {
    screen_text: Vec<ScreenText>,
    subtitles: Vec<SubtitleCue>,
    keyframes: u64,
    ocr_frames: u64,
    skipped_subtitle_streams: Vec<String>,
    /// Seconds the worker spent on the input.
    busy_s: f64,
}

/// Errors that stop a run (exit 2), as opposed to per-input failures.
pub fn run(settings: Settings) -> Result<Summary> {
    let started = Instant::now();
    let settings = Arc::new(settings);
    let out = OutDir::open(&settings.output, 0)
        .with_context(|| format!("cannot use output directory {}", settings.output.display()))?;
    out.ensure_config(&settings.run_json(), settings.new_config_generation)?;

    // Models load once, before any input is touched: a broken set-up is exit 2, not N failures.
    let onnx = match &settings.onnxruntime {
        Some(lib) => Some(onnx_environment(lib)?),
        None => None,
    };
    let mut vads = Vec::new();
    for _ in 0..settings.decode_workers {
        vads.push(match (&onnx, &settings.vad_model) {
            (Some(env), Some(model)) => Some(SileroVad::load(model, env)?),
            _ => None,
        });
    }
    let mut ocrs = Vec::new();
    for _ in 0..settings.ocr_workers {
        ocrs.push(match (&onnx, &settings.ocr_models) {
            (Some(env), Some((det, rec))) => Some(
                OcrEngine::load(det, rec, env, settings.ocr_threads)?
                    .with_det_limit(settings.ocr_det_limit),
            ),
            _ => None,
        });
    }
    let model = WhisperModel::load(&settings.asr_model_dir, &settings.engine)?;

    let committed = out.committed()?;
    let mut summary = Summary {
        output: settings.output.display().to_string(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    let mut early_failures = Vec::new();
    for item in input::discover(&settings.inputs, &|p: &Path| vid2text_media::is_media(p)) {
        summary.inputs += 1;
        let uri = match &item {
            Ok(i) => &i.uri,
            Err(f) => &f.uri,
        };
        let retry = settings.retry_failed && !committed.documents.contains(uri);
        if committed.contains(uri) && !retry {
            summary.skipped += 1;
            if committed.failures.contains(uri) {
                summary.failed_before += 1;
            }
            continue;
        }
        match item {
            Ok(i) => todo.push(i),
            Err(f) => early_failures.push(f),
        }
    }

    let progress = if settings.quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(
            Some((todo.len() + early_failures.len()) as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} inputs {msg}",
            )
            .expect("valid template"),
        );
        pb.enable_steady_tick(Duration::from_millis(250));
        pb
    };

    let (input_tx, input_rx) = bounded::<Input>(settings.decode_workers * 2);
    let (prep_tx, prep_rx) = bounded::<Decoded>(settings.decode_workers.max(2));
    let (out_tx, out_rx) = bounded::<(Outcome, f64)>(256);
    let (visual_tx, visual_rx) = bounded::<VisualJob>(settings.ocr_workers);

    let writer = {
        let settings = Arc::clone(&settings);
        let progress = progress.clone();
        std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || write_outcomes(out, &settings, out_rx, progress, started))
            .expect("spawn writer")
    };
    for f in early_failures {
        let _ = out_tx.send((Outcome::Failure(f, None), 0.0));
    }
    let feeder = std::thread::Builder::new()
        .name("feeder".into())
        .spawn(move || {
            for i in todo {
                if input_tx.send(i).is_err() {
                    break;
                }
            }
        })
        .expect("spawn feeder");
    let mut visuals = Vec::new();
    for (n, ocr) in ocrs.into_iter().enumerate() {
        let settings = Arc::clone(&settings);
        let rx = visual_rx.clone();
        let tx = out_tx.clone();
        visuals.push(
            std::thread::Builder::new()
                .name(format!("visual-{n}"))
                .spawn(move || {
                    let mut ocr = ocr;
                    for job in rx {
                        let key = job.key;
                        let began = Instant::now();
                        let result = read_visual(&job, &settings, ocr.as_mut()).map(|mut v| {
                            v.busy_s = began.elapsed().as_secs_f64();
                            v
                        });
                        if tx.send((Outcome::Visual(key, result), 0.0)).is_err() {
                            break; // the writer is gone: the run is stopping
                        }
                    }
                })
                .expect("spawn visual worker"),
        );
    }
    drop(visual_rx);
    let mut decoders = Vec::new();
    for (n, vad) in vads.into_iter().enumerate() {
        let settings = Arc::clone(&settings);
        let rx = input_rx.clone();
        let tx = prep_tx.clone();
        let visual_tx = visual_tx.clone();
        decoders.push(
            std::thread::Builder::new()
                .name(format!("decode-{n}"))
                .spawn(move || {
                    let mut vad = vad;
                    for (i, input) in rx.into_iter().enumerate() {
                        let key = ((n as u64) << 40) | i as u64;
                        if decode(input, key, &settings, vad.as_mut(), &tx, &visual_tx).is_err() {
                            break; // the ASR stage is gone: the run is stopping
                        }
                    }
                })
                .expect("spawn decoder"),
        );
    }
    drop(prep_tx);
    drop(input_rx);
    drop(visual_tx);

    recognise(&model, &settings, prep_rx, &out_tx);
    drop(out_tx);
    let _ = feeder.join();
    for d in decoders {
        let _ = d.join();
    }
    for v in visuals {
        let _ = v.join();
    }
    let written = writer.join().expect("writer thread").with_context(|| {
        format!(
            "stopped: cannot write to {}; what was committed before is intact; free space or make it \
             writable, then rerun the same command to finish the job",
            settings.output.display()
        )
    })?;
    progress.finish_and_clear();
    summary.documents = written.documents;
    summary.failed = written.failed;
    summary.media_s = written.media_s;
    summary.speech_s = written.speech_s;
    summary.keyframes = written.keyframes;
    summary.ocr_frames = written.ocr_frames;
    summary.visual_s = round(written.visual_s, 3);
    summary.wall_s = started.elapsed().as_secs_f64();
    summary.peak_rss_mib = peak_rss_mib();
    Ok(summary)
}

/// A decode worker's job for one input: checks, download, probe, hash, then the audio streamed
/// through FFmpeg and Silero VAD, cut into speech windows that go to the ASR stage as they are
/// ready. `Err` only when the ASR stage is gone.
fn decode(
    input: Input,
    key: u64,
    s: &Settings,
    vad: Option<&mut SileroVad>,
    tx: &Sender<Decoded>,
    visual_tx: &Sender<VisualJob>,
) -> Result<(), crossbeam_channel::SendError<Decoded>> {
    let mut visual = None;
    match decode_input(input, key, s, vad, tx, visual_tx, &mut visual) {
        Ok(()) => Ok(()),
        Err(DecodeError::Failed(f)) => tx.send(Decoded::Failed(f, visual)),
        Err(DecodeError::Gone(e)) => Err(e),
    }
}

enum DecodeError {
    Failed(Failure),
    Gone(crossbeam_channel::SendError<Decoded>),
}

impl From<Failure> for DecodeError {
    fn from(f: Failure) -> Self {
        DecodeError::Failed(f)
    }
}

impl From<crossbeam_channel::SendError<Decoded>> for DecodeError {
    fn from(e: crossbeam_channel::SendError<Decoded>) -> Self {
        DecodeError::Gone(e)
    }
}

fn decode_input(
    input: Input,
    key: u64,
    s: &Settings,
    mut vad: Option<&mut SileroVad>,
    tx: &Sender<Decoded>,
    visual_tx: &Sender<VisualJob>,
    visual: &mut Option<u64>,
) -> Result<(), DecodeError> {
    let uri = input.uri.clone();
    let fail = |stage: Stage, e: &dyn std::fmt::Display| Failure::new(uri.clone(), stage, e);
    // The bytes to read: the file itself, or the download of a URL (removed when done).
    let mut _download = None;
    let local: PathBuf = match &input.location {
        Location::File(p) => {
            // stat before open: opening a FIFO would block.
            match std::fs::metadata(p) {
                Err(e) => return Err(DecodeError::Failed(fail(Stage::Input, &e))),
                Ok(m) if m.is_dir() => {
                    return Err(DecodeError::Failed(fail(Stage::Input, &"is a directory")))
                }
                Ok(m) if !m.is_file() => {
                    return Err(DecodeError::Failed(fail(
                        Stage::Input,
                        &"not a regular file (fifo, socket or device)",
                    )))
                }
                Ok(m) if m.len() == 0 => {
                    return Err(DecodeError::Failed(fail(
                        Stage::Input,
                        &"empty file (0 bytes)",
                    )))
                }
                Ok(_) => {}
            }
            if let Err(e) = std::fs::File::open(p) {
                return Err(DecodeError::Failed(fail(Stage::Input, &e)));
            }
            p.clone()
        }
        Location::Url(u) => {
            let name = &input::to_hex(&<sha2::Sha256 as sha2::Digest>::digest(u.as_bytes()))[..24];
            let dest = s.output.join("downloads").join(format!("{name}.download"));
            let limits = vid2text_media::DownloadLimits {
                max_bytes: s.max_download_bytes,
                total: s.timeout,
                stall: s.timeout.min(Duration::from_secs(60)),
            };
            vid2text_media::download(u, &dest, limits).map_err(|e| fail(Stage::Download, &e))?;
            _download = Some(Arc::new(RemoveOnDrop(dest.clone())));
            dest
        }
    };
    let target = local.display().to_string();
    let info = vid2text_media::probe(&target, s.timeout).map_err(|e| fail(Stage::Probe, &e))?;
    let id = input::document_id(&input, &local).map_err(|e| fail(Stage::Input, &e))?;
    let truncated_s = s.max_duration_s.filter(|&m| info.duration_s > m);
    // Screen text and subtitle streams are read by the visual workers meanwhile.
    let wants_ocr = s.ocr_models.is_some() && info.has_video();
    if wants_ocr || !info.subtitles.is_empty() {
        let job = VisualJob {
            key,
            uri: input.uri.clone(),
            target: target.clone(),
            info: info.clone(),
            _download: _download.clone(),
        };
        if visual_tx.send(job).is_err() {
            return Err(fail(Stage::Ocr, &"the visual workers stopped").into());
        }
        *visual = Some(key);
    }
    let header = Header {
        input,
        id,
        info,
        truncated_s,
        visual: *visual,
    };
    if !header.info.has_audio() {
        tx.send(Decoded::Begin(key, Box::new(header)))?;
        tx.send(Decoded::End(key))?;
        return Ok(());
    }

    // Pass 1: decode, feed VAD, keep the samples of short inputs.
    let mut stream = VadStream::new();
    let mut kept: Vec<f32> = Vec::new();
    let mut keep = true;
    let mut vad_error = None;
    let end =
        vid2text_media::decode_audio_stream(&target, s.timeout, s.max_duration_s, &mut |chunk| {
            if let Some(v) = vad.as_deref_mut() {
                if let Err(e) = stream.push(v, chunk) {
                    vad_error = Some(e.to_string());
                    return Err(vid2text_media::Error::Invalid(
                        "voice activity detection failed".into(),
                    ));
                }
            }
            if keep {
                if kept.len() + chunk.len() > KEEP_SAMPLES {
                    keep = false;
                    kept = Vec::new();
                } else {
                    kept.extend_from_slice(chunk);
                }
            }
            Ok(())
        });
    if let Some(e) = vad_error {
        return Err(fail(Stage::Vad, &e).into());
    }
    let end = end.map_err(|e| fail(Stage::Decode, &e))?;
    let total = end.samples as usize;
    // FFmpeg decodes what it can of a damaged file and exits 0: a file whose audio ends well
    // before its stated duration is truncated or corrupt, not a short document.
    let expected = s.capped(header.info.audio_duration_s());
    let got = total as f64 / 16_000.0;
    if expected > 0.0 && got < expected * 0.9 - 0.5 {
        let mut msg =
            format!("truncated or corrupt: decoded {got:.1} s of {expected:.1} s of audio");
        if !end.warnings.is_empty() {
            msg += &format!(" (ffmpeg: {})", end.warnings);
        }
        return Err(fail(Stage::Decode, &msg).into());
    }
    let plans = match vad {
        Some(v) => {
            let probs = stream.finish(v).map_err(|e| fail(Stage::Vad, &e))?;
            let spans = speech_spans(&probs, total, &s.vad);
            plan_windows(&spans, (s.decode.max_kept_pause_s * 16_000.0) as usize)
        }
        None => plan_fixed_windows(total, FIXED_WINDOW),
    };
    tx.send(Decoded::Begin(key, Box::new(header)))?;

    if keep {
        for plan in plans {
            let mut audio = Vec::with_capacity(plan.samples());
            for &(a, b) in &plan.ranges {
                audio.extend_from_slice(&kept[a.min(total)..b.min(total)]);
            }
            tx.send(Decoded::Window {
                key,
                ranges: plan.ranges,
                audio,
                speech_starts: plan.speech_starts,
            })?;
        }
    } else {
        // Pass 2: decode again and cut the windows' ranges out as the samples go by. Ranges
        // come in order; a window is sent once its last range is complete.
        let pieces: Vec<(usize, usize, usize)> = plans
            .iter()
            .enumerate()
            .flat_map(|(w, p)| p.ranges.iter().map(move |&(a, b)| (w, a, b)))
            .collect();
        let mut plans: Vec<Option<WindowPlan>> = plans.into_iter().map(Some).collect();
        let mut pos = 0usize;
        let mut next = 0usize;
        let mut current: Vec<f32> = Vec::new();
        let mut gone = None;
        let mut send_window = |w: usize, audio: Vec<f32>| {
            let plan = plans[w].take().expect("each window once");
            tx.send(Decoded::Window {
                key,
                ranges: plan.ranges,
                audio,
                speech_starts: plan.speech_starts,
            })
        };
        let second = vid2text_media::decode_audio_stream(
            &target,
            s.timeout,
            s.max_duration_s,
            &mut |chunk| {
                let (chunk_start, chunk_end) = (pos, pos + chunk.len());
                pos = chunk_end;
                while let Some(&(w, start, end)) = pieces.get(next) {
                    if start >= chunk_end {
                        break;
                    }
                    let (a, b) = (start.max(chunk_start), end.min(chunk_end));
                    if a < b {
                        current.extend_from_slice(&chunk[a - chunk_start..b - chunk_start]);
                    }
                    if end > chunk_end {
                        break; // the range goes on in the next chunk
                    }
                    next += 1;
                    let last_of_window = pieces.get(next).is_none_or(|p| p.0 != w);
                    if last_of_window {
                        if let Err(e) = send_window(w, std::mem::take(&mut current)) {
                            gone = Some(e);
                            return Err(vid2text_media::Error::Invalid("stopping".into()));
                        }
                    }
                }
                Ok(())
            },
        );
        if let Some(e) = gone {
            return Err(e.into());
        }
        if let Err(e) = second {
            return Err(fail(Stage::Decode, &format!("second pass: {e}")).into());
        }
        // Audio shorter on the second pass than the first: flush what is there.
        if let Some(&(w, _, _)) = pieces.get(next) {
            send_window(w, current)?;
        }
    }
    tx.send(Decoded::End(key))?;
    Ok(())
}

/// Removes a temporary file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Active {
    key: u64,
    header: Box<Header>,
    job: Transcription,
}

/// Decoded windows held in memory at most, beyond those needed to make progress: enough for
/// every replica's next batch.
fn max_pending_windows(s: &Settings) -> usize {
    4 * s.batch_size.max(2) * s.engine.replicas.max(1)
}

/// The ASR stage: takes the decoded inputs' windows as they stream in and serves them in
/// batched Whisper calls, across and within videos. Each model replica has a worker thread that
/// runs batches; this thread chooses them, so a replica never waits for another to finish. It
/// reads new windows only while few are pending, so decoding never runs far ahead of
/// recognition (memory stays bounded).
fn recognise(
    model: &WhisperModel,
    s: &Settings,
    rx: Receiver<Decoded>,
    tx: &Sender<(Outcome, f64)>,
) {
    let (work_tx, work_rx) = bounded::<Batch>(0);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<BatchDone>();
    std::thread::scope(|scope| {
        for n in 0..model.replicas() {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            std::thread::Builder::new()
                .name(format!("asr-{n}"))
                .spawn_scoped(scope, move || {
                    for batch in work_rx {
                        if done_tx.send(model.run_batch(batch)).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn ASR worker");
        }
        drop(done_tx);
        serve(model, s, rx, tx, &work_tx, &done_rx);
        drop(work_tx); // the workers finish their batch and stop
    });
}

fn serve(
    model: &WhisperModel,
    s: &Settings,
    rx: Receiver<Decoded>,
    tx: &Sender<(Outcome, f64)>,
    work: &Sender<Batch>,
    done: &Receiver<BatchDone>,
) {
    let mut active: Vec<Active> = Vec::new();
    let mut open = true;
    let mut running = 0usize;
    let emit = |outcome: Outcome, media_s: f64| tx.send((outcome, media_s)).is_ok();
    let pending = |active: &[Active]| {
        active
            .iter()
            .map(|a| a.job.pending_windows())
            .sum::<usize>()
    };
    loop {
        // Take in what is ready, without blocking, while few windows are pending.
        while open && pending(&active) < max_pending_windows(s) {
            match rx.try_recv() {
                Ok(msg) => {
                    if !accept(model, s, msg, &mut active, &emit) {
                        return;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => open = false,
            }
        }
        // Give every idle replica a batch.
        while running < model.replicas() {
            match model.next_batch(&mut jobs(&mut active), s.batch_size) {
                Some(batch) => {
                    if work.send(batch).is_err() {
                        return;
                    }
                    running += 1;
                }
                None => break,
            }
        }
        // Finished (or failed) inputs leave.
        let mut i = 0;
        while i < active.len() {
            let a = &active[i];
            if let Some(why) = a.job.failure() {
                let f = Failure::new(a.header.input.uri.clone(), Stage::Asr, why);
                let a = active.swap_remove(i);
                if !emit(
                    Outcome::Failure(f, a.header.visual),
                    a.header.info.duration_s,
                ) {
                    return;
                }
            } else if a.job.is_done() {
                let a = active.swap_remove(i);
                let duration = a.header.info.duration_s;
                let visual = a.header.visual;
                if !emit(
                    Outcome::Document(Box::new(document(*a.header, a.job.finish(), s)), visual),
                    duration,
                ) {
                    return;
                }
            } else {
                i += 1;
            }
        }
        if running > 0 {
            // Wait for a batch to finish, or for more input while there is room for it.
            let finished = if open && pending(&active) < max_pending_windows(s) {
                crossbeam_channel::select! {
                    recv(done) -> d => Some(d),
                    recv(rx) -> msg => {
                        match msg {
                            Ok(msg) => {
                                if !accept(model, s, msg, &mut active, &emit) {
                                    return;
                                }
                            }
                            Err(_) => open = false,
                        }
                        None
                    }
                }
            } else {
                Some(done.recv())
            };
            if let Some(d) = finished {
                running -= 1;
                model.apply(
                    &mut jobs(&mut active),
                    d.expect("a worker per running batch"),
                );
            }
            continue;
        }
        // Nothing could run: wait for the next message (or stop when there is none).
        if !open {
            if active.is_empty() {
                return;
            }
            // Inputs that never ended (a decoder stopped): nothing more will come.
            for a in active.drain(..) {
                let f = Failure::new(
                    a.header.input.uri.clone(),
                    Stage::Decode,
                    "decoding stopped",
                );
                if !emit(Outcome::Failure(f, a.header.visual), 0.0) {
                    return;
                }
            }
            return;
        }
        match rx.recv() {
            Ok(msg) => {
                if !accept(model, s, msg, &mut active, &emit) {
                    return;
                }
            }
            Err(_) => open = false,
        }
    }
}

/// The transcriptions of the active inputs, as the model's batch calls take them.
fn jobs(active: &mut [Active]) -> Vec<&mut Transcription> {
    active.iter_mut().map(|a| &mut a.job).collect()
}

/// Applies one decoder message. False when the writer is gone.
fn accept(
    model: &WhisperModel,
    s: &Settings,
    msg: Decoded,
    active: &mut Vec<Active>,
    emit: &dyn Fn(Outcome, f64) -> bool,
) -> bool {
    match msg {
        Decoded::Failed(f, visual) => emit(Outcome::Failure(f, visual), 0.0),
        Decoded::Begin(key, header) => match model.begin(&s.decode) {
            Ok(job) => {
                active.push(Active { key, header, job });
                true
            }
            Err(e) => {
                let f = Failure::new(header.input.uri.clone(), Stage::Asr, e);
                emit(Outcome::Failure(f, header.visual), header.info.duration_s)
            }
        },
        Decoded::Window {
            key,
            ranges,
            audio,
            speech_starts,
        } => {
            if let Some(a) = active.iter_mut().find(|a| a.key == key) {
                a.job.push_window(&ranges, audio, speech_starts);
            }
            true
        }
        Decoded::End(key) => {
            if let Some(a) = active.iter_mut().find(|a| a.key == key) {
                a.job.end_input();
            }
            true
        }
    }
}

/// Assembles the document of one input.
fn document(p: Header, t: Transcript, s: &Settings) -> Document {
    let speech = t.segments;
    // Rendered again by the writer once screen text and subtitles have joined.
    let text = render::render(s.text_format, &speech, &[], &[]);
    let mut dropped: BTreeMap<String, u64> = t.dropped;
    dropped.retain(|_, v| *v > 0);
    let audio = p.info.audio.first().map(|a| AudioInfo {
        codec: a.codec.clone(),
        channels: a.channels,
        sample_rate: a.sample_rate,
    });
    let mut meta = p.input.meta;
    if let Some(t) = p.truncated_s {
        meta.insert("truncated_at_s".into(), serde_json::json!(t));
    }
    Document {
        id: p.id,
        source: p.input.uri,
        duration_s: round(p.info.duration_s, 3),
        language: if speech.is_empty() { None } else { t.language },
        stats: Stats {
            speech_s: round(t.speech_s, 3),
            words: render::words(&text),
            dropped,
            asr_windows: t.windows as u64,
            asr_passes: t.passes as u64,
            language_probability: if speech.is_empty() {
                None
            } else {
                t.language_probability.map(|p| round(p, 4))
            },
            audio,
            has_video: p.info.has_video(),
            ..Stats::default()
        },
        text,
        speech,
        screen_text: Vec::new(),
        subtitles: Vec::new(),
        pipeline: PipelineInfo {
            version: vid2text_core::VERSION.to_string(),
            asr_model: Some(s.asr_model_name.clone()),
            ocr_model: s.ocr_models.as_ref().map(|_| "PP-OCRv4".to_string()),
            vad_model: s.vad_model.as_ref().map(|_| "silero_vad-6.2.3".to_string()),
            config_hash: s.config_hash.clone(),
        },
        meta,
    }
}

/// Adds what the visual workers found to a document and renders its text again.
fn join_visual(doc: &mut Document, v: Visual, s: &Settings) {
    doc.screen_text = v.screen_text;
    doc.subtitles = v.subtitles;
    doc.stats.keyframes = v.keyframes;
    doc.stats.ocr_frames = v.ocr_frames;
    doc.stats.skipped_subtitle_streams = v.skipped_subtitle_streams;
    doc.text = render::render(s.text_format, &doc.speech, &doc.screen_text, &doc.subtitles);
    doc.stats.words = render::words(&doc.text);
}

/// A visual worker's job for one input: its text subtitle streams, then its keyframes through
/// OCR (near-identical keyframes skipped), merged into screen-text spans.
fn read_visual(
    job: &VisualJob,
    s: &Settings,
    ocr: Option<&mut OcrEngine>,
) -> Result<Box<Visual>, Failure> {
    let mut v = Visual::default();
    for stream in &job.info.subtitles {
        if !stream.is_text() {
            v.skipped_subtitle_streams.push(stream.codec.clone());
            continue;
        }
        let cues = vid2text_media::extract_subtitles(
            &job.target,
            stream.index,
            s.max_duration_s,
            s.timeout,
        )
        .map_err(|e| {
            Failure::new(
                job.uri.clone(),
                Stage::Subtitles,
                format!("stream {} ({}): {e}", stream.index, stream.codec),
            )
        })?;
        v.subtitles.extend(cues.into_iter().map(|c| SubtitleCue {
            start: round(c.start, 3),
            end: round(c.end, 3),
            text: c.text,
            stream: stream.index,
            language: stream.language.clone(),
        }));
    }
    v.subtitles.sort_by(|a, b| a.start.total_cmp(&b.start));
    let Some(ocr) = ocr else {
        return Ok(Box::new(v));
    };
    if !job.info.has_video() {
        return Ok(Box::new(v));
    }
    let mut tracker = ScreenTracker::new();
    let mut last: Option<Thumbnail> = None;
    let mut last_t = 0.0f64;
    // Back-off on changing pictures where OCR finds nothing new (motion, a running timecode):
    // after n such reads in a row, the next read waits min(n, max) seconds. New text resets it.
    let mut quiet = 0u32;
    let mut last_read_t = f64::NEG_INFINITY;
    let mut ocr_error = None;
    let end = vid2text_media::keyframes(&job.target, &s.keyframes, s.timeout, &mut |frame| {
        v.keyframes += 1;
        last_t = frame.t;
        let img = RgbImage::new(frame.width as usize, frame.height as usize, frame.rgb);
        let thumb = Thumbnail::of(&img);
        let wait = (quiet as f64).min(s.ocr_backoff_s);
        if last.as_ref().is_some_and(|l| l.same_picture(&thumb))
            || frame.t - last_read_t < wait - 1e-6
        {
            tracker.hold(frame.t);
            return Ok(());
        }
        match ocr.recognize(&img, s.ocr_min_confidence) {
            Ok(lines) => {
                v.ocr_frames += 1;
                let lines: Vec<(String, f32)> =
                    lines.into_iter().map(|l| (l.text, l.confidence)).collect();
                let new = tracker.observe(frame.t, &lines);
                quiet = if new > 0 { 0 } else { quiet + 1 };
                last_read_t = frame.t;
                last = Some(thumb);
                Ok(())
            }
            Err(e) => {
                ocr_error = Some(e.to_string());
                Err(vid2text_media::Error::Invalid("OCR failed".into()))
            }
        }
    });
    if let Some(e) = ocr_error {
        return Err(Failure::new(job.uri.clone(), Stage::Ocr, e));
    }
    end.map_err(|e| Failure::new(job.uri.clone(), Stage::Ocr, format!("keyframes: {e}")))?;
    let duration = s.capped(job.info.duration_s);
    // A damaged video-only file decodes in part and FFmpeg exits 0: its frames stop well before
    // its stated length. (With audio, the audio check of the decode stage catches it.)
    if !job.info.has_audio() {
        let expected = s.capped(job.info.video_duration_s());
        if v.keyframes == 0 && expected > 1.0 {
            return Err(Failure::new(
                job.uri.clone(),
                Stage::Ocr,
                "no video frame could be decoded",
            ));
        }
        if last_t < expected * 0.9 - 2.0 {
            return Err(Failure::new(
                job.uri.clone(),
                Stage::Ocr,
                format!(
                    "truncated or corrupt: video frames end at {last_t:.1} s of {expected:.1} s"
                ),
            ));
        }
    }
    v.screen_text = tracker.finish(duration);
    Ok(Box::new(v))
}

#[derive(Default)]
struct Written {
    documents: usize,
    failed: usize,
    media_s: f64,
    speech_s: f64,
    keyframes: u64,
    ocr_frames: u64,
    visual_s: f64,
}

/// The writer stage: sidecars first, then documents and failures committed in parts.
fn write_outcomes(
    mut out: OutDir,
    s: &Settings,
    rx: Receiver<(Outcome, f64)>,
    progress: ProgressBar,
    started: Instant,
) -> Result<Written> {
    let mut docs: Vec<Document> = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut w = Written::default();
    let mut last_commit = Instant::now();
    // Halves of inputs whose other half (ASR or visual) has not arrived yet.
    let mut waiting_asr: HashMap<u64, (Outcome, f64)> = HashMap::new();
    let mut waiting_visual: HashMap<u64, Result<Box<Visual>, Failure>> = HashMap::new();
    let commit =
        |out: &mut OutDir, docs: &mut Vec<Document>, failures: &mut Vec<Failure>| -> Result<()> {
            out.commit_documents(docs)?;
            docs.clear();
            out.commit_failures(failures)?;
            failures.clear();
            Ok(())
        };
    loop {
        let event = rx.recv_timeout(Duration::from_millis(500));
        // A finished input: the ASR outcome, with its visual result joined.
        let finished = match event {
            Ok((Outcome::Visual(key, visual), _)) => match waiting_asr.remove(&key) {
                Some((outcome, media_s)) => Some((outcome, Some(visual), media_s)),
                None => {
                    waiting_visual.insert(key, visual);
                    None
                }
            },
            Ok((outcome, media_s)) => {
                let key = match &outcome {
                    Outcome::Document(_, k) | Outcome::Failure(_, k) => *k,
                    Outcome::Visual(..) => unreachable!("matched above"),
                };
                match key {
                    None => Some((outcome, None, media_s)),
                    Some(k) => match waiting_visual.remove(&k) {
                        Some(visual) => Some((outcome, Some(visual), media_s)),
                        None => {
                            waiting_asr.insert(k, (outcome, media_s));
                            None
                        }
                    },
                }
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some((outcome, visual, media_s)) = finished {
            finish_input(
                &out,
                s,
                outcome,
                visual,
                &mut docs,
                &mut failures,
                &mut w,
                &progress,
            )?;
            w.media_s += media_s;
            progress.inc(1);
            let elapsed = started.elapsed().as_secs_f64();
            progress.set_message(format!(
                "{:.2} h media, {:.1}x real time",
                w.media_s / 3600.0,
                if elapsed > 0.0 {
                    w.media_s / elapsed
                } else {
                    0.0
                }
            ));
        }
        if docs.len() + failures.len() >= s.commit_every
            || last_commit.elapsed() >= s.commit_interval
        {
            commit(&mut out, &mut docs, &mut failures)?;
            last_commit = Instant::now();
        }
    }
    // Visual results that never came (a worker stopped): those inputs failed.
    for (_, (outcome, media_s)) in waiting_asr.drain() {
        let uri = match &outcome {
            Outcome::Document(d, _) => d.source.clone(),
            Outcome::Failure(f, _) => f.uri.clone(),
            Outcome::Visual(..) => continue,
        };
        let stopped = Err(Failure::new(uri, Stage::Ocr, "the visual stage stopped"));
        finish_input(
            &out,
            s,
            outcome,
            Some(stopped),
            &mut docs,
            &mut failures,
            &mut w,
            &progress,
        )?;
        w.media_s += media_s;
    }
    commit(&mut out, &mut docs, &mut failures)?;
    if s.retry_failed {
        out.compact_failures()?;
    }
    out.mark_shard_done(&serde_json::json!({"documents": w.documents, "failed": w.failed}))?;
    Ok(w)
}

/// Records one finished input: its document (screen text joined, sidecars written) or its
/// failure. A failed ASR stage wins over a failed visual stage. `Err` only for fatal IO.
#[allow(clippy::too_many_arguments)]
fn finish_input(
    out: &OutDir,
    s: &Settings,
    outcome: Outcome,
    visual: Option<Result<Box<Visual>, Failure>>,
    docs: &mut Vec<Document>,
    failures: &mut Vec<Failure>,
    w: &mut Written,
    progress: &ProgressBar,
) -> Result<()> {
    let mut fail = |f: Failure, failures: &mut Vec<Failure>| {
        w.failed += 1;
        report(progress, &f);
        failures.push(f);
    };
    match (outcome, visual) {
        (Outcome::Failure(f, _), _) => fail(f, failures),
        (Outcome::Document(..), Some(Err(f))) => fail(f, failures),
        (Outcome::Document(doc, _), visual) => {
            let mut doc = *doc;
            if let Some(Ok(v)) = visual {
                w.visual_s += v.busy_s;
                join_visual(&mut doc, *v, s);
            }
            if let Err(e) = write_subtitles(out, s, &doc) {
                if e.is_fatal_io() {
                    return Err(e.into());
                }
                fail(Failure::new(doc.source.clone(), Stage::Write, e), failures);
            } else {
                w.documents += 1;
                w.speech_s += doc.stats.speech_s;
                w.keyframes += doc.stats.keyframes;
                w.ocr_frames += doc.stats.ocr_frames;
                docs.push(doc);
            }
        }
        (Outcome::Visual(..), _) => unreachable!("visual results are joined, not finished"),
    }
    Ok(())
}

fn write_subtitles(out: &OutDir, s: &Settings, doc: &Document) -> vid2text_core::Result<()> {
    for &format in &s.subtitles {
        let body = subtitles::render(format, &doc.speech);
        out.write_sidecar(
            "subtitles",
            &format!("{}.{}", doc.id, format.extension()),
            body.as_bytes(),
        )?;
    }
    Ok(())
}

fn report(progress: &ProgressBar, f: &Failure) {
    // Failures are always named on stderr, above the progress bar when there is one.
    progress.suspend(|| eprintln!("vid2text: {f}"));
}
