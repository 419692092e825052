//! The ASR scheduler: owns the transcriptions of every input in flight, by key, and turns their
//! pending windows into batched generate calls across inputs. Batching never changes an input's
//! result: requests of one call share temperature, prompt length and length limit, and each
//! input's state advances only from its own results.
//!
//! ```text
//! push(key) ─► window(key) ... end(key) ─► next_batch() ─► [any thread: WhisperModel::run] ─► complete()
//!                                                                           take_finished() ◄─┘
//! ```
//!
//! **Packing.** Whisper's encoder always reads 30 s, so a 6 s clip pays for 30 s of encoder.
//! Short windows of several inputs (at most [`PACK_MAX_PIECE_S`] each, their language known and
//! the same, not started, not already encoded by language detection) are laid end to end in one
//! window, [`PACK_GAP_S`] of silence between them, at most [`PACK_MAX_PIECES`] of them, each
//! input into the first pack it fits (first fit, in input order), and decoded as one: a pack.
//! Its segments go back to the input whose audio they lie on, on that input's own time line. A
//! segment that reaches into two inputs' audio, or lies in a gap, cannot be given back safely:
//! those inputs are decoded again on their own, as is an input that got no segment from its
//! pack (a dropped pass may have taken its speech) and one under a segment a temperature
//! fallback sampled (a sampled pass reads the pack as one text). A short window is kept back
//! until its pack is full (less than [`PACK_FULL_ROOM_S`] left, or [`PACK_MAX_PIECES`] inputs),
//! until the decode stage has sent everything, or until the windows held reach the scheduler's memory bound; then
//! no more than one window a model replica is left to run side by side, unpacked. So which
//! inputs share a window depends on the order their audio is ready; a packed input's text can
//! differ from its text alone as much as beam search differs on other context (its times within 0.5 s in the tests). With conditioning on previous
//! text, or `pack_inputs` off, nothing is packed and results do not depend on order.

use std::collections::BTreeMap;

use vid2text_core::{filters, round, SAMPLE_RATE};

use super::config::SearchConfig;
use super::model::{in_parallel, WhisperModel};
use super::transcription::{Generated, Request, Segment, Transcript, Transcription, Window};
use crate::mel::N_SAMPLES;
use crate::Result;

/// Longest window packed with others (seconds).
pub const PACK_MAX_PIECE_S: f64 = 20.0;
/// Silence between the inputs of a pack (seconds).
pub const PACK_GAP_S: f64 = 1.0;
/// While more audio is coming, a pack with less room than this left (seconds, its gap
/// included) is full and goes; a less full one waits for a piece that fits.
pub const PACK_FULL_ROOM_S: f64 = 4.0;
/// Inputs in one pack at most. Whisper skips more of the inputs in a pack of many short ones
/// (each skipped one is decoded again alone): on the short-video benchmark, packs of up to
/// seven 3-4 s inputs sent six of seven back, packs of four none.
pub const PACK_MAX_PIECES: usize = 4;
/// A segment reaching this far (seconds) into a second input's audio crosses the boundary.
const CROSSING_S: f64 = 0.5;
/// A piece of a pack whose segments cover less than this share of it is decoded alone.
const MIN_COVERED: f64 = 0.5;
/// Seconds after a speech start within which a segment must begin or run (see `speech_heard`).
const HEARD_S: f64 = 1.0;
/// A piece whose segments stop more than this short of its end (seconds) is decoded alone
/// (see `speech_heard`). Heard pieces of the benchmark corpora end at most 1.5 s short.
const UNHEARD_TAIL_S: f64 = 2.0;

/// Where a request's result goes: an input's own window, or a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot<K> {
    Input(K),
    Pack(u64),
}

/// Short windows of several inputs decoded as one.
struct Pack<K> {
    job: Transcription,
    pieces: Vec<Piece<K>>,
}

