//! The visual stage: for each input the decode stage hands over, its embedded text subtitle
//! streams, then its keyframes through OCR (near-identical keyframes skipped, reads spaced out
//! where nothing new appears), merged into screen-text spans.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use vid2text_core::doc::{Failure, Stage, SubtitleCue};
use vid2text_core::round;
use vid2text_core::screen::ScreenTracker;
use vid2text_media::{KeyframeOptions, ReadError};
use vid2text_models::ocr::OcrEngine;
use vid2text_models::ocr_image::{DetLimit, RgbImage, Thumbnail};

use super::{Visual, VisualDone, VisualJob};

/// The visual stage's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Time limit of each FFmpeg child (its own time).
    pub timeout: Duration,
    /// Only the first seconds of longer inputs (`--max-duration`).
    pub max_duration_s: Option<f64>,
    pub keyframes: KeyframeOptions,
    /// Keyframe OCR; None with `--no-ocr` (subtitle streams are still read).
    pub ocr: Option<OcrConfig>,
}

/// How keyframes are read.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrConfig {
    /// Lines read with a lower mean character probability are dropped.
    pub min_confidence: f32,
    /// Longest wait between reads where nothing new appears (seconds).
    pub backoff_s: f64,
    /// How detector inputs are sized.
    pub det_limit: DetLimit,
    /// ONNX Runtime threads of each worker.
    pub threads: usize,
}

impl Config {
    fn capped(&self, duration_s: f64) -> f64 {
        self.max_duration_s
            .map_or(duration_s, |m| duration_s.min(m))
    }
}

/// A visual worker: its settings and its own OCR sessions.
pub struct Reader {
    config: Arc<Config>,
    ocr: Option<OcrEngine>,
}

/// The models a worker loads: PP-OCRv4 detection and recognition, through ONNX Runtime.
pub struct OcrModels<'a> {
    pub det: &'a Path,
    pub rec: &'a Path,
    pub env: &'a vid2text_models::OnnxEnvironment,
}

impl Reader {
    pub fn build(config: Arc<Config>, models: Option<OcrModels>) -> anyhow::Result<Self> {
        let ocr = match (&config.ocr, models) {
            (Some(o), Some(m)) => {
                Some(OcrEngine::load(m.det, m.rec, m.env, o.threads)?.with_det_limit(o.det_limit))
            }
            _ => None,
        };
        Ok(Reader { config, ocr })
    }

    /// Reads every input that comes until the channel closes or the writer is gone.
    pub fn run(mut self, rx: Receiver<VisualJob>, tx: Sender<VisualDone>) {
        for job in rx {
            let began = Instant::now();
            let result = self.read(&job);
            let done = VisualDone {
                key: job.key,
                result,
                busy_s: began.elapsed().as_secs_f64(),
            };
            if tx.send(done).is_err() {
                break; // the writer is gone: the run is stopping
            }
        }
    }

    /// One input: its text subtitle streams, then its keyframes through OCR.
    fn read(&mut self, job: &VisualJob) -> Result<Visual, Failure> {
        let mut v = Visual::default();
        self.read_subtitle_streams(job, &mut v)?;
        if self.ocr.is_some() && job.info.has_video() {
            self.read_keyframes(job, &mut v)?;
        }
        Ok(v)
    }

