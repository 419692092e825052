//! The ASR stage: takes the decoded inputs' windows as they stream in and serves them in batched
//! Whisper calls, across and within inputs. The [`AsrScheduler`] owns the inputs in flight and
//! chooses batches; each model replica has a worker thread that runs them, so a replica never
//! waits for another. New windows are read only while few are pending, so decoding never runs
//! far ahead of recognition (memory stays bounded).

use std::collections::HashMap;
use std::path::Path;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use vid2text_core::doc::{Failure, Stage};
use vid2text_models::whisper::{
    AsrScheduler, Batch, BatchDone, ModelTimes, SearchConfig, WhisperModel,
};

use super::{AsrDone, Audio, Header, InputKey};

/// The ASR stage's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub search: SearchConfig,
    /// Windows per generate call.
    pub batch_size: usize,
}

/// The loaded model and the stage's settings.
pub struct Asr {
    config: Config,
    model: WhisperModel,
}

/// An input in flight: what the writer needs besides its transcript.
struct InFlight {
    header: Box<Header>,
    visual: bool,
}

/// The stage's state while it runs.
struct Serving<'m> {
    scheduler: AsrScheduler<'m, InputKey>,
    inputs: HashMap<InputKey, InFlight>,
    search: &'m SearchConfig,
    tx: Sender<AsrDone>,
    /// Batches that can run at once.
    replicas: usize,
    /// Decoded windows held in memory at most, beyond those needed to make progress: enough
    /// for every replica's next batch.
    max_pending: usize,
}

/// The writer is gone: the run is stopping.
struct Gone;

/// The search settings of one input: a manifest's `language` column (an ISO code such as `zh`
/// or `en`; a region after `-` or `_` is ignored, `auto` or empty detects) names the spoken
/// language of that input, before `--language`. A known language skips detection, and lets
/// the input's short windows be packed with others of that language.
fn input_search<'s>(
    search: &'s SearchConfig,
    meta: &serde_json::Map<String, serde_json::Value>,
) -> std::borrow::Cow<'s, SearchConfig> {
    let given = meta
        .get("language")
        .and_then(|v| v.as_str())
        .and_then(crate::settings::language_choice)
        .map(|l| l.split(['-', '_']).next().unwrap_or_default().to_string())
        .filter(|l| !l.is_empty() && l != "auto");
    match given {
        Some(lang) if search.language.as_deref() != Some(lang.as_str()) => {
            std::borrow::Cow::Owned(SearchConfig {
                language: Some(lang),
                ..search.clone()
            })
        }
        _ => std::borrow::Cow::Borrowed(search),
    }
}

impl Asr {
    /// Loads the model (with its replicas) once.
    pub fn build(
        config: Config,
        model_dir: &Path,
        engine: &vid2text_models::whisper::EngineConfig,
    ) -> anyhow::Result<Self> {
        Ok(Asr {
            config,
            model: WhisperModel::load(model_dir, engine)?,
        })
    }

    /// Serves until the decode stage is done and every input has left, or the writer is gone;
    /// returns where the model's time went.
    pub fn run(self, rx: Receiver<Audio>, tx: Sender<AsrDone>) -> ModelTimes {
        let model = &self.model;
        let (work_tx, work_rx) = bounded::<Batch<InputKey>>(0);
        let (done_tx, done_rx) = unbounded::<BatchDone<InputKey>>();
        std::thread::scope(|scope| {
            for n in 0..model.replicas() {
                let work_rx = work_rx.clone();
                let done_tx = done_tx.clone();
                std::thread::Builder::new()
                    .name(format!("asr-{n}"))
                    .spawn_scoped(scope, move || {
                        for batch in work_rx {
                            if done_tx.send(model.run(batch)).is_err() {
                                break;
                            }
                        }
                    })
                    .expect("spawn ASR worker");
            }
            drop(done_tx);
            let batch_size = self.config.batch_size;
            let mut serving = Serving {
                scheduler: AsrScheduler::new(model, batch_size),
                inputs: HashMap::new(),
                search: &self.config.search,
                tx,
                replicas: model.replicas(),
                max_pending: 4 * batch_size.max(2) * model.replicas(),
            };
            let _ = serving.serve(&rx, &work_tx, &done_rx);
            drop(work_tx); // the workers finish their batch and stop
        });
        model.times()
    }
}

