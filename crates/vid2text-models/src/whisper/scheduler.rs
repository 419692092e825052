//! The ASR scheduler: owns the transcriptions of every input in flight, by key, and turns their
//! pending windows into batched generate calls across inputs. Batching never changes an input's
//! result: requests of one call share temperature, prompt length and length limit, and each
//! input's state advances only from its own results.
//!
//! ```text
//! push(key) ─► window(key) ... end(key) ─► next_batch() ─► [any thread: WhisperModel::run] ─► complete()
//!                                                                           take_finished() ◄─┘
//! ```

use std::collections::BTreeMap;

use super::config::SearchConfig;
use super::model::WhisperModel;
use super::transcription::{Generated, Request, Transcript, Transcription};
use crate::Result;

/// Requests chosen for one generate call by [`AsrScheduler::next_batch`], each with the key of
/// its input; self-contained, so it can run on any thread ([`WhisperModel::run`]).
pub struct Batch<K> {
    items: Vec<(K, Request)>,
    config: SearchConfig,
}

impl<K> Batch<K> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A batch that ran: its results, or the engine's error.
pub struct BatchDone<K> {
    batch: Batch<K>,
    results: Result<Vec<Generated>>,
}

impl WhisperModel {
    /// Runs a batch: log-mel features, then one generate call. Safe to call from several
    /// threads at once: with `replicas` > 1 the calls run in parallel, one per model replica.
    pub fn run<K: Send>(&self, mut batch: Batch<K>) -> BatchDone<K> {
        self.features(&mut batch.items);
        let requests: Vec<&Request> = batch.items.iter().map(|(_, r)| r).collect();
        let results = self.generate(&requests, &batch.config);
        for (_, r) in &mut batch.items {
            r.features = Vec::new();
        }
        BatchDone { batch, results }
    }
}

/// The transcriptions in flight, by input key (`K`: the pipeline's input key; ordered, so that
/// batches serve earlier inputs first).
pub struct AsrScheduler<'m, K> {
    model: &'m WhisperModel,
    jobs: BTreeMap<K, Transcription>,
    max_batch: usize,
}

impl<'m, K: Ord + Copy> AsrScheduler<'m, K> {
    pub fn new(model: &'m WhisperModel, max_batch: usize) -> Self {
        AsrScheduler {
            model,
            jobs: BTreeMap::new(),
            max_batch: max_batch.max(1),
        }
    }

    /// Starts the transcription of an input. Its windows arrive with [`Self::window`];
    /// [`Self::end`] says there are no more. With no language given on a multilingual model, the
    /// language is detected from the first `language_detection_windows` windows (or all, when
    /// fewer) before any is decoded. An unknown language is an error (no job is added).
    pub fn push(&mut self, key: K, config: &SearchConfig) -> Result<(), String> {
        let job = Transcription::new(config, self.model.vocab())?;
        self.jobs.insert(key, job);
        Ok(())
    }

    /// Adds a window to an input (see [`Transcription::push_window`]); ignored for an input
    /// that is not in flight (it failed).
    pub fn window(
        &mut self,
        key: K,
        ranges: &[(usize, usize)],
        audio: Vec<f32>,
        speech_starts: Vec<f64>,
    ) {
        if let Some(job) = self.jobs.get_mut(&key) {
            job.push_window(ranges, audio, speech_starts);
        }
    }

    /// No more windows will come for an input.
    pub fn end(&mut self, key: K) {
        if let Some(job) = self.jobs.get_mut(&key) {
            job.end_input();
        }
    }

    /// Takes an input out (its decoding failed); its requests in flight are ignored when they
    /// complete.
    pub fn remove(&mut self, key: K) {
        self.jobs.remove(&key);
    }

    /// Inputs in flight.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Windows held and not yet decoded, over every input.
    pub fn pending_windows(&self) -> usize {
        self.jobs.values().map(Transcription::pending_windows).sum()
    }