    fn read_subtitle_streams(&self, job: &VisualJob, v: &mut Visual) -> Result<(), Failure> {
        let c = &self.config;
        for stream in &job.info.subtitles {
            if !stream.is_text() {
                v.skipped_subtitle_streams.push(stream.codec.clone());
                continue;
            }
            let cues = vid2text_media::read_subtitle_stream(
                &job.target,
                stream.index,
                c.max_duration_s,
                c.timeout,
            )
            .map_err(|e| {
                let why = format!("stream {} ({}): {e}", stream.index, stream.codec);
                Failure::new(&job.uri, Stage::Subtitles, why)
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
        Ok(())
    }

    /// Keyframes through OCR into screen-text spans. A keyframe that looks like the last one
    /// read is not read again; where reads find nothing new, the next waits longer (see
    /// [`Backoff`]).
    fn read_keyframes(&mut self, job: &VisualJob, v: &mut Visual) -> Result<(), Failure> {
        let c = Arc::clone(&self.config);
        let o = c.ocr.as_ref().expect("OCR settings with an OCR engine");
        let ocr = self.ocr.as_mut().expect("an OCR engine");
        let mut tracker = ScreenTracker::new();
        let mut last: Option<Thumbnail> = None;
        let mut last_t = 0.0f64;
        let mut backoff = Backoff::new(o.backoff_s);
        let end = vid2text_media::keyframes(&job.target, &c.keyframes, c.timeout, &mut |frame| {
            v.keyframes += 1;
            last_t = frame.t;
            let img = RgbImage::new(frame.width as usize, frame.height as usize, frame.rgb);
            let thumb = Thumbnail::of(&img);
            if last.as_ref().is_some_and(|l| l.same_picture(&thumb)) || backoff.waits(frame.t) {
                tracker.hold(frame.t);
                return Ok::<_, vid2text_models::Error>(());
            }
            let lines = ocr.recognize(&img, o.min_confidence)?;
            v.ocr_frames += 1;
            let lines: Vec<(String, f32)> =
                lines.into_iter().map(|l| (l.text, l.confidence)).collect();
            let new = tracker.observe(frame.t, &lines);
            backoff.read(frame.t, new > 0);
            last = Some(thumb);
            Ok(())
        });
        end.map_err(|e| match e {
            ReadError::Consumer(ocr) => Failure::from_error(&job.uri, Stage::Ocr, &ocr),
            ReadError::Media(e) => Failure::new(&job.uri, Stage::Ocr, format!("keyframes: {e}")),
        })?;
        self.check_frames_reach_the_end(job, v.keyframes, last_t)?;
        v.screen_text = tracker.finish(c.capped(job.info.duration_s));
        Ok(())
    }

    /// A damaged video-only file decodes in part and FFmpeg exits 0: its frames stop well before
    /// its stated length. (With audio, the decode stage's check catches it.)
    fn check_frames_reach_the_end(
        &self,
        job: &VisualJob,
        keyframes: u64,
        last_t: f64,
    ) -> Result<(), Failure> {
        if job.info.has_audio() {
            return Ok(());
        }
        let expected = self.config.capped(job.info.video_duration_s());
        let fail = |why: String| Err(Failure::new(&job.uri, Stage::Ocr, why));
        if keyframes == 0 && expected > 1.0 {
            return fail("no video frame could be decoded".into());
        }
        if last_t < expected * 0.9 - 2.0 {
            return fail(format!(
                "truncated or corrupt: video frames end at {last_t:.1} s of {expected:.1} s"
            ));
        }
        Ok(())
    }
}

/// Back-off on changing pictures where OCR finds nothing new (motion, a running timecode): after
/// n such reads in a row, the next read waits min(n, max) seconds. New text resets it.
struct Backoff {
    max_s: f64,
    quiet: u32,
    last_read_t: f64,
}

impl Backoff {
    fn new(max_s: f64) -> Self {
        Backoff {
            max_s,
            quiet: 0,
            last_read_t: f64::NEG_INFINITY,
        }
    }

    /// Whether a keyframe at `t` is too soon to read.
    fn waits(&self, t: f64) -> bool {
        t - self.last_read_t < (self.quiet as f64).min(self.max_s) - 1e-6
    }

    /// A read at `t` that found new text or not.
    fn read(&mut self, t: f64, found_new: bool) {
        self.quiet = if found_new { 0 } else { self.quiet + 1 };
        self.last_read_t = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spaces_out_fruitless_reads_up_to_its_limit() {
        let mut b = Backoff::new(3.0);
        assert!(!b.waits(0.0));
        b.read(0.0, false); // 1 quiet read: the next waits 1 s
        assert!(b.waits(0.5) && !b.waits(1.0));
        b.read(1.0, false); // 2: waits 2 s
        assert!(b.waits(2.5) && !b.waits(3.0));
        b.read(3.0, false);
        b.read(6.0, false); // 4 quiet reads: capped at 3 s
        assert!(b.waits(8.5) && !b.waits(9.0));
        b.read(9.0, true); // new text: read again at once
        assert!(!b.waits(9.25));
    }
}
