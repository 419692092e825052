//! The transcription of one input: its speech windows and, for each, where decoding stands
//! (seek position, temperature, attempts). Pure: it asks for generate calls ([`Request`]) and
//! takes their results ([`Generated`]); the scheduler batches the requests of many inputs and
//! the engine runs them.
//!
//! The loop follows faster-whisper's `transcribe.py`: a prompt of `<|startofprev|>` + previous
//! tokens + the start-of-transcript sequence, timestamp tokens parsed into segments, seeking
//! past the last complete segment, temperature fallback on a high compression ratio or a low
//! average log-probability, and the no-speech check.

// Without the engine (feature `whisper`) nothing but the tests drives a transcription.
#![cfg_attr(not(feature = "whisper"), allow(dead_code))]

use vid2text_core::{round, SAMPLE_RATE};

use super::config::SearchConfig;
use crate::mel::{HOP, N_FRAMES, N_SAMPLES};
use crate::tokenizer::Vocab;
use crate::windows::WindowMap;

/// One segment of speech, times in seconds on the original timeline: the document's
/// `speech` entry.
pub use vid2text_core::SpeechSegment as Segment;

const SR: f64 = SAMPLE_RATE as f64;
/// Seconds per timestamp token and per encoder position pair.
pub(crate) const TIME_PRECISION: f64 = 0.02;
/// Frames per timestamp step (0.02 s = 2 mel frames).
const INPUT_STRIDE: usize = 2;
/// Leftover audio shorter than this after a seek is not decoded again (0.1 s).
const MIN_REST_FRAMES: usize = 10;
/// Seconds before Whisper's last timestamp at which a speech start still counts as not
/// decoded (see `Transcription::advance`).
const RESEEK_OVERLAP: f64 = 0.1;
/// Seconds of speech after Whisper's last timestamp beyond which a window that Whisper ended
/// early is decoded again from that timestamp (see `reseek`).
const UNHEARD_REST_S: f64 = 2.0;

/// What Whisper made of one input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub language: Option<String>,
    pub language_probability: Option<f64>,
    pub segments: Vec<Segment>,
    /// Seconds of audio sent to Whisper (speech kept by VAD).
    pub speech_s: f64,
    pub windows: usize,
    /// Windows decoded in a window shared with other inputs (see the scheduler).
    pub packed_windows: usize,
    /// Generate passes (windows, seeks within them, temperature fallbacks).
    pub passes: usize,
    /// Decoded parts dropped, by reason.
    pub dropped: std::collections::BTreeMap<String, u64>,
}

/// A window of speech: at most 30 s of audio, made of one or more pieces of the original audio
/// (speech spans, with the pauses between them cut out or kept).
#[derive(Debug, Clone)]
pub(crate) struct Window {
    map: WindowMap,
    /// Where voice activity detection found speech starting, in seconds from the window start.
    speech_starts: Vec<f64>,
    /// The samples; emptied once the window is decoded.
    pub(crate) audio: Vec<f32>,
    /// The encoder's output for the window from its start, kept from language detection (on
    /// the CPU): the first pass over the window decodes from it instead of encoding again.
    encoded: Option<Encoded>,
}

/// An encoder output held on the host: `[1500, width]` floats.
pub(crate) type Encoded = std::sync::Arc<Vec<f32>>;

/// One generate call's worth of work for one window.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) window: usize,
    /// The part of the window's audio to decode (samples).
    pub(crate) samples: (usize, usize),
    /// Those samples, copied out when the request is chosen for a batch.
    pub(crate) audio: Vec<f32>,
    /// Their log-mel features, computed by the engine when the batch runs.
    pub(crate) features: Vec<f32>,
    /// Their encoder output when it is already known (then neither features nor audio are
    /// needed).
    pub(crate) encoded: Option<Encoded>,
    pub(crate) prompt: Vec<u32>,
    pub(crate) temperature: f32,
    /// Generation limit in tokens (see [`max_length_for`]).
    pub(crate) max_length: usize,
}