/// One input's window in a pack: where its samples start in the pack, and how many.
struct Piece<K> {
    key: K,
    window: usize,
    offset: usize,
    len: usize,
    /// Where voice activity detection found speech starting, seconds from the piece's start.
    speech_starts: Vec<f64>,
}

/// Requests chosen for one generate call by [`AsrScheduler::next_batch`], each with the key of
/// its input; self-contained, so it can run on any thread ([`WhisperModel::run`]).
pub struct Batch<K> {
    items: Vec<(Slot<K>, Request)>,
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
            r.encoded = None;
        }
        BatchDone { batch, results }
    }
}

/// The transcriptions in flight, by input key (`K`: the pipeline's input key; ordered, so that
/// batches serve earlier inputs first).
pub struct AsrScheduler<'m, K> {
    model: &'m WhisperModel,
    jobs: BTreeMap<K, Transcription>,
    packs: BTreeMap<u64, Pack<K>>,
    next_pack: u64,
    max_batch: usize,
}

impl<'m, K: Ord + Copy + Send> AsrScheduler<'m, K> {
    pub fn new(model: &'m WhisperModel, max_batch: usize) -> Self {
        AsrScheduler {
            model,
            jobs: BTreeMap::new(),
            packs: BTreeMap::new(),
            next_pack: 0,
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
    /// language of inputs that wait for it first. `more_coming`: the decode stage will send
    /// more windows (and there is room for them), so short windows wait for a full pack, even
    /// while a replica waits: the audio that fills it is on its way, and a pack saves a whole
    /// encoder pass per input; when it is false, partial packs go and single windows alone,
    /// and the last windows are shared out in small batches, at most half of an even share
    /// a replica (busy replicas counted): a replica that is idle now would otherwise take every
    /// window left while another, about to finish, then waits, and the run ends on one core
    /// (short videos: 7.5 s against 6.5 s, the last 2.3 s on one core); the halving lets the
    /// replicas even out windows of unequal length and the second passes that come late.
    pub fn next_batch(&mut self, more_coming: bool) -> Option<Batch<K>> {
        self.detect_languages();
        let held = self.form_packs(!more_coming);
        let requests = self.requests(&held);
        let best = largest_group(&requests)?;
        let (mut group, rest): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .partition(|(_, r)| r.batch_key() == best);
        let share = match more_coming {
            true => self.max_batch,
            false => group
                .len()
                .div_ceil(2 * self.model.replicas())
                .min(self.max_batch),
        };
        let spill = group.split_off(group.len().min(share));
        for (slot, req) in rest.iter().chain(&spill) {
            self.job_mut(*slot).expect("a job").put_back(req);
        }
        let config = self.job(group[0].0).expect("a job").config().clone();
        for (slot, req) in &mut group {
            self.job(*slot).expect("a job").fill_audio(req);
        }
        Some(Batch {
            items: group,
            config,
        })
    }

    /// Requests of the packs, then of the inputs (windows in `held` kept back), up to a few
    /// batches' worth: the pending windows often mix temperatures, prompt lengths and limits;
    /// the largest group is served first, the others wait.
    fn requests(&mut self, held: &BTreeMap<K, Vec<usize>>) -> Vec<(Slot<K>, Request)> {
        let look = self.max_batch * 4;
        let vocab = self.model.vocab();
        let mut requests: Vec<(Slot<K>, Request)> = Vec::new();
        for (&id, pack) in self.packs.iter_mut() {
            let room = look.saturating_sub(requests.len());
            let reqs = pack.job.next_requests(vocab, room, &[]);
            requests.extend(reqs.into_iter().map(|r| (Slot::Pack(id), r)));
        }
        for (&key, job) in self.jobs.iter_mut() {
            let room = look.saturating_sub(requests.len());
            if room == 0 {
                break;
            }
            let keep = held.get(&key).map_or(&[][..], Vec::as_slice);
            let reqs = job.next_requests(vocab, room, keep);
            requests.extend(reqs.into_iter().map(|r| (Slot::Input(key), r)));
        }
        requests
    }

    /// Lays short windows of the same language end to end into packs, each into the first pack
    /// it fits in input order, and seals the packs that are full (`flush`: the partial ones
    /// too). Returns the candidates left over, kept back for a later pack (none when flushing).
    fn form_packs(&mut self, flush: bool) -> BTreeMap<K, Vec<usize>> {
        let max_piece = (PACK_MAX_PIECE_S * SAMPLE_RATE as f64) as usize;
        let gap = (PACK_GAP_S * SAMPLE_RATE as f64) as usize;
        let full_room = (PACK_FULL_ROOM_S * SAMPLE_RATE as f64) as usize;
        // Candidates by language, in input order.
        let mut by_language: BTreeMap<Vec<u32>, Vec<Candidate<K>>> = BTreeMap::new();
        for (&key, job) in &self.jobs {
            let candidates = job.pack_candidates(max_piece);
            if candidates.is_empty() {
                continue;
            }
            let same = by_language.entry(job.sot_sequence().to_vec()).or_default();
            same.extend(
                candidates
                    .into_iter()
                    .map(|i| (key, i, job.window_samples(i))),
            );
        }
        let mut held: BTreeMap<K, Vec<usize>> = BTreeMap::new();
        // The last few windows run side by side on the replicas faster than one after another
        // in a pack: with no more than one a replica left, nothing is packed.
        let left: usize = by_language.values().map(Vec::len).sum();
        if flush && left <= self.model.replicas() {
            return held;
        }
        for (_, candidates) in by_language {
            for (used, pieces) in first_fit(candidates, gap) {
                let full = pieces.len() == PACK_MAX_PIECES || used + full_room > N_SAMPLES;
                if flush || full {
                    self.seal(pieces);
                } else {
                    for (key, i, _) in pieces {
                        held.entry(key).or_default().push(i);
                    }
                }
            }
        }
        held
    }

    /// Makes a pack of `pieces` (a single window is left to be decoded on its own).
    fn seal(&mut self, pieces: Vec<(K, usize, usize)>) {
        if pieces.len() < 2 {
            return;
        }
        let gap = (PACK_GAP_S * SAMPLE_RATE as f64) as usize;
        let first = &self.jobs[&pieces[0].0];
        let (config, sot) = (first.config().clone(), first.sot_sequence().to_vec());
        let language = first.language().unwrap_or("en").to_string();
        let mut audio: Vec<f32> = Vec::with_capacity(N_SAMPLES);
        let mut starts: Vec<f64> = Vec::new();
        let mut placed = Vec::with_capacity(pieces.len());
        for (key, window, len) in pieces {
            if !audio.is_empty() {
                audio.resize(audio.len() + gap, 0.0);
            }
            let offset = audio.len();
            let job = self.jobs.get_mut(&key).expect("a job");
            let (samples, speech_starts) = job.take_for_pack(window);
            audio.extend_from_slice(samples);
            let at = offset as f64 / SAMPLE_RATE as f64;
            starts.extend(speech_starts.iter().map(|s| s + at));
            if speech_starts.is_empty() {
                starts.push(at); // each input's start is a place to decode again from
            }
            placed.push(Piece {
                key,
                window,
                offset,
                len,
                speech_starts: speech_starts.to_vec(),
            });
        }
        let mut job = Transcription::new(&config, self.model.vocab()).expect("a known language");
        job.set_language(sot, language, None);
        job.push_window(&[(0, audio.len())], audio, starts);
        job.end_input();
        self.packs.insert(
            self.next_pack,
            Pack {
                job,
                pieces: placed,
            },
        );
        self.next_pack += 1;
    }

    /// A finished pack: each input gets the segments on its own audio, or (a segment crossing
    /// into another input, none at all, or the engine failed) decodes its window alone.
    fn give_back(&mut self, id: u64) {
        let pack = self.packs.remove(&id).expect("a pack");
        let failed = pack.job.failure().is_some();
        let passes = pack.job.passes();
        let segments = pack.job.finish().segments;
        let sr = SAMPLE_RATE as f64;
        let spans: Vec<(f64, f64)> = pack
            .pieces
            .iter()
            .map(|p| (p.offset as f64 / sr, (p.offset + p.len) as f64 / sr))
            .collect();
        let (given, mut alone) = route(segments, &spans);
        for (i, piece) in pack.pieces.iter().enumerate() {
            if !speech_heard(&given[i], &piece.speech_starts, spans[i].1 - spans[i].0) {
                alone[i] = true;
            }
        }
        if failed {
            alone.iter_mut().for_each(|a| *a = true);
        }
        for (i, (piece, segments)) in pack.pieces.into_iter().zip(given).enumerate() {
            let Some(job) = self.jobs.get_mut(&piece.key) else {
                continue; // the input failed meanwhile
            };
            if alone[i] || segments.is_empty() {
                job.unpack(piece.window);
            } else {
                job.deliver_packed(piece.window, segments, passes);
            }
        }
    }

    fn job(&self, slot: Slot<K>) -> Option<&Transcription> {
        match slot {
            Slot::Input(k) => self.jobs.get(&k),
            Slot::Pack(id) => self.packs.get(&id).map(|p| &p.job),
        }
    }

    fn job_mut(&mut self, slot: Slot<K>) -> Option<&mut Transcription> {
        match slot {
            Slot::Input(k) => self.jobs.get_mut(&k),
            Slot::Pack(id) => self.packs.get_mut(&id).map(|p| &mut p.job),
        }
    }

    /// Gives a batch's results to their inputs and packs (those no longer in flight are
    /// skipped); a pack that is done gives its segments to its inputs. When the engine failed,
    /// the batch's inputs fail with its message (a pack's are decoded alone, and fail then).
    pub fn complete(&mut self, done: BatchDone<K>) {
        let vocab = self.model.vocab();
        let mut touched_packs = Vec::new();
        match done.results {
            Ok(results) => {
                for ((slot, req), res) in done.batch.items.into_iter().zip(results) {
                    if let Some(job) = self.job_mut(slot) {
                        job.accept(vocab, req, res);
                    }
                    if let Slot::Pack(id) = slot {
                        touched_packs.push(id);
                    }
                }
            }
            Err(e) => {
                let why = crate::report(&e);
                for (slot, req) in done.batch.items {
                    if let Some(job) = self.job_mut(slot) {
                        job.put_back(&req);
                        job.fail(why.clone());
                    }
                    if let Slot::Pack(id) = slot {
                        touched_packs.push(id);
                    }
                }
            }
        }
        for id in touched_packs {
            let finished = self
                .packs
                .get(&id)
                .is_some_and(|p| p.job.is_done() || p.job.failure().is_some());
            if finished {
                self.give_back(id);
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
        self.packs.clear();
        std::mem::take(&mut self.jobs).into_keys().collect()
    }

    /// Detects the language of inputs that wait for it and have enough windows.
    fn detect_languages(&mut self) {
        // Every input ready for detection, detected side by side on up to one thread a model
        // replica: at the start of a corpus of short videos, many inputs wait at once.
        let model = self.model;
        let mut ready: Vec<(K, &[Window], Option<Result<_>>)> = self
            .jobs
            .iter()
            .filter_map(|(&key, job)| job.language_sample().map(|s| (key, s, None)))
            .collect();
        if ready.is_empty() {
            return;
        }
        in_parallel(&mut ready, model.replicas(), |(_, sample, out)| {
            *out = Some(model.detect_language(sample));
        });
        let results: Vec<_> = ready
            .into_iter()
            .map(|(key, _, out)| (key, out.expect("every input detected")))
            .collect();
        let vocab = model.vocab();
        for (key, detected) in results {
            let Some(job) = self.jobs.get_mut(&key) else {
                continue;
            };
            let detected = detected.and_then(|(lang, p, kept)| {
                let sot = vocab.sot_sequence(&lang).map_err(crate::Error::Config)?;
                Ok((sot, lang, p, kept))
            });
            match detected {
                Ok((sot, lang, p, kept)) => {
                    job.set_language(sot, lang, Some(p));
                    job.keep_encoded(kept);
                }
                Err(e) => job.fail(crate::report(&e)),
            }
        }
    }
}

/// Gives the segments of a pack (seconds on the pack's time line) to the pieces at `spans`
/// whose audio they lie on, in seconds from each piece's start (clamped to it). Whisper's
/// segment ends often run on into the silence after them, so a segment belongs to the one piece
/// it reaches more than [`CROSSING_S`] into (or, short, to the piece it overlaps most). One
/// that reaches that far into two pieces holds words of both inputs, and one in a gap belongs
/// to neither: the pieces around it are decoded alone. So are the pieces under a segment that
/// a temperature fallback sampled, a piece whose segments cover less than [`MIN_COVERED`]
/// of it (Whisper skipped some of its speech in the pack), and a piece given a segment with more
/// words than its time holds ([`filters::impossible_rate`]). Returns each
/// piece's segments and whether it must be decoded alone.
fn route(segments: Vec<Segment>, spans: &[(f64, f64)]) -> (Vec<Vec<Segment>>, Vec<bool>) {
    let mut given: Vec<Vec<Segment>> = spans.iter().map(|_| Vec::new()).collect();
    let mut alone = vec![false; spans.len()];
    for seg in segments {
        let overlaps: Vec<f64> = spans
            .iter()
            .map(|&(a, b)| seg.end.min(b) - seg.start.max(a))
            .collect();
        let touched: Vec<usize> = (0..spans.len())
            .filter(|&i| overlaps[i] > CROSSING_S)
            .collect();
        let home = match touched.as_slice() {
            [one] => Some(*one),
            [] => (0..spans.len())
                .filter(|&i| overlaps[i] > 0.0)
                .max_by(|&i, &j| overlaps[i].total_cmp(&overlaps[j])),
            _ => None,
        };
        // No home: the segment holds words of two inputs, or of none. Sampled: a pass that fell
        // back to sampling read the inputs' audio as one, and what it wrote on one piece can
        // come from another (the music clip's "Thanks for watching" sampled as the next input's
        // sentence). Either way the pieces it covers are decoded alone.
        if home.is_none() || seg.temperature > 0.0 {
            for (i, &(a, b)) in spans.iter().enumerate() {
                if seg.start < b + PACK_GAP_S && seg.end > a - PACK_GAP_S {
                    alone[i] = true;
                }
            }
        }
        if let Some(i) = home {
            let (a, b) = spans[i];
            let mut s = seg;
            s.start = round((s.start.max(a) - a).max(0.0), 3);
            s.end = round((s.end.min(b) - a).max(s.start), 3);
            // More words than the piece's time can hold: they are not all its own (a sentence
            // of the next input written on this one's last second), so it is decoded alone.
            if filters::impossible_rate(&s.text, s.start, s.end) {
                alone[i] = true;
            }
            given[i].push(s);
        }
    }
    for (i, &(a, b)) in spans.iter().enumerate() {
        let covered: f64 = given[i].iter().map(|s| s.end - s.start).sum();
        if covered < MIN_COVERED * (b - a) {
            alone[i] = true;
        }
    }
    (given, alone)
}

/// Whether every stretch of speech that voice activity detection found in a piece (`starts`,
/// seconds from its start; the piece `len` seconds long) has a segment on it: one overlapping the
/// first [`HEARD_S`] after the start, and the last segment reaching within [`UNHEARD_TAIL_S`] of
/// the piece's end. In a pack Whisper sometimes jumps from one input's first sentence to the
/// next input, skipping the rest, also inside one stretch of speech (no start to check there);
/// alone, such a skip ends the window early and decoding resumes at the next speech start.
fn speech_heard(segments: &[Segment], starts: &[f64], len: f64) -> bool {
    let reached = segments.iter().map(|g| g.end).fold(0.0, f64::max);
    reached >= len - UNHEARD_TAIL_S
        && starts
            .iter()
            .filter(|&&s| s < len - HEARD_S)
            .all(|&s| segments.iter().any(|g| g.end > s && g.start < s + HEARD_S))
}

/// A window that may be packed: its input's key, its index, its samples.
type Candidate<K> = (K, usize, usize);
/// A pack being filled: samples used (gaps included) and its pieces.
type Bin<K> = (usize, Vec<Candidate<K>>);

/// Each candidate (in input order) into the first pack with room for it (first fit): at most
/// [`PACK_MAX_PIECES`] pieces and [`N_SAMPLES`] a pack, `gap` samples between pieces. A short
/// input fills the room an earlier pack has left, where laying them end to end closed a pack as
/// soon as the next input did not fit: fewer, fuller packs, so fewer encoder passes. Returns each pack's samples used and its pieces, in input order.
fn first_fit<K>(candidates: Vec<Candidate<K>>, gap: usize) -> Vec<Bin<K>> {
    let mut bins: Vec<Bin<K>> = Vec::new();
    for c in candidates {
        let fits = |(used, pieces): &&mut Bin<K>| {
            pieces.len() < PACK_MAX_PIECES && *used + gap + c.2 <= N_SAMPLES
        };
        match bins.iter_mut().find(fits) {
            Some((used, pieces)) => {
                *used += gap + c.2;
                pieces.push(c);
            }
            None => bins.push((c.2, vec![c])),
        }
    }
    bins
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            ..Segment::default()
        }
    }

    #[test]
    fn pack_segments_go_back_to_their_inputs() {
        // Three pieces: 0-6 s, 7-12 s, 13-20 s (1 s gaps).
        let spans = [(0.0, 6.0), (7.0, 12.0), (13.0, 20.0)];
        let segments = vec![
            seg(0.5, 3.0, "first"),
            // Its end runs on through the gap, 0.4 s into the next input's audio.
            seg(3.0, 7.4, "runs on"),
            seg(7.4, 11.9, "second"),
            seg(13.0, 19.0, "third"),
            seg(19.0, 19.3, "short"),
        ];
        let (given, alone) = route(segments, &spans);
        assert_eq!(alone, vec![false; 3]);
        let texts = |i: usize| -> Vec<(f64, f64, &str)> {
            given[i]
                .iter()
                .map(|s| (s.start, s.end, s.text.as_str()))
                .collect()
        };
        assert_eq!(texts(0), vec![(0.5, 3.0, "first"), (3.0, 6.0, "runs on")]);
        assert_eq!(texts(1), vec![(0.4, 4.9, "second")]);
        assert_eq!(texts(2), vec![(0.0, 6.0, "third"), (6.0, 6.3, "short")]);
    }

    #[test]
    fn a_segment_across_inputs_or_in_a_gap_sends_them_alone() {
        let spans = [(0.0, 6.0), (7.0, 12.0), (13.0, 20.0)];
        let full = |extra: Segment| {
            let mut v = vec![
                seg(0.0, 5.0, "a"),
                seg(7.0, 11.0, "b"),
                seg(13.0, 19.0, "c"),
            ];
            v.push(extra);
            route(v, &spans).1
        };
        assert_eq!(full(seg(4.0, 9.0, "across")), vec![true, true, false]);
        assert_eq!(full(seg(12.1, 12.9, "in the gap")), vec![false, true, true]);
        // Whisper skipped most of the second input.
        let (_, alone) = route(
            vec![seg(0.0, 5.0, "a"), seg(7.0, 8.0, "b"), seg(13.0, 19.0, "c")],
            &spans,
        );
        assert_eq!(alone, vec![false, true, false]);
        // A fallback sampled the first input's segment: what it says may be the second's.
        let sampled = Segment {
            temperature: 0.4,
            ..seg(0.5, 5.5, "sampled")
        };
        let (given, alone) = route(
            vec![sampled, seg(7.0, 11.0, "b"), seg(13.0, 19.0, "c")],
            &spans,
        );
        assert_eq!(alone, vec![true, false, false]);
        assert_eq!(given[1][0].text, "b");
        // A whole sentence in the last 0.4 s of the second input: more than that time holds.
        let crammed = "and so my fellow Americans ask not what your country can do";
        let (given, alone) = route(
            vec![
                seg(0.0, 5.0, "a"),
                seg(7.0, 10.5, "b"),
                seg(11.5, 11.9, crammed),
                seg(13.0, 19.0, "c"),
            ],
            &spans,
        );
        assert_eq!(alone, vec![false, true, false]);
        assert_eq!(given[1].len(), 2);
        // The same words at a speaking pace stay where they are.
        let (_, alone) = route(
            vec![
                seg(0.0, 5.0, crammed),
                seg(7.0, 11.0, "b"),
                seg(13.0, 19.0, "c"),
            ],
            &spans,
        );
        assert_eq!(alone, vec![false, false, false]);
    }

    #[test]
    fn short_inputs_fill_the_room_earlier_packs_left() {
        let s = |secs: f64| (secs * SAMPLE_RATE as f64) as usize;
        let gap = s(PACK_GAP_S);
        // 12 + 10 s leave 6 s (a gap included) that the 14 s input does not fit; the 5 s input
        // after it does.
        let packs = first_fit(
            vec![
                (0, 0, s(12.0)),
                (1, 0, s(10.0)),
                (2, 0, s(14.0)),
                (3, 0, s(5.0)),
            ],
            gap,
        );
        let keys: Vec<Vec<i32>> = packs
            .iter()
            .map(|(_, p)| p.iter().map(|c| c.0).collect())
            .collect();
        assert_eq!(keys, vec![vec![0, 1, 3], vec![2]]);
        assert_eq!(packs[0].0, s(12.0) + s(10.0) + s(5.0) + 2 * gap);
        assert!(packs.iter().all(|(used, _)| *used <= N_SAMPLES));
        // Never more than PACK_MAX_PIECES inputs, however short.
        let tiny: Vec<_> = (0..9).map(|k| (k, 0, s(2.0))).collect();
        let packs = first_fit(tiny, gap);
        let sizes: Vec<usize> = packs.iter().map(|(_, p)| p.len()).collect();
        assert_eq!(sizes, vec![PACK_MAX_PIECES, PACK_MAX_PIECES, 1]);
    }

    #[test]
    fn speech_skipped_inside_a_piece_is_noticed() {
        // VAD found speech at 0.3 s and at 6.9 s; Whisper wrote only the first sentence.
        let first = [seg(1.1, 6.0, "first sentence")];
        assert!(!speech_heard(&first, &[0.3, 6.9], 9.5));
        let both = [seg(1.1, 6.0, "first"), seg(7.0, 9.0, "second")];
        assert!(speech_heard(&both, &[0.3, 6.9], 9.5));
        // A start in the last second of the piece is not held against it.
        assert!(speech_heard(&first, &[0.3, 7.0], 7.5));
        // One stretch of speech (one start) whose last 3.5 s have no segment: Whisper went on
        // to the next input.
        let cut = [seg(0.0, 3.5, "first"), seg(3.5, 6.5, "second")];
        assert!(!speech_heard(&cut, &[0.0], 10.0));
        assert!(speech_heard(&cut, &[0.0], 8.0));
    }
}
