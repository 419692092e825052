//! vid2text: turn videos into clean text for training language models.
//!
//! Exit codes: 0 when every input became a document, 1 when some inputs failed (each is recorded
//! under OUT/failures/ and named on stderr), 2 for usage or configuration errors.

mod cli;
mod cluster;
mod dedup;
mod pipeline;
mod settings;
mod stages;
mod stop;
mod summary;
mod tune;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{CatArgs, Cli, Command, ModelsArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    vid2text_media::set_tools(ffmpeg_tools());
    match &cli.command {
        Command::Run(args) => tune::reexec(Some(!args.no_ocr)),
        Command::Work(args) => tune::reexec(Some(cluster::plan_reads_screens(&args.job))),
        Command::Models(_) => tune::reexec(None),
        _ => {}
    }
    let result = match cli.command {
        Command::Run(args) => settings::Settings::from_args(*args).and_then(run),
        Command::Work(args) => cluster::work_settings(args).and_then(run),
        Command::Plan(args) => cluster::plan(*args),
        Command::Status(args) => cluster::status(args),
        Command::Slurm(args) => cluster::slurm(args),
        Command::K8s(args) => cluster::k8s(args),
        Command::Dedup(args) => dedup::dedup(args),
        Command::Stats(args) => stats(args).map(|_| ExitCode::SUCCESS),
        Command::Models(args) => models(args).map(|_| ExitCode::SUCCESS),
        Command::Cat(args) => cat(args).map(|_| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`vid2text cat OUT | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("vid2text: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `run`, and `work` on one shard: the pipeline, its summary, the exit status.
fn run(settings: settings::Settings) -> anyhow::Result<ExitCode> {
    let (json, quiet) = (settings.json, settings.quiet);
    stop::install().context("cannot install the SIGTERM and SIGINT handlers")?;
    let summary = pipeline::run(settings)?;
    if !quiet || summary.stopped.is_some() {
        eprintln!("vid2text: {}", summary.line());
    }
    if json {
        // A closed stdout (`--json | head -c 0`) is not an error, as in ripgrep: the documents
        // are committed whatever becomes of the summary.
        let line = serde_json::to_string(&summary)?;
        if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    if let Some(sig) = stop::signal() {
        // 128 + the signal, as a shell reports a process the signal ended. At once: stages may
        // still be inside the engines, whose static destructors must not run under them.
        let _ = std::io::stdout().flush();
        stop::exit(128 + sig);
    }
    Ok(if summary.any_failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The FFmpeg executables: `VID2TEXT_FFMPEG` and `VID2TEXT_FFPROBE` when set; else the static
/// build that `scripts/setup.sh` unpacks into `MODELS/ffmpeg/` (both present), which starts in
/// 4 ms where Debian's FFmpeg, linked to 215 shared libraries, takes 60-90 ms, twice or more per
/// input; else `ffmpeg` and `ffprobe` on `PATH`.
fn ffmpeg_tools() -> vid2text_media::Tools {
    let dir = vid2text_models::registry::models_dir().join("ffmpeg");
    let bundled = dir.join("ffmpeg").is_file() && dir.join("ffprobe").is_file();
    let pick = |var: &str, name: &str| match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => std::path::PathBuf::from(v),
        None if bundled => dir.join(name),
        None => name.into(),
    };
    vid2text_media::Tools {
        ffmpeg: pick("VID2TEXT_FFMPEG", "ffmpeg"),
        ffprobe: pick("VID2TEXT_FFPROBE", "ffprobe"),
    }
}

fn models(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = args
        .models_dir
        .unwrap_or_else(vid2text_models::registry::models_dir);
    let items = vid2text_models::registry::inventory(&dir);
    let mut out = std::io::stdout().lock();
    writeln!(out, "model directory: {}", dir.display())?;
    writeln!(
        out,
        "engine: {}",
        vid2text_models::engine::engine_info().describe()
    )?;
    let tools = vid2text_media::tools();
    writeln!(
        out,
        "ffmpeg: {}, ffprobe: {}",
        tools.ffmpeg.display(),
        tools.ffprobe.display()
    )?;
    if items.is_empty() {
        writeln!(out, "no models installed; run scripts/setup.sh")?;
    }
    for (kind, name, path, size) in items {
        writeln!(
            out,
            "{kind:<8} {name:<14} {:>8.1} MB  {}",
            size as f64 / 1e6,
            path.display()
        )?;
    }
    Ok(())
}

fn stats(args: cli::StatsArgs) -> anyhow::Result<()> {
    use vid2text_core::stats::CorpusStats;
    let s = CorpusStats::of(&args.output)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: {} documents, {:.2} h of media, {:.2} h of speech; text: {} words and {} CJK characters",
        args.output.display(),
        s.documents,
        s.media_hours,
        s.speech_hours,
        s.text.words,
        s.text.cjk_chars
    )?;
    writeln!(
        out,
        "\n{:<10} {:>9} {:>9} {:>9} {:>12} {:>12}",
        "language", "documents", "media h", "speech h", "words", "CJK chars"
    )?;
    for (lang, l) in &s.languages {
        writeln!(
            out,
            "{lang:<10} {:>9} {:>9.2} {:>9.2} {:>12} {:>12}",
            l.documents, l.media_hours, l.speech_hours, l.text.words, l.text.cjk_chars
        )?;
    }
    writeln!(
        out,
        "\n{:<10} {:>9} {:>12} {:>12}",
        "source", "spans", "words", "CJK chars"
    )?;
    for (name, src) in &s.sources {
        writeln!(
            out,
            "{name:<10} {:>9} {:>12} {:>12}",
            src.spans, src.text.words, src.text.cjk_chars
        )?;
    }
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            return "none".to_string();
        }
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "\nleft out of documents (segments, lines): {}",
        list(&s.dropped)
    )?;
    writeln!(
        out,
        "inputs left out (OUT/dropped): {}",
        list(&s.dropped_inputs)
    )?;
    if !s.marked_duplicates.is_empty() {
        writeln!(
            out,
            "marked by vid2text dedup: {}",
            list(&s.marked_duplicates)
        )?;
    }
    writeln!(out, "personal data replaced: {}", list(&s.pii_replaced))?;
    writeln!(
        out,
        "failures: {} ({})",
        s.failures,
        list(&s.failures_by_stage)
    )?;
    Ok(())
}

fn cat(args: CatArgs) -> anyhow::Result<()> {
    let skip = match args.skip_duplicates {
        true => dedup::marked(&args.output)?,
        false => Default::default(),
    };
    let mut out = std::io::stdout().lock();
    for line in vid2text_core::outdir::DocumentLines::of(&args.output)? {
        let line = line?;
        if args.text || !skip.is_empty() {
            let doc: serde_json::Value = serde_json::from_str(&line)?;
            if skip.contains(doc["source"].as_str().unwrap_or("")) {
                continue;
            }
            if !args.text {
                writeln!(out, "{line}")?;
                continue;
            }
            writeln!(
                out,
                "# {}\n{}\n",
                doc["source"].as_str().unwrap_or(""),
                doc["text"].as_str().unwrap_or("")
            )?;
        } else {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