impl Request {
    /// Requests can share a generate call when these agree (CTranslate2 needs
    /// `<|startoftranscript|>` at one position, and one temperature and limit per call).
    pub(crate) fn batch_key(&self) -> (u32, usize, usize) {
        (
            self.temperature.to_bits(),
            self.prompt.len(),
            self.max_length,
        )
    }
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

/// The result of one request.
#[derive(Debug, Clone)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub compression_ratio: f64,
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
    /// A pack could not give this window's text back: it is decoded on its own.
    alone: bool,
}

/// The transcription of one input. Without conditioning on previous text its windows are
/// independent and several are decoded at once; with it, one window at a time, in order.
pub struct Transcription {
    config: SearchConfig,
    /// Empty until the language is known.
    sot_sequence: Vec<u32>,
    windows: Vec<Window>,
    cursors: Vec<Cursor>,
    /// No more windows will come.
    ended: bool,
    /// Language detection or the engine failed: the input fails at the ASR stage.
    failed: Option<String>,
    /// Tokens the next prompt is conditioned on (conditioning only).
    prompt_tokens: Vec<u32>,
    transcript: Transcript,
}

impl Transcription {
    /// A transcription that decodes in `config.language`, or (None, on a multilingual model)
    /// waits for the language to be detected from its first windows.
    pub fn new(config: &SearchConfig, vocab: &Vocab) -> Result<Self, String> {
        let mut t = Transcription {
            config: config.clone(),
            sot_sequence: vec![],
            windows: vec![],
            cursors: vec![],
            ended: false,
            failed: None,
            prompt_tokens: vec![],
            transcript: Transcript::default(),
        };
        match (&config.language, vocab.is_multilingual()) {
            (Some(lang), false) if lang != "en" => {
                return Err(format!(
                    "language {lang}: the model is English-only; give a multilingual one \
                     (--asr-model base)"
                ))
            }
            (_, false) => t.set_language(vocab.sot_sequence("en")?, "en".into(), None),
            (Some(lang), true) => t.set_language(vocab.sot_sequence(lang)?, lang.clone(), None),
            (None, true) => {}
        }
        Ok(t)
    }

    pub(crate) fn set_language(&mut self, sot: Vec<u32>, language: String, p: Option<f64>) {
        self.sot_sequence = sot;
        self.transcript.language = Some(language);
        self.transcript.language_probability = p;
    }

    /// Keeps the encoder outputs that language detection computed for the first windows, in
    /// order, so that their first pass is not encoded again.
    pub(crate) fn keep_encoded(&mut self, encoded: Vec<Encoded>) {
        for (w, e) in self.windows.iter_mut().zip(encoded) {
            w.encoded = Some(e);
        }
    }

    /// The windows to detect the language from, once enough have come (the first
    /// `language_detection_windows`, or all when the input has fewer); None when the language
    /// is known, or it is too early.
    pub(crate) fn language_sample(&self) -> Option<&[Window]> {
        let n = self.config.language_detection_windows.max(1);
        let ready = self.sot_sequence.is_empty()
            && self.failed.is_none()
            && !self.windows.is_empty()
            && (self.windows.len() >= n || self.ended);
        ready.then(|| &self.windows[..n.min(self.windows.len())])
    }