impl Serving<'_> {
    /// Whether more decoded windows may come in.
    fn room(&self) -> bool {
        self.scheduler.pending_windows() < self.max_pending
    }

    /// The serving loop: take in what is ready, give every idle replica a batch, let finished
    /// inputs leave, then wait for a batch or (when there is room) more input.
    fn serve(
        &mut self,
        rx: &Receiver<Audio>,
        work: &Sender<Batch<InputKey>>,
        done: &Receiver<BatchDone<InputKey>>,
    ) -> Result<(), Gone> {
        let mut open = true;
        let mut running = 0usize;
        loop {
            while open && self.room() {
                match rx.try_recv() {
                    Ok(msg) => self.accept(msg)?,
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => open = false,
                }
            }
            while running < self.replicas {
                let more_coming = open && self.room();
                let Some(batch) = self.scheduler.next_batch(more_coming) else {
                    break;
                };
                work.send(batch).map_err(|_| Gone)?;
                running += 1;
            }
            self.emit_finished()?;
            if running > 0 {
                // Wait for a batch to finish, or for more input while there is room for it.
                if open && self.room() {
                    select! {
                        recv(done) -> d => {
                            running -= 1;
                            self.scheduler.complete(d.expect("a worker per running batch"));
                        }
                        recv(rx) -> msg => match msg {
                            Ok(msg) => self.accept(msg)?,
                            Err(_) => open = false,
                        },
                    }
                } else {
                    running -= 1;
                    let d = done.recv().expect("a worker per running batch");
                    self.scheduler.complete(d);
                }
                continue;
            }
            if !open {
                return self.abandon();
            }
            // Nothing could run: wait for the next message.
            match rx.recv() {
                Ok(msg) => self.accept(msg)?,
                Err(_) => open = false,
            }
        }
    }

    /// Applies one decode-stage message.
    fn accept(&mut self, msg: Audio) -> Result<(), Gone> {
        match msg {
            Audio::Begin {
                key,
                header,
                visual,
            } => match self
                .scheduler
                .push(key, &input_search(self.search, &header.input.meta))
            {
                Ok(()) => {
                    self.inputs.insert(key, InFlight { header, visual });
                }
                Err(why) => {
                    let failure = Failure::new(&header.input.uri, Stage::Asr, why);
                    let media_s = header.info.duration_s;
                    self.send(key, visual, media_s, Err(failure))?;
                }
            },
            Audio::Window {
                key,
                ranges,
                audio,
                speech_starts,
            } => self.scheduler.window(key, &ranges, audio, speech_starts),
            Audio::End(key) => self.scheduler.end(key),
            Audio::Failed {
                key,
                failure,
                visual,
            } => {
                // A failure after `Begin` (the second decoding pass): the input leaves.
                self.scheduler.remove(key);
                let media_s = self
                    .inputs
                    .remove(&key)
                    .map_or(0.0, |i| i.header.info.duration_s);
                self.send(key, visual, media_s, Err(failure))?;
            }
        }
        Ok(())
    }

    /// Inputs whose transcription is done or failed go to the writer.
    fn emit_finished(&mut self) -> Result<(), Gone> {
        for (key, result) in self.scheduler.take_finished() {
            let input = self.inputs.remove(&key).expect("an input in flight");
            let media_s = input.header.info.duration_s;
            let result = match result {
                Ok(transcript) => Ok((input.header, transcript)),
                Err(why) => Err(Failure::new(&input.header.input.uri, Stage::Asr, why)),
            };
            self.send(key, input.visual, media_s, result)?;
        }
        Ok(())
    }

    /// The decode stage is done, and inputs never ended (a decode worker stopped): nothing more
    /// will come for them.
    fn abandon(&mut self) -> Result<(), Gone> {
        for key in self.scheduler.abandon_all() {
            let input = self.inputs.remove(&key).expect("an input in flight");
            let f = Failure::new(&input.header.input.uri, Stage::Decode, "decoding stopped");
            self.send(key, input.visual, 0.0, Err(f))?;
        }
        Ok(())
    }

    fn send(
        &self,
        key: InputKey,
        visual: bool,
        media_s: f64,
        result: Result<(Box<Header>, vid2text_models::whisper::Transcript), Failure>,
    ) -> Result<(), Gone> {
        let done = AsrDone {
            key,
            visual,
            media_s,
            result,
        };
        self.tx.send(done).map_err(|_| Gone)
    }
}
