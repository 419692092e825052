//! The writer stage: joins each input's ASR result with its visual result ([`join`]), assembles
//! its document ([`assemble`]), writes its sidecars, and commits documents and failures in part
//! files (every `commit_every` inputs or `commit_interval`, and at the end). The only stage that
//! writes into OUT after start-up.

pub mod assemble;
pub mod join;
pub mod script;

use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam_channel::{never, select, Receiver};
use indicatif::ProgressBar;
use vid2text_core::dedup::{Index, Verdict};
use vid2text_core::doc::{Document, Dropped, Failure, Stage};
use vid2text_core::outdir::OutDir;
use vid2text_core::sidecar::{self, SidecarFormat};

use super::clock::{self, Part};
use super::{AsrDone, InputKey, VisualDone};
use join::Join;

/// The writer's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub assemble: assemble::Config,
    /// Sidecar subtitle files written from speech (`--subtitles`).
    pub sidecars: Vec<SidecarFormat>,
    pub commit_every: usize,
    pub commit_interval: Duration,
    /// Inputs retried from `failures/`: the records of those that now succeed are dropped.
    pub retry_failed: bool,
    /// Which documents are left out whole.
    pub keep: KeepRules,
}

/// Which documents are committed; the others are recorded in `dropped/` with their reason.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepRules {
    /// Fewest words (CJK characters count one each) in `text` (`--min-words`; 1 leaves out
    /// only empty documents).
    pub min_words: u64,
    /// Fewest seconds of speech (`--min-speech-s`).
    pub min_speech_s: f64,
    /// Only documents in these languages (`--languages`), when given.
    pub languages: Option<Vec<String>>,
    /// Duplicates and near duplicates of committed documents left out: the similarity
    /// threshold and the fewest tokens for a text comparison; None with `--no-dedup`.
    pub dedup: Option<(f64, usize)>,
}

impl Default for KeepRules {
    fn default() -> Self {
        KeepRules {
            min_words: 1,
            min_speech_s: 0.0,
            languages: None,
            dedup: Some((
                vid2text_core::dedup::DEFAULT_THRESHOLD,
                vid2text_core::dedup::DEFAULT_MIN_TOKENS,
            )),
        }
    }
}

/// What the writer committed.
#[derive(Debug, Default)]
pub struct Written {
    pub documents: usize,
    pub failed: usize,
    /// Inputs left out whole (duplicates, languages, too short).
    pub dropped: usize,
    pub media_s: f64,
    pub speech_s: f64,
    pub keyframes: u64,
    pub ocr_frames: u64,
    /// Seconds the visual workers spent, summed.
    pub visual_s: f64,
}

pub struct Writer {
    config: Config,
    out: OutDir,
    progress: ProgressBar,
    started: Instant,
    docs: Vec<Document>,
    failures: Vec<Failure>,
    dropped: Vec<Dropped>,
    last_commit: Instant,
    written: Written,
    /// Every document committed (before this run too) and kept since, for duplicates.
    index: Option<Index>,
}

impl Writer {
    /// The writer of OUT. `index` (None with `--no-dedup`) holds the documents OUT has
    /// committed (those of its shard, for `vid2text work`), read from the parts by
    /// [`OutDir::committed_with`]: always what is committed, after a kill -9 too.
    pub fn new(
        config: Config,
        out: OutDir,
        progress: ProgressBar,
        started: Instant,
        index: Option<Index>,
    ) -> Self {
        Writer {
            config,
            out,
            progress,
            started,
            docs: Vec::new(),
            failures: Vec::new(),
            dropped: Vec::new(),
            last_commit: Instant::now(),
            written: Written::default(),
            index,
        }
    }