    pub(crate) fn fail(&mut self, why: String) {
        self.failed.get_or_insert(why);
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
        self.transcript.speech_s += audio.len() as f64 / SR;
        self.transcript.windows += 1;
        self.cursors.push(Cursor {
            done: audio.len() / HOP < MIN_REST_FRAMES,
            ..Cursor::default()
        });
        self.windows.push(Window {
            map: WindowMap::new(ranges),
            audio,
            speech_starts,
            encoded: None,
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

    /// The config the transcription decodes with (a batch takes the first request's).
    pub(crate) fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Up to `max` requests for windows that are ready, marked in flight; `held`: windows kept
    /// back for a pack.
    pub(crate) fn next_requests(
        &mut self,
        vocab: &Vocab,
        max: usize,
        held: &[usize],
    ) -> Vec<Request> {
        let mut out = Vec::new();
        if self.sot_sequence.is_empty() || self.failed.is_some() {
            return out; // waiting for language detection
        }
        for i in 0..self.windows.len() {
            if held.contains(&i) {
                continue;
            }
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
            out.push(self.request(vocab, i));
            self.cursors[i].in_flight = true;
            if self.config.condition_on_previous_text {
                break;
            }
        }
        out
    }

    /// The language's start-of-transcript sequence; empty until it is known.
    pub(crate) fn sot_sequence(&self) -> &[u32] {
        &self.sot_sequence
    }

    /// The detected or given language.
    pub(crate) fn language(&self) -> Option<&str> {
        self.transcript.language.as_deref()
    }

    /// Samples of window `i` (0 once decoded).
    pub(crate) fn window_samples(&self, i: usize) -> usize {
        self.windows[i].audio.len()
    }

    /// Generate passes so far.
    pub(crate) fn passes(&self) -> usize {
        self.transcript.passes
    }

    /// Windows that may share a generate call with other inputs': not started, at most
    /// `max_samples` long, the language known, no conditioning on previous text.
    pub(crate) fn pack_candidates(&self, max_samples: usize) -> Vec<usize> {
        if !self.config.pack_inputs
            || self.config.condition_on_previous_text
            || self.sot_sequence.is_empty()
            || self.failed.is_some()
        {
            return Vec::new();
        }
        (0..self.windows.len())
            .filter(|&i| {
                let c = &self.cursors[i];
                !c.done
                    && !c.in_flight
                    && !c.alone
                    && c.seek == 0
                    && c.attempts.is_empty()
                    // Its encoder pass is already paid for: decoding it alone costs less.
                    && self.windows[i].encoded.is_none()
                    && self.windows[i].audio.len() <= max_samples
            })
            .collect()
    }

    /// Hands window `i` to a pack: its samples and speech starts; it stays in flight until
    /// [`Self::deliver_packed`] or [`Self::unpack`].
    pub(crate) fn take_for_pack(&mut self, i: usize) -> (&[f32], &[f64]) {
        let c = &mut self.cursors[i];
        c.in_flight = true;
        let w = &self.windows[i];
        (&w.audio, &w.speech_starts)
    }

    /// The segments a pack decoded for window `i`, in seconds from the window's start: mapped
    /// to the input's own time line, and the window is done.
    pub(crate) fn deliver_packed(&mut self, i: usize, segments: Vec<Segment>, passes: usize) {
        let w = &self.windows[i];
        let segments = segments
            .into_iter()
            .map(|mut s| {
                let (a, b) = w.map.original_span(s.start, s.end);
                s.start = round(a, 3);
                s.end = round(b, 3);
                s
            })
            .collect();
        self.transcript.passes += passes;
        self.transcript.packed_windows += 1;
        let c = &mut self.cursors[i];
        c.segments = segments;
        c.in_flight = false;
        c.done = true;
        self.windows[i].audio = Vec::new();
    }

    /// Window `i` comes back from a pack undecoded: it is decoded on its own.
    pub(crate) fn unpack(&mut self, i: usize) {
        let c = &mut self.cursors[i];
        c.in_flight = false;
        c.alone = true;
    }

    /// A request that was chosen but not sent (the batch was full): its window is ready again.
    pub(crate) fn put_back(&mut self, req: &Request) {
        self.cursors[req.window].in_flight = false;
    }

    /// Copies the samples of a request chosen for a batch out of its window, or hands it the
    /// encoder output kept for them.
    pub(crate) fn fill_audio(&self, req: &mut Request) {
        let w = &self.windows[req.window];
        let audio = &w.audio;
        let (a, b) = req.samples;
        if let Some(e) = w
            .encoded
            .as_ref()
            .filter(|_| a == 0 && b == audio.len().min(N_SAMPLES))
        {
            req.encoded = Some(e.clone());
            return;
        }
        req.audio = audio[a.min(audio.len())..b.min(audio.len())].to_vec();
    }

    fn request(&self, vocab: &Vocab, window: usize) -> Request {
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
            if let Some(prev) = vocab.sot_prev {
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
            encoded: None,
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

    /// Takes the result of a request: retries at the next temperature when it needs a
    /// fallback, else turns the best attempt into segments and moves on.
    pub(crate) fn accept(&mut self, vocab: &Vocab, req: Request, g: Generated) {
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
        self.advance(vocab, req.window, temperature, g);
    }

    /// Why a result is dropped whole: silence, a hallucination or a decoding loop.
    fn drop_reason(&self, g: &Generated) -> Option<&'static str> {
        let c = &self.config;
        if g.no_speech_prob > c.no_speech_threshold && g.avg_logprob < c.log_prob_threshold {
            Some("no_speech")
        } else if g.no_speech_prob > c.hallucination_no_speech_threshold
            && g.avg_logprob < c.hallucination_logprob_threshold
        {
            Some("hallucination")
        } else if g.compression_ratio > c.repetition_drop_threshold {
            Some("repetition")
        } else {
            None
        }
    }

    /// Turns an accepted result into segments and moves the window's seek position.
    fn advance(&mut self, vocab: &Vocab, window: usize, temperature: f32, g: Generated) {
        let w = &self.windows[window];
        let content = w.audio.len() / HOP;
        let seek = self.cursors[window].seek;
        let segment_size = N_FRAMES.min(content - seek.min(content));
        let time_offset = seek as f64 * HOP as f64 / SR;
        if let Some(reason) = self.drop_reason(&g) {
            *self.transcript.dropped.entry(reason.into()).or_default() += 1;
            self.move_seek(window, seek + segment_size);
            return;
        }
        let parsed = parse_timestamps(vocab, &g.tokens, seek, segment_size);
        let new_seek = reseek(vocab, w, &g.tokens, time_offset, parsed.seek);
        let max_t = content as f64 * HOP as f64 / SR;
        let mut segments = Vec::new();
        for (start, end, toks) in parsed.pieces {
            let text = vocab.text(toks);
            if text.trim().is_empty() {
                continue;
            }
            let (s, e) = (
                (time_offset + start).min(max_t),
                (time_offset + end).min(max_t),
            );
            let (os, oe) = w.map.original_span(s, e);
            segments.push(Segment {
                start: round(os, 3),
                end: round(oe, 3),
                text: text.trim().to_string(),
                avg_logprob: round(g.avg_logprob, 4),
                no_speech_prob: round(g.no_speech_prob, 4),
                compression_ratio: round(g.compression_ratio, 3),
                temperature: temperature as f64,
                caption_agreement: None,
            });
        }
        self.cursors[window].segments.extend(segments);
        if self.config.condition_on_previous_text {
            if temperature > self.config.prompt_reset_on_temperature {
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
            self.windows[window].encoded = None;
        } else if seek > 0 {
            self.windows[window].encoded = None; // the rest is encoded on its own
        }
    }
}

/// The segments of one result, in window-relative seconds from the seek position, and where the
/// seek goes next (mel frames), as Whisper's timestamp rules say.
struct Parsed<'t> {
    pieces: Vec<(f64, f64, &'t [u32])>,
    seek: usize,
}

fn parse_timestamps<'t>(
    vocab: &Vocab,
    tokens: &'t [u32],
    seek: usize,
    segment_size: usize,
) -> Parsed<'t> {
    let ts = |t: u32| (t - vocab.timestamp_begin) as f64 * TIME_PRECISION;
    let single_timestamp_ending = tokens.len() >= 2
        && !vocab.is_timestamp(tokens[tokens.len() - 2])
        && vocab.is_timestamp(tokens[tokens.len() - 1]);
    let consecutive: Vec<usize> = (1..tokens.len())
        .filter(|&i| vocab.is_timestamp(tokens[i]) && vocab.is_timestamp(tokens[i - 1]))
        .collect();
    if consecutive.is_empty() {
        let mut duration = segment_size as f64 * HOP as f64 / SR;
        if let Some(&last_ts) = tokens.iter().rev().find(|&&t| vocab.is_timestamp(t)) {
            if last_ts != vocab.timestamp_begin {
                duration = ts(last_ts);
            }
        }
        return Parsed {
            pieces: vec![(0.0, duration, tokens)],
            seek: seek + segment_size,
        };
    }
    let mut slices = consecutive;
    if single_timestamp_ending {
        slices.push(tokens.len());
    }
    let mut pieces = Vec::new();
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
    let seek = if single_timestamp_ending {
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
    Parsed { pieces, seek }
}

/// Whisper may end a window early, predicting no more speech (a single timestamp at the end, or
/// no timestamps): the rest of the window is then skipped. With voice activity detection the
/// whole window is speech, so the rest is decoded again:
///
/// - from Whisper's last timestamp, when more than [`UNHEARD_REST_S`] of speech follows it
///   before the next speech start (or the window's end): Whisper stopped inside speech, as it
///   does where one speaker's last words run into the next speaker's after a cut pause;
/// - else from the next speech start in the rest. A start up to RESEEK_OVERLAP before the last
///   timestamp counts as skipped too: where pauses are cut out, the next speaker starts right at
///   the cut, and Whisper's last timestamp often lands a little past it without a word of what
///   follows (re-reading 0.1 s costs at most part of a word; missing the start loses the whole
///   utterance).
///
/// Without VAD (fixed windows, silence and music included) the rest stays skipped, as in
/// Whisper. Returns the seek position (mel frames).
fn reseek(vocab: &Vocab, w: &Window, tokens: &[u32], time_offset: f64, seek: usize) -> usize {
    let decoded_until = time_offset
        + tokens
            .iter()
            .rev()
            .find(|&&t| vocab.is_timestamp(t))
            .map_or(0.0, |&t| {
                (t - vocab.timestamp_begin) as f64 * TIME_PRECISION
            });
    let seek_t = seek as f64 * HOP as f64 / SR;
    let next_start = w
        .speech_starts
        .iter()
        .find(|&&s| s > (decoded_until - RESEEK_OVERLAP).max(time_offset) && s < seek_t)
        .copied();
    let end = w.audio.len() as f64 / SR;
    let unheard = next_start.unwrap_or(end).min(seek_t) - decoded_until;
    if !w.speech_starts.is_empty() && decoded_until > time_offset && unheard > UNHEARD_REST_S {
        return (decoded_until * SR) as usize / HOP;
    }
    match next_start {
        Some(s) => (s * SR) as usize / HOP,
        None => seek,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small vocabulary: words, the special tokens, and timestamps <|0.00|> .. <|30.00|>.
    fn vocab() -> Vocab {
        let mut tokens: Vec<String> = ["Hello", "Ġworld", "Ġagain"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for t in [
            "<|endoftext|>",
            "<|startoftranscript|>",
            "<|en|>",
            "<|zh|>",
            "<|translate|>",
            "<|transcribe|>",
            "<|startofprev|>",
            "<|notimestamps|>",
        ] {
            tokens.push(t.into());
        }
        for i in 0..=1500 {
            tokens.push(format!("<|{:.2}|>", i as f64 * 0.02));
        }
        Vocab::from_tokens(tokens).unwrap()
    }

    fn ts(v: &Vocab, secs: f64) -> u32 {
        v.timestamp_begin + (secs / TIME_PRECISION).round() as u32
    }

    fn result(tokens: Vec<u32>) -> Generated {
        Generated {
            tokens,
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            compression_ratio: 1.2,
        }
    }

    /// Segments with timestamps map back through the window's cut pause. A result that ends
    /// early is decoded again: from the next speech start when little speech is skipped before
    /// it, else from the last timestamp (Whisper stopped inside speech).
    #[test]
    fn segments_and_reseek() {
        let v = vocab();
        let config = SearchConfig::default();
        let mut t = Transcription::new(&config, &v).unwrap();
        // The small vocabulary is English-only: the language is set.
        assert!(t.language_sample().is_none());
        // A 20 s window of two pieces: 10 s from 5 s, and 10 s from 40 s (pause cut out).
        let ranges = [(5 * 16_000, 15 * 16_000), (40 * 16_000, 50 * 16_000)];
        t.push_window(&ranges, vec![0.0; 20 * 16_000], vec![0.0, 10.0]);
        t.end_input();
        let mut req = t.next_requests(&v, 8, &[]);
        assert_eq!(req.len(), 1);
        assert_eq!(req[0].samples, (0, 20 * 16_000));
        // Each result in turn, and where decoding resumes (None: the window is done).
        let steps = [
            // "Hello world" 0-9 s and no timestamp pair: Whisper predicts no more speech in the
            // window, but VAD has speech starting at 10 s, 1 s later: resume there.
            (vec![ts(&v, 0.0), 0, 1, ts(&v, 9.0)], Some(10)),
            // "again" 0-2 s, then nothing: 8 s of the piece's speech unheard: resume at the
            // last timestamp.
            (vec![ts(&v, 0.0), 2, ts(&v, 2.0)], Some(12)),
            // "world" 0-7 s: 1 s left, too little to decode again.
            (vec![ts(&v, 0.0), 1, ts(&v, 7.0)], None),
        ];
        for (tokens, resume_s) in steps {
            t.accept(&v, req.pop().unwrap(), result(tokens));
            assert_eq!(t.is_done(), resume_s.is_none());
            req = t.next_requests(&v, 8, &[]);
            assert_eq!(req.first().map(|r| r.samples.0 / 16_000), resume_s);
        }
        let out = t.finish();
        let segs: Vec<_> = out
            .segments
            .iter()
            .map(|s| (s.start, s.end, s.text.as_str()))
            .collect();
        assert_eq!(
            segs,
            vec![
                (5.0, 14.0, "Hello world"),
                (40.0, 42.0, "again"),
                (42.0, 49.0, "world")
            ]
        );
        assert_eq!((out.windows, out.passes), (1, 3));
    }

    /// Encoder outputs kept from language detection feed the first pass of their windows (at
    /// any temperature) and keep those windows out of packs; a later seek encodes afresh.
    #[test]
    fn detection_encodings_feed_first_passes() {
        let v = vocab();
        let config = SearchConfig {
            pack_inputs: true,
            ..SearchConfig::default()
        };
        let mut t = Transcription::new(&config, &v).unwrap();
        t.push_window(&[(0, 16_000 * 20)], vec![0.0; 16_000 * 20], vec![0.0, 12.0]);
        t.push_window(
            &[(16_000 * 40, 16_000 * 45)],
            vec![0.0; 16_000 * 5],
            vec![0.0],
        );
        t.end_input();
        let max = 16_000 * 20;
        assert_eq!(t.pack_candidates(max), vec![0, 1]);
        let kept = std::sync::Arc::new(vec![1.0f32; 8]);
        t.keep_encoded(vec![kept.clone()]);
        assert_eq!(
            t.pack_candidates(max),
            vec![1],
            "an encoded window is decoded alone"
        );
        let mut reqs = t.next_requests(&v, 8, &[]);
        assert_eq!(reqs.len(), 2);
        for r in &mut reqs {
            t.fill_audio(r);
        }
        assert!(reqs[0]
            .encoded
            .as_ref()
            .is_some_and(|e| std::sync::Arc::ptr_eq(e, &kept)));
        assert!(reqs[0].audio.is_empty());
        assert!(reqs[1].encoded.is_none());
        assert_eq!(reqs[1].audio.len(), 16_000 * 5);
        // Window 0 ends early at 4 s with 8 s of speech before the next start: decoded again
        // from 4 s, encoded afresh.
        let first = reqs.remove(0);
        t.accept(&v, first, result(vec![ts(&v, 0.0), 0, ts(&v, 4.0)]));
        let mut again = t.next_requests(&v, 8, &[]);
        assert_eq!(again[0].samples.0, 4 * 16_000);
        t.fill_audio(&mut again[0]);
        assert!(again[0].encoded.is_none());
        assert_eq!(again[0].audio.len(), 16 * 16_000);
    }

    #[test]
    fn an_english_only_model_refuses_another_language() {
        let config = SearchConfig {
            language: Some("zh".into()),
            ..SearchConfig::default()
        };
        let err = Transcription::new(&config, &vocab()).err().unwrap();
        assert!(err.contains("English-only"), "{err}");
    }

    /// A repetitive result falls back to the next temperature; when every temperature fails,
    /// the window is dropped as a repetition and counted.
    #[test]
    fn fallback_then_drop() {
        let v = vocab();
        let config = SearchConfig {
            temperatures: vec![0.0, 0.5],
            ..SearchConfig::default()
        };
        let mut t = Transcription::new(&config, &v).unwrap();
        t.push_window(&[(0, 16_000 * 5)], vec![0.0; 16_000 * 5], vec![0.0]);
        t.end_input();
        let looping = || Generated {
            compression_ratio: 3.5,
            ..result(vec![ts(&v, 0.0), 0, ts(&v, 1.0)])
        };
        let r = t.next_requests(&v, 8, &[]).pop().unwrap();
        assert_eq!(r.temperature, 0.0);
        t.accept(&v, r, looping());
        let r = t.next_requests(&v, 8, &[]).pop().unwrap();
        assert_eq!(r.temperature, 0.5, "retried at the next temperature");
        t.accept(&v, r, looping());
        assert!(t.is_done());
        let out = t.finish();
        assert!(out.segments.is_empty());
        assert_eq!(out.dropped.get("repetition"), Some(&1));
        assert_eq!(out.passes, 2);
    }

    #[test]
    fn multilingual_waits_for_its_language() {
        let mut tokens: Vec<String> = (0..51865).map(|i| format!("t{i}")).collect();
        for (i, t) in [
            "<|endoftext|>",
            "<|startoftranscript|>",
            "<|en|>",
            "<|zh|>",
            "<|translate|>",
            "<|transcribe|>",
            "<|notimestamps|>",
            "<|0.00|>",
        ]
        .iter()
        .enumerate()
        {
            tokens[50257 + i] = t.to_string();
        }
        let v = Vocab::from_tokens(tokens).unwrap();
        assert!(v.is_multilingual());
        assert_eq!(v.languages(), vec!["en", "zh"]);
        let config = SearchConfig {
            language_detection_windows: 2,
            ..SearchConfig::default()
        };
        let mut t = Transcription::new(&config, &v).unwrap();
        t.push_window(&[(0, 16_000)], vec![0.0; 16_000], vec![]);
        assert!(t.language_sample().is_none(), "one window of two");
        assert!(t.next_requests(&v, 8, &[]).is_empty());
        t.end_input();
        assert_eq!(t.language_sample().map(<[_]>::len), Some(1));
        let bad = SearchConfig {
            language: Some("xx".into()),
            ..SearchConfig::default()
        };
        let e = Transcription::new(&bad, &v).err().unwrap();
        assert!(e.contains("`xx`") && e.contains("en, zh"), "{e}");
    }
}
