//! `vid2text run`: the stages ([`crate::stages`]) wired together by bounded channels.
//!
//! ```text
//! feeder ─► [decode workers: ffprobe, sha256, FFmpeg → 16 kHz PCM, Silero VAD] ─► ASR (Whisper,
//!     │        windows of many inputs batched per call, one worker per replica) ───┐
//!     │                 └──► [visual workers: subtitle streams; keyframes → PP-OCR] ─┴─► writer
//!     └ discovery failures ──────────────────────────────────────────────────────────► (join,
//!                                                               assemble, commit parts)
//! ```
//!
//! Bounded channels keep memory flat: at most a few decoded inputs wait for the ASR stage, and a
//! decode worker hands an input to the visual workers only when one is free, so OCR and ASR of
//! different inputs overlap.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::bounded;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vid2text_core::dedup::Index;
use vid2text_core::doc::Failure;
use vid2text_core::input::{self, Input};
use vid2text_core::outdir::OutDir;
use vid2text_core::round;
use vid2text_models::onnx_environment;

use crate::settings::Settings;
use crate::stages::asr::Asr;
use crate::stages::decode::Decoder;
use crate::stages::visual::{OcrModels, Reader};
use crate::stages::writer::Writer;
use crate::stages::{AsrDone, Audio, DecodeJob, InputKey, VisualDone, VisualJob};
use crate::summary::{peak_rss_mib, StageSeconds, Summary};

/// Runs the job. `Err` stops the run (exit 2): OUT unusable, models that do not load, a full or
/// read-only disk; a failed input is a record in OUT/failures, not an error.
pub fn run(settings: Settings) -> Result<Summary> {
    let started = Instant::now();
    let mut out = match &settings.shard {
        None => OutDir::open(&settings.output, 0),
        Some(s) => OutDir::open_shard(&settings.output, s.index),
    }
    .with_context(|| format!("cannot use output directory {}", settings.output.display()))?;
    out.ensure_config(&settings.run_json(), settings.new_config_generation)?;
    out.set_format(settings.format);
    let stages = Stages::build(&settings)?;
    let Discovered {
        todo,
        early,
        mut summary,
        index,
    } = discover(&settings, &out)?;
    let progress = progress_bar(settings.quiet, (todo.len() + early.len()) as u64);

    let (job_tx, job_rx) = bounded::<DecodeJob>(settings.decode_workers * 2);
    let (audio_tx, audio_rx) = bounded::<Audio>(settings.decode_workers.max(2));
    let (visual_tx, visual_rx) = bounded::<VisualJob>(settings.ocr_workers);
    let (asr_tx, asr_rx) = bounded::<AsrDone>(256);
    let (seen_tx, seen_rx) = bounded::<VisualDone>(256);

    let writer = Writer::new(
        settings.writer.clone(),
        out,
        progress.clone(),
        started,
        index,
    );
    let writer = spawn("writer", move || writer.run(early, asr_rx, seen_rx));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    threads.push(spawn("feeder", move || {
        for (n, input) in todo.into_iter().enumerate() {
            if crate::stop::requested() {
                break; // no new inputs after a stop
            }
            let job = DecodeJob {
                key: InputKey(n as u64),
                input,
            };
            if job_tx.send(job).is_err() {
                break;
            }
        }
    }));
    for (n, reader) in stages.readers.into_iter().enumerate() {
        let (rx, tx) = (visual_rx.clone(), seen_tx.clone());
        threads.push(spawn(&format!("visual-{n}"), move || reader.run(rx, tx)));
    }
    for (n, decoder) in stages.decoders.into_iter().enumerate() {
        let (rx, tx, visual) = (job_rx.clone(), audio_tx.clone(), visual_tx.clone());
        threads.push(spawn(&format!("decode-{n}"), move || {
            decoder.run(rx, tx, visual)
        }));
    }
    // Each stage's channel closes when the last of its senders is gone.
    drop((job_rx, audio_tx, visual_tx, visual_rx, seen_tx));
    let asr = stages.asr;
    let asr = spawn("asr", move || asr.run(audio_rx, asr_tx));
    // The writer ends last on a normal run, first on a stop: then the other stages are not
    // waited for (a generate call in flight can take long; the process exits without it).
    let written = writer.join().expect("writer thread");
    let mut model_times = Default::default();
    if crate::stop::signal().is_none() {
        for t in threads {
            let _ = t.join();
        }
        model_times = asr.join().unwrap_or_default();
    }
    let written = written.with_context(|| {
        format!(
            "stopped: cannot write to {}; what was committed before is intact; free space or make it \
             writable, then rerun the same command to finish the job",
            settings.output.display()
        )
    })?;
    progress.finish_and_clear();
    summary.documents = written.documents;
    summary.failed = written.failed;
    summary.dropped = written.dropped;
    summary.media_s = written.media_s;
    summary.speech_s = written.speech_s;
    summary.keyframes = written.keyframes;
    summary.ocr_frames = written.ocr_frames;
    summary.visual_s = round(written.visual_s, 3);
    if let Some(sig) = crate::stop::signal() {
        summary.stopped = Some(crate::stop::signal_name(sig).to_string());
        // Every input of the job not committed, now or before, is left for the rerun.
        let done = summary.skipped + summary.documents + summary.failed + summary.dropped;
        summary.left_for_rerun = Some(summary.inputs.saturating_sub(done));
    }
    summary.stages = StageSeconds::now(&model_times, summary.visual_s);
    summary.wall_s = started.elapsed().as_secs_f64();
    summary.peak_rss_mib = peak_rss_mib();
    Ok(summary)
}