    /// Records inputs that failed before the pipeline (discovery), then every input as its
    /// halves arrive, until both channels close. `Err` only when OUT cannot be written (a full
    /// or read-only disk): what was committed before stays intact.
    pub fn run(
        mut self,
        early: Vec<Failure>,
        asr: Receiver<AsrDone>,
        visual: Receiver<VisualDone>,
    ) -> Result<Written> {
        for f in early {
            self.fail(f);
            self.progress.inc(1);
        }
        let mut join: Join<InputKey, AsrDone, VisualDone> = Join::default();
        let (mut asr, mut visual) = (Some(asr), Some(visual));
        while asr.is_some() || visual.is_some() {
            if crate::stop::requested() {
                // What is finished is committed; inputs half done are left for the rerun.
                let seen: Vec<VisualDone> = visual.iter().flat_map(|v| v.try_iter()).collect();
                let heard: Vec<AsrDone> = asr.iter().flat_map(|a| a.try_iter()).collect();
                for v in seen {
                    if let Some((done, v)) = join.right(v.key, v) {
                        self.finish(done, v)?;
                    }
                }
                for done in heard {
                    let (key, has_visual) = (done.key, done.visual);
                    if let Some((done, v)) = join.left(key, done, has_visual) {
                        self.finish(done, v)?;
                    }
                }
                return self.stop();
            }
            let (a, v) = (
                asr.clone().unwrap_or_else(never),
                visual.clone().unwrap_or_else(never),
            );
            let joined = select! {
                recv(a) -> msg => match msg {
                    Ok(done) => {
                        let (key, has_visual) = (done.key, done.visual);
                        join.left(key, done, has_visual)
                    }
                    Err(_) => { asr = None; None }
                },
                recv(v) -> msg => match msg {
                    Ok(done) => join.right(done.key, done),
                    Err(_) => { visual = None; None }
                },
                default(Duration::from_millis(500)) => None,
            };
            let began = Instant::now();
            if let Some((done, seen)) = joined {
                self.finish(done, seen)?;
            }
            self.commit_when_due()?;
            clock::add(Part::Writer, began);
        }
        // Visual results that never came (a worker stopped): those inputs failed.
        for done in join.drain_waiting() {
            let stopped = VisualDone {
                key: done.key,
                result: Err(Failure::new(
                    uri_of(&done),
                    Stage::Ocr,
                    "the visual stage stopped",
                )),
                busy_s: 0.0,
            };
            self.finish(done, Some(stopped))?;
        }
        clock::timed(Part::Writer, || self.close())
    }

    /// One finished input: its document (visual result joined, sidecars written) or its
    /// failure. A failed ASR stage wins over a failed visual stage.
    fn finish(&mut self, done: AsrDone, visual: Option<VisualDone>) -> Result<()> {
        self.written.media_s += done.media_s;
        let visual = match visual {
            Some(v) => {
                self.written.visual_s += v.busy_s;
                Some(v.result)
            }
            None => None,
        };
        match (done.result, visual) {
            (Err(f), _) | (Ok(_), Some(Err(f))) => self.fail(f),
            (Ok((header, transcript)), visual) => {
                let visual = visual.map(|v| v.expect("failures matched above"));
                let doc = assemble::assemble(&self.config.assemble, *header, transcript, visual);
                match self.write_sidecars(&doc) {
                    Err(e) if e.is_fatal_io() => return Err(e.into()),
                    Err(e) => self.fail(Failure::new(&doc.source, Stage::Write, e)),
                    Ok(()) => self.keep(doc),
                }
            }
        }
        self.show_progress();
        Ok(())
    }

    fn keep(&mut self, doc: Document) {
        if let Some(d) = self.leave_out(&doc) {
            self.written.dropped += 1;
            self.dropped.push(d);
            return;
        }
        let w = &mut self.written;
        w.documents += 1;
        w.speech_s += doc.stats.speech_s;
        w.keyframes += doc.stats.keyframes;
        w.ocr_frames += doc.stats.ocr_frames;
        self.docs.push(doc);
    }