    /// Chooses the next batch: up to `max_batch` pending windows (the earliest inputs' first),
    /// marked in flight until [`Self::complete`] takes its results. Requests of one batch share
    /// temperature, prompt length and length limit. None when no window is ready. Detects the
    /// language of inputs that wait for it first.
    pub fn next_batch(&mut self) -> Option<Batch<K>> {
        self.detect_languages();
        // Look further than one batch: the pending windows often mix temperatures, prompt
        // lengths and limits. The largest group is served first; the others wait.
        let look = self.max_batch * 4;
        let vocab = self.model.vocab();
        let mut requests: Vec<(K, Request)> = Vec::new();
        for (&key, job) in self.jobs.iter_mut() {
            let room = look.saturating_sub(requests.len());
            if room == 0 {
                break;
            }
            requests.extend(job.next_requests(vocab, room).into_iter().map(|r| (key, r)));
        }
        let best = largest_group(&requests)?;
        let (mut group, rest): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .partition(|(_, r)| r.batch_key() == best);
        let spill = group.split_off(group.len().min(self.max_batch));
        for (key, req) in rest.iter().chain(&spill) {
            self.jobs.get_mut(key).expect("a job").put_back(req);
        }
        let config = self.jobs[&group[0].0].config().clone();
        for (key, req) in &mut group {
            self.jobs[key].fill_audio(req);
        }
        Some(Batch {
            items: group,
            config,
        })
    }

    /// Gives a batch's results to their inputs (those no longer in flight are skipped). When the
    /// engine failed, the batch's inputs fail with its message.
    pub fn complete(&mut self, done: BatchDone<K>) {
        let vocab = self.model.vocab();
        match done.results {
            Ok(results) => {
                for ((key, req), res) in done.batch.items.into_iter().zip(results) {
                    if let Some(job) = self.jobs.get_mut(&key) {
                        job.accept(vocab, req, res);
                    }
                }
            }
            Err(e) => {
                let why = crate::report(&e);
                for (key, req) in done.batch.items {
                    if let Some(job) = self.jobs.get_mut(&key) {
                        job.put_back(&req);
                        job.fail(why.clone());
                    }
                }
            }
        }
    }

    /// Inputs that are done (their transcript) or failed (why), removed from the scheduler.
    pub fn take_finished(&mut self) -> Vec<(K, Result<Transcript, String>)> {
        let keys: Vec<K> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.failure().is_some() || j.is_done())
            .map(|(&k, _)| k)
            .collect();
        keys.into_iter()
            .map(|k| {
                let job = self.jobs.remove(&k).expect("a job");
                let result = match job.failure() {
                    Some(why) => Err(why.to_string()),
                    None => Ok(job.finish()),
                };
                (k, result)
            })
            .collect()
    }

    /// Removes every input still in flight (their decoding stopped), returning their keys.
    pub fn abandon_all(&mut self) -> Vec<K> {
        std::mem::take(&mut self.jobs).into_keys().collect()
    }

    /// Detects the language of inputs that wait for it and have enough windows.
    fn detect_languages(&mut self) {
        let vocab = self.model.vocab();
        for job in self.jobs.values_mut() {
            let Some(sample) = job.language_sample() else {
                continue;
            };
            let detected = self.model.detect_language(sample).and_then(|(lang, p)| {
                let sot = vocab.sot_sequence(&lang).map_err(crate::Error::Config)?;
                Ok((sot, lang, p))
            });
            match detected {
                Ok((sot, lang, p)) => job.set_language(sot, lang, Some(p)),
                Err(e) => job.fail(crate::report(&e)),
            }
        }
    }
}

/// The batch key shared by most requests; among equals, the group of the earliest request.
fn largest_group<K>(requests: &[(K, Request)]) -> Option<(u32, usize, usize)> {
    let mut counts: Vec<((u32, usize, usize), usize)> = Vec::new();
    for (_, r) in requests {
        let key = r.batch_key();
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    // max_by_key returns the last maximum: reversed, that is the earliest group among equals.
    counts.iter().rev().max_by_key(|(_, n)| *n).map(|(k, _)| *k)
}