/// Every stage built, its models loaded once, before any input is touched: a broken set-up is
/// exit 2, not one failure per input.
struct Stages {
    decoders: Vec<Decoder>,
    readers: Vec<Reader>,
    asr: Asr,
}

impl Stages {
    fn build(s: &Settings) -> Result<Self> {
        let onnx = match &s.models.onnxruntime {
            Some(lib) => Some(onnx_environment(lib)?),
            None => None,
        };
        let decode = Arc::new(s.decode.clone());
        let vad = s.models.vad.as_deref();
        let decoders = (0..s.decode_workers)
            .map(|_| Decoder::build(Arc::clone(&decode), vad))
            .collect::<Result<Vec<_>>>()?;
        let visual = Arc::new(s.visual.clone());
        let readers = (0..s.ocr_workers)
            .map(|_| {
                let models = match (&s.models.ocr, &onnx) {
                    (Some((det, rec)), Some(env)) => Some(OcrModels { det, rec, env }),
                    _ => None,
                };
                Reader::build(Arc::clone(&visual), models)
            })
            .collect::<Result<Vec<_>>>()?;
        let asr = Asr::build(s.asr.clone(), &s.models.asr_dir, &s.engine)?;
        Ok(Stages {
            decoders,
            readers,
            asr,
        })
    }
}

/// What [`discover`] finds.
struct Discovered {
    todo: Vec<Input>,
    early: Vec<Failure>,
    summary: Summary,
    /// The committed documents, for duplicates (None with `--no-dedup`).
    index: Option<Index>,
}

/// The inputs to process: everything discovered, less what OUT already holds (unless retried).
/// Discovery failures (a missing path, a bad manifest line) are recorded like any other.
/// The duplicate index is filled in the same pass over the committed parts.
fn discover(s: &Settings, out: &OutDir) -> Result<Discovered> {
    let mut index = s
        .writer
        .keep
        .dedup
        .map(|(threshold, min_tokens)| Index::new(threshold, min_tokens));
    let committed = out.committed_with(|d| {
        if let Some(index) = index.as_mut() {
            index.add_document(&d.source, &d.id, &d.text);
        }
    })?;
    let mut summary = Summary {
        output: s.output.display().to_string(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    let mut early = Vec::new();
    let items = match &s.shard {
        Some(shard) => shard
            .entries
            .iter()
            .cloned()
            .map(|e| e.into_input())
            .collect(),
        None => input::discover(&s.inputs, &|p: &Path| vid2text_media::is_media(p)),
    };
    for item in items {
        summary.inputs += 1;
        let uri = match &item {
            Ok(i) => &i.uri,
            Err(f) => &f.uri,
        };
        let retry = s.retry_failed && !committed.documents.contains(uri);
        if committed.contains(uri) && !retry {
            summary.skipped += 1;
            if committed.failures.contains(uri) {
                summary.failed_before += 1;
            }
            continue;
        }
        match item {
            Ok(i) => todo.push(i),
            Err(f) => early.push(f),
        }
    }
    Ok(Discovered {
        todo,
        early,
        summary,
        index,
    })
}

fn progress_bar(quiet: bool, len: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} inputs {msg}",
        )
        .expect("valid template"),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"))
}