    /// Why `doc` is left out whole, if it is: too little content, another language, or a
    /// copy of a document committed before it.
    fn leave_out(&mut self, doc: &Document) -> Option<Dropped> {
        let keep = &self.config.keep;
        if doc.stats.words < keep.min_words || doc.stats.speech_s < keep.min_speech_s {
            return Some(Dropped::of(doc, "too_short"));
        }
        if let Some(languages) = &keep.languages {
            let language = vid2text_core::captions::document_language(doc);
            if !language.is_some_and(|l| languages.contains(&l)) {
                return Some(Dropped::of(doc, "language"));
            }
        }
        let index = self.index.as_mut()?;
        let (reason, of, similarity) = match index.add_document(&doc.source, &doc.id, &doc.text) {
            Verdict::Unique => return None,
            Verdict::Duplicate { of } => ("duplicate", of, 1.0),
            Verdict::NearDuplicate { of, similarity } => ("near_duplicate", of, similarity),
        };
        let (of_source, of_id) = index.key(of);
        let mut d = Dropped::of(doc, reason);
        d.duplicate_of = Some(of_source.to_string());
        d.duplicate_of_id = Some(of_id.to_string());
        d.similarity = Some(vid2text_core::round(similarity, 3));
        self.progress
            .suspend(|| eprintln!("vid2text: {} left out: {reason} of {of_source}", doc.source));
        Some(d)
    }

    fn fail(&mut self, f: Failure) {
        if crate::stop::requested() {
            // Likely the signal's doing (FFmpeg children get it too): left for the rerun.
            return;
        }
        self.written.failed += 1;
        // Failures are always named on stderr, above the progress bar when there is one.
        self.progress.suspend(|| eprintln!("vid2text: {f}"));
        self.failures.push(f);
    }

    fn show_progress(&self) {
        self.progress.inc(1);
        let elapsed = self.started.elapsed().as_secs_f64();
        let media_s = self.written.media_s;
        let speed = if elapsed > 0.0 {
            media_s / elapsed
        } else {
            0.0
        };
        self.progress.set_message(format!(
            "{:.2} h media, {speed:.1}x real time",
            media_s / 3600.0
        ));
    }

    fn write_sidecars(&self, doc: &Document) -> vid2text_core::Result<()> {
        for &format in &self.config.sidecars {
            let body = sidecar::render(format, &doc.speech);
            let name = format!("{}.{}", doc.id, format.extension());
            self.out
                .write_sidecar("subtitles", &name, body.as_bytes())?;
        }
        Ok(())
    }

    fn commit_when_due(&mut self) -> Result<()> {
        let pending = self.docs.len() + self.failures.len() + self.dropped.len();
        if pending >= self.config.commit_every
            || (pending > 0 && self.last_commit.elapsed() >= self.config.commit_interval)
        {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.out.commit_documents(&self.docs)?;
        self.docs.clear();
        self.out.commit_failures(&self.failures)?;
        self.failures.clear();
        self.out.commit_dropped(&self.dropped)?;
        self.dropped.clear();
        self.last_commit = Instant::now();
        Ok(())
    }

    /// A stop on a signal: what is finished is committed; the shard is not marked done.
    fn stop(mut self) -> Result<Written> {
        self.commit()?;
        Ok(self.written)
    }

    /// The last commit, the failure records compacted after a retry, and the shard's done
    /// marker, written last.
    fn close(mut self) -> Result<Written> {
        self.commit()?;
        if self.config.retry_failed {
            self.out.compact_failures()?;
        }
        let w = &self.written;
        let summary =
            serde_json::json!({"documents": w.documents, "failed": w.failed, "dropped": w.dropped});
        self.out.mark_shard_done(&summary)?;
        Ok(self.written)
    }
}

fn uri_of(done: &AsrDone) -> &str {
    match &done.result {
        Ok((header, _)) => &header.input.uri,
        Err(f) => &f.uri,
    }
}
