//! The visual stage: for each input the decode stage hands over, its embedded text subtitle
//! streams, then its picture:
//!
//! 1. **Keyframes** (scene changes and at least every second) through OCR of the whole frame,
//!    near-identical keyframes skipped and reads spaced out where nothing new appears: screen
//!    text, and the boxes from which the caption band is found
//!    ([`vid2text_core::captions::BandFinder`]) and watermarks told apart.
//! 2. **The caption band**, when there is one, sampled at caption rate (5 frames a second by
//!    default) and cropped by FFmpeg; a crop whose print has not changed is not read again, the
//!    others go through OCR with a detector input a tenth of a frame's. Its lines become
//!    `captions`, with times from the frames' presentation times.
//!
//! Both come from about one decode: FFmpeg decodes for the keyframes alone until the band is
//! found; that run then stops, and one run from the start gives the band's crops and the rest
//! of the keyframes ([`vid2text_media::keyframes_and_band`]). A video without captions is
//! decoded once, for its keyframes; a captioned one once, plus its first seconds. Where the
//! band the keyframes end with is not the one first found (captions that moved), it is read
//! again in a pass of its own.
//!
//! Lines of the band read on whole keyframes are left to the band's reading; watermarks are
//! kept apart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use vid2text_core::captions::{
    has_letters, line_languages, BandFinder, CaptionBand, Region, WatermarkFinder,
};
use vid2text_core::doc::{Caption, Failure, Stage, SubtitleCue};
use vid2text_core::round;
use vid2text_core::screen::ScreenTracker;
use vid2text_media::{BandOptions, KeyframeOptions, ReadError, Sampled};
use vid2text_models::ocr::{OcrEngine, TextLine};
use vid2text_models::ocr_image::{
    BandPrint, DetLimit, Quad, RgbImage, Thumbnail, PRINT_H, PRINT_W,
};

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

/// Where the caption band is (`--caption-band`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BandChoice {
    /// Found per video from the keyframes' lines.
    Auto,
    /// No caption band: every line is screen text.
    Off,
    /// The user's band, on every video.
    Fixed(CaptionBand),
}

/// How keyframes and the caption band are read.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrConfig {
    pub band: BandChoice,
    /// Crops of the caption band sampled per second.
    pub caption_fps: f64,
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
            if crate::stop::requested() {
                break; // the rest is left for the rerun
            }
            let began = Instant::now();
            let result = self.read(&job);
            if let Some(ocr) = self.ocr.as_mut() {
                super::clock::add_ocr(ocr.take_times());
            }
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

    /// The two passes over the picture (see the module docs).
    fn read_keyframes(&mut self, job: &VisualJob, v: &mut Visual) -> Result<(), Failure> {
        let (keyframes, streamed) = self.read_whole_frames(job, v)?;
        let band = match self.ocr_config().band {
            BandChoice::Auto => keyframes.band.as_ref().and_then(BandFinder::band),
            BandChoice::Off => None,
            BandChoice::Fixed(b) => Some(b),
        };
        let end = self.config.capped(job.info.duration_s);
        let (screen, watermarks) = keyframes.spans(band, end);
        v.screen_text = screen;
        v.watermarks = watermarks;
        if let Some(band) = band {
            v.caption_band = Some(band);
            let reader = match streamed.filter(|r| r.serves(band)) {
                Some(reader) => reader,
                // The band moved once more lines were seen: read it again where it ended up.
                None => self.read_band(job, band, &keyframes.watermarks)?,
            };
            v.caption_frames += reader.frames;
            v.caption_reads += reader.reads;
            v.captions = reader.finish(band, &keyframes.watermarks, end);
        }
        Ok(())
    }

    fn ocr_config(&self) -> &OcrConfig {
        self.config
            .ocr
            .as_ref()
            .expect("OCR settings with an OCR engine")
    }

    /// Pass 1: keyframes through OCR ([`KeyframeReader`]).
    ///
    /// While the band is looked for, FFmpeg decodes for the keyframes alone; once it is known,
    /// that run stops and one decode from the start serves both the rest of the keyframes and
    /// the band at caption rate (its crops read as they come, [`BandReader`]), so a video
    /// without captions pays nothing for them and a captioned one is decoded about once. That
    /// reading comes back with the keyframes.
    fn read_whole_frames(
        &mut self,
        job: &VisualJob,
        v: &mut Visual,
    ) -> Result<(Keyframes, Option<BandReader>), Failure> {
        let c = Arc::clone(&self.config);
        let o = c.ocr.as_ref().expect("OCR settings with an OCR engine");
        let ocr = self.ocr.as_mut().expect("an OCR engine");
        let mut pass = KeyframeReader::new(o);
        // Up to the keyframe at which the band is known (from the start with the user's band).
        let mut found: Option<(f64, CaptionBand)> = match o.band {
            BandChoice::Fixed(b) => Some((f64::NEG_INFINITY, b)),
            _ => None,
        };
        if found.is_none() {
            let end = vid2text_media::keyframes(&job.target, &c.keyframes, c.timeout, &mut |f| {
                let t = f.t;
                match pass.frame(f, ocr).map_err(Switch::Failed)? {
                    Some(band) => Err(Switch::Band(t, band)),
                    None => Ok(()),
                }
            });
            match end {
                Ok(_) => {}
                Err(ReadError::Consumer(Switch::Band(t, band))) => found = Some((t, band)),
                Err(ReadError::Consumer(Switch::Failed(e))) => {
                    return Err(ocr_failure(job, ReadError::Consumer(e), "keyframes"))
                }
                Err(ReadError::Media(e)) => {
                    return Err(ocr_failure(job, ReadError::Media(e), "keyframes"))
                }
            }
        }
        // Then the rest of the keyframes (those read already come again and are passed over)
        // and the band from the start, in one decode.
        let mut streamed = None;
        if let Some((read_to, band)) = found {
            let mut reader = BandReader::new(band).with_earlier(pass.earlier(band));
            let mut on_frame = |sampled| match sampled {
                Sampled::Keyframe(f) if f.t <= read_to => Ok(()),
                Sampled::Keyframe(f) => pass.frame(f, ocr).map(drop),
                Sampled::Band(f) => {
                    let img = RgbImage::new(f.width as usize, f.height as usize, f.rgb);
                    reader.frame(f.t, &img, ocr, o.min_confidence, None)
                }
            };
            vid2text_media::keyframes_and_band(
                &job.target,
                &c.keyframes,
                &band_options(&c, o, band),
                c.timeout,
                &mut on_frame,
            )
            .map_err(|e| ocr_failure(job, e, "keyframes and caption band"))?;
            streamed = Some(reader);
        }
        let pass = pass
            .finish(ocr)
            .map_err(|e| ocr_failure(job, ReadError::Consumer(e), "keyframes"))?;
        v.keyframes += pass.keyframes;
        v.ocr_frames += pass.ocr_frames;
        self.check_frames_reach_the_end(job, v.keyframes, pass.last_t)?;
        Ok((pass.k, streamed))
    }

    /// Pass 2, where the band read with the keyframes cannot serve: the caption band at caption
    /// rate in a decode of its own.
    fn read_band(
        &mut self,
        job: &VisualJob,
        band: CaptionBand,
        watermarks: &WatermarkFinder,
    ) -> Result<BandReader, Failure> {
        let c = Arc::clone(&self.config);
        let o = c.ocr.as_ref().expect("OCR settings with an OCR engine");
        let ocr = self.ocr.as_mut().expect("an OCR engine");
        let options = band_options(&c, o, band);
        let mut reader = BandReader::new(band);
        let end = vid2text_media::band_frames(&job.target, &options, c.timeout, &mut |frame| {
            let (w, h) = (frame.width as usize, frame.height as usize);
            let img = RgbImage::new(w, h, frame.rgb);
            reader.frame(frame.t, &img, ocr, o.min_confidence, Some(watermarks))
        });
        end.map_err(|e| ocr_failure(job, e, "caption band"))?;
        Ok(reader)
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

/// Pass 1 over one video: which keyframes are read whole and how, and what was read. A
/// keyframe that looks like the last one read is not read again; where reads find nothing new
/// (outside the caption band, once it is known), the next waits longer (see [`Backoff`]).
struct KeyframeReader<'a> {
    o: &'a OcrConfig,
    k: Keyframes,
    /// What is new outside the band decides the back-off.
    outside: ScreenTracker,
    last: Option<Thumbnail>,
    backoff: Backoff,
    probes: u32,
    /// The keyframes from a video's first probe on while no probe has shown a caption-like line
    /// and another is to come: held with their smaller reads until a probe shows one (the reads
    /// stand) or none is left (each is read again at full size), then taken in order.
    pending: Vec<Pending>,
    /// Whole frames read while the band is looked for that show a caption-like line, with
    /// their lines (at most [`KEPT_READS`]): once the band is known, a band crop showing the
    /// same caption as one of them takes its lines instead of being read again ([`Earlier`]).
    kept: Vec<(f64, RgbImage, Vec<Line>)>,
    keyframes: u64,
    ocr_frames: u64,
    last_t: f64,
}

/// A keyframe of [`KeyframeReader::pending`].
enum Pending {
    Read {
        t: f64,
        img: RgbImage,
        thumb: Thumbnail,
        lines: Vec<Line>,
    },
    Hold(f64),
}

impl<'a> KeyframeReader<'a> {
    fn new(o: &'a OcrConfig) -> Self {
        KeyframeReader {
            o,
            k: Keyframes::default(),
            outside: ScreenTracker::new(),
            last: None,
            backoff: Backoff::new(o.backoff_s),
            probes: 0,
            pending: Vec::new(),
            kept: Vec::new(),
            keyframes: 0,
            ocr_frames: 0,
            last_t: 0.0,
        }
    }

    /// The band as known so far: the user's, or the one found (not with `off`).
    fn known(&self) -> Option<CaptionBand> {
        match self.o.band {
            BandChoice::Fixed(b) => Some(b),
            BandChoice::Auto => self.k.band.as_ref().and_then(BandFinder::band),
            BandChoice::Off => None,
        }
    }

    /// A keyframe, read whole or held; the band as known after it.
    fn frame(
        &mut self,
        frame: vid2text_media::Frame,
        ocr: &mut OcrEngine,
    ) -> Result<Option<CaptionBand>, vid2text_models::Error> {
        self.keyframes += 1;
        self.last_t = frame.t;
        let (t, o) = (frame.t, self.o);
        let (w, h) = (frame.width as usize, frame.height as usize);
        let img = RgbImage::new(w, h, frame.rgb);
        let thumb = Thumbnail::of(&img);
        let band = self.known();
        // With captions found, a picture that only changed in the band is the same.
        let same = |l: &Thumbnail| match band {
            Some(b) => l.same_picture_outside(&thumb, b.y0, b.y1),
            None => l.same_picture(&thumb),
        };
        if self.last.as_ref().is_some_and(same) || self.backoff.waits(t) {
            self.hold(t);
            return Ok(band);
        }
        // Once the captions have their own pass, a whole frame is read for the other text
        // on it only: with a smaller detector input (see around_captions),
        // and its caption band's boxes left to the caption pass, unread.
        // While the band is looked for, once a caption-like line has been seen, the smaller
        // input too: captions are large enough for it, and the band is found sooner than
        // at RapidOCR's size (a video without one keeps its full-size reads). Before that,
        // the first reads probe at the smaller size (PROBE_READS).
        let finder = self
            .k
            .band
            .get_or_insert_with(|| BandFinder::new(frame.width, frame.height));
        let looking = o.band == BandChoice::Auto && finder.seen_caption_like();
        let lines = if band.is_some() || looking {
            let in_band = |q: &Quad| band.is_some_and(|b| b.holds(&Region::of_quad(q, w, h)));
            let read = ocr.recognize_sized(&img, o.min_confidence, around_captions(), &in_band)?;
            located(read, w, h, 0.0, 1.0)
        } else if o.band == BandChoice::Auto && self.probes < PROBE_READS {
            // The first reads of a video try the smaller input first: most short video
            // shows its captions from the start, or from its first second. A probe with a
            // caption-like line decides for itself and the probes held before it: their reads
            // stand, as the reads after them will be. Where no probe shows one, each is read
            // again at full size, as a video without captions is.
            self.probes += 1;
            let all = |_: &Quad| false;
            let read = ocr.recognize_sized(&img, o.min_confidence, around_captions(), &all)?;
            let lines = located(read, w, h, 0.0, 1.0);
            if lines
                .iter()
                .any(|l| finder.is_caption_like(&l.text, &l.region))
            {
                self.settle(ocr, true)?;
                lines
            } else if self.probes < PROBE_READS {
                // The back-off has not started (these are the video's first reads): the next
                // picture that differs is read, and decides.
                self.last = Some(thumb.clone());
                self.pending.push(Pending::Read {
                    t,
                    img,
                    thumb,
                    lines,
                });
                return Ok(None);
            } else {
                self.settle(ocr, false)?;
                self.read_full(ocr, &img)?
            }
        } else {
            self.read_full(ocr, &img)?
        };
        self.record(t, &img, lines, thumb);
        Ok(self.known())
    }

    /// The lines of a whole frame read with RapidOCR's detector input.
    fn read_full(
        &self,
        ocr: &mut OcrEngine,
        img: &RgbImage,
    ) -> Result<Vec<Line>, vid2text_models::Error> {
        let read = ocr.recognize(img, self.o.min_confidence)?;
        Ok(located(read, img.width, img.height, 0.0, 1.0))
    }

    /// A keyframe not read: what was on screen stays.
    fn hold(&mut self, t: f64) {
        match self.pending.is_empty() {
            true => {
                self.outside.hold(t);
                self.k.events.push(Event::Hold(t));
            }
            false => self.pending.push(Pending::Hold(t)),
        }
    }

    /// The lines read on the keyframe `img` at `t`.
    fn record(&mut self, t: f64, img: &RgbImage, lines: Vec<Line>, thumb: Thumbnail) {
        self.ocr_frames += 1;
        let looking = self.o.band == BandChoice::Auto && self.known().is_none();
        let refs: Vec<(&str, Region)> = lines.iter().map(|l| (l.text.as_str(), l.region)).collect();
        let finder = self
            .k
            .band
            .as_mut()
            .expect("a band finder from the first read");
        if looking
            && self.kept.len() < KEPT_READS
            && lines
                .iter()
                .any(|l| finder.is_caption_like(&l.text, &l.region))
        {
            self.kept.push((t, img.clone(), lines.clone()));
        }
        finder.observe(t, &refs);
        self.k.watermarks.observe(&refs);
        let band = self.known();
        let seen: Vec<(String, f32)> = lines
            .iter()
            .filter(|l| !band.is_some_and(|b| is_caption(&b, l)))
            .map(|l| (l.text.clone(), l.confidence))
            .collect();
        let new = self.outside.observe(t, &seen);
        self.backoff.read(t, new > 0);
        self.last = Some(thumb);
        self.k.events.push(Event::Read(t, lines));
    }

    /// Takes the held keyframes in order: with their smaller reads (`stand`), or each read
    /// again at full size.
    fn settle(&mut self, ocr: &mut OcrEngine, stand: bool) -> Result<(), vid2text_models::Error> {
        for held in std::mem::take(&mut self.pending) {
            match held {
                Pending::Hold(t) => {
                    self.outside.hold(t);
                    self.k.events.push(Event::Hold(t));
                }
                Pending::Read {
                    t,
                    img,
                    thumb,
                    lines,
                } => {
                    let lines = match stand {
                        true => lines,
                        false => self.read_full(ocr, &img)?,
                    };
                    self.record(t, &img, lines, thumb);
                }
            }
        }
        Ok(())
    }

    /// The reads kept while the band was looked for, as the band reader takes them: each kept
    /// frame's strip of `band` as the band pass cuts it, and its caption lines there.
    fn earlier(&mut self, band: CaptionBand) -> Vec<Earlier> {
        std::mem::take(&mut self.kept)
            .into_iter()
            .filter_map(|(t, img, lines)| {
                let lines: Vec<Line> = lines.into_iter().filter(|l| is_caption(&band, l)).collect();
                if lines.is_empty() {
                    return None;
                }
                let (y, n) = vid2text_media::band_rows(band.y0, band.y1, img.height);
                let print = BandPrint::of(&img.rows(y, n));
                let cells = print_cells(&rows(lines.clone()), band);
                Some(Earlier {
                    t,
                    print,
                    cells,
                    lines,
                })
            })
            .collect()
    }

    /// The pass once the video's frames have ended: a probe still held is read at full size.
    fn finish(mut self, ocr: &mut OcrEngine) -> Result<Self, vid2text_models::Error> {
        self.settle(ocr, false)?;
        Ok(self)
    }
}

/// The detector input of whole frames once a video shows captions: long side at most 640 pixels
/// (360 for the short side of a 16:9 frame), against RapidOCR's short side of 736. The captions,
/// most of the text of such a video, have their own pass; this one is for titles, signs and
/// stickers, which are larger than captions in short video. Measured on the captions benchmark's
/// three English videos (the visual stage alone, 22 whole frames read): the detector took 6.5 s
/// at RapidOCR's size until the band was found and 960 after, 4.8 s at 960 from the first
/// caption-like line on, 2.6-3.1 s at 640 from then on; the caption and OCR tests read the same
/// text at 640.
fn around_captions() -> DetLimit {
    DetLimit::Between {
        min_short: 0,
        max_long: 640,
    }
}

/// Whole frames of a video first read with the smaller detector input of [`around_captions`]
/// while no caption-like line has been seen: if one of them shows one, their reads stand; if
/// none does, each is read again at full size ([`KeyframeReader::pending`]). On the captions
/// benchmark, 14 of 60 whole-frame reads took RapidOCR's full size (each about four times the
/// detector work of a read at 640) when each probe decided alone, 6 when the first was read
/// again at once, none now.
const PROBE_READS: u32 = 2;

/// Whole frames kept with their reads while the band is looked for (about 2.7 MB each at
/// 720p); the band is found on the second distinct caption, most often within four reads.
const KEPT_READS: usize = 8;

/// A whole frame read before the band was known, for the band reader: the print of its band
/// strip, the print cells of its caption rows, and its caption lines. A band crop whose print
/// is the same caption as this one's takes these lines instead of being read: the keyframes'
/// reads of the seconds before the band was found are not repeated on the crops of those seconds.
struct Earlier {
    t: f64,
    print: BandPrint,
    cells: Vec<bool>,
    lines: Vec<Line>,
}

/// How far apart in time a crop and an earlier whole frame may be for the crop to take the
/// frame's read: a caption shown for longer is read again on its crops.
const EARLIER_SPAN_S: f64 = 2.0;

/// How `band` is sampled: at caption rate, as wide as keyframes at most.
fn band_options(c: &Config, o: &OcrConfig, band: CaptionBand) -> BandOptions {
    BandOptions {
        y0: band.y0,
        y1: band.y1,
        fps: o.caption_fps,
        max_width: c.keyframes.max_side,
        max_duration_s: c.max_duration_s,
    }
}

/// An input's failure at the OCR stage: the reader's error as it is, FFmpeg's named by `what`
/// it was reading.
fn ocr_failure(job: &VisualJob, e: ReadError<vid2text_models::Error>, what: &str) -> Failure {
    match e {
        ReadError::Consumer(ocr) => Failure::from_error(&job.uri, Stage::Ocr, &ocr),
        ReadError::Media(e) => Failure::new(&job.uri, Stage::Ocr, format!("{what}: {e}")),
    }
}

/// How the keyframe run that looks for the band ends: stopped at the band, or failed.
enum Switch {
    Band(f64, CaptionBand),
    Failed(vid2text_models::Error),
}

/// Reads caption band crops at caption rate: a crop whose print has not changed over the
/// cells of its caption rows is not read again; the lines of the others are kept with their
/// times, and become caption spans once the band and the watermarks are final.
struct BandReader {
    /// Where the crops are cut.
    band: CaptionBand,
    last: Option<(BandPrint, Vec<bool>)>,
    /// The keyframes' reads from before the band was known.
    earlier: Vec<Earlier>,
    events: Vec<Event>,
    frames: u64,
    /// Crops read by OCR (not those that took an earlier whole frame's read).
    reads: u64,
}

impl BandReader {
    fn new(band: CaptionBand) -> Self {
        BandReader {
            band,
            last: None,
            earlier: Vec::new(),
            events: Vec::new(),
            frames: 0,
            reads: 0,
        }
    }

    fn with_earlier(mut self, earlier: Vec<Earlier>) -> Self {
        self.earlier = earlier;
        self
    }

    /// Whether this reading can stand for a band pass over `band`, the band the keyframes
    /// found in the end: the band it read holds it within a tenth of its height (the lines read
    /// outside it are left out at [`Self::finish`]).
    fn serves(&self, band: CaptionBand) -> bool {
        let slack = 0.1 * (band.y1 - band.y0);
        self.band.y0 <= band.y0 + slack && self.band.y1 >= band.y1 - slack
    }

    /// A crop of the band at `t`; lines of the `watermarks` given are left out at once (the
    /// rest at [`Self::finish`]).
    fn frame(
        &mut self,
        t: f64,
        img: &RgbImage,
        ocr: &mut OcrEngine,
        min_confidence: f32,
        watermarks: Option<&WatermarkFinder>,
    ) -> Result<(), vid2text_models::Error> {
        self.frames += 1;
        let print = BandPrint::of(img);
        if self
            .last
            .as_ref()
            .is_some_and(|(l, cols)| print.same_caption(l, cols))
        {
            self.events.push(Event::Hold(t));
            return Ok(());
        }
        let (w, h) = (img.width, img.height);
        let (y0, y1) = (self.band.y0, self.band.y1);
        let read = match self.earlier_read(t, &print) {
            Some(lines) => lines,
            None => {
                self.reads += 1;
                located(ocr.recognize_band(img, min_confidence)?, w, h, y0, y1)
            }
        };
        let lines: Vec<Line> = read
            .into_iter()
            .filter(|l| {
                has_letters(&l.text)
                    && !watermarks.is_some_and(|m| m.is_watermark(&l.text, &l.region))
            })
            .collect();
        // Without the final watermarks yet, corner lines (where watermarks are) are left out of
        // the cells: a handle on a caption's row would widen it and hide the next caption.
        let in_cells: Vec<Line> = lines
            .iter()
            .filter(|l| watermarks.is_some() || !l.region.in_corner())
            .cloned()
            .collect();
        let cells = print_cells(&rows(in_cells), self.band);
        self.last = Some((print, cells));
        self.events.push(Event::Read(t, lines));
        Ok(())
    }

    /// The caption lines of an earlier whole frame that showed the caption the crop at `t`
    /// shows (its print, within [`EARLIER_SPAN_S`]), if one did.
    fn earlier_read(&self, t: f64, print: &BandPrint) -> Option<Vec<Line>> {
        self.earlier
            .iter()
            .find(|e| (e.t - t).abs() <= EARLIER_SPAN_S && print.same_caption(&e.print, &e.cells))
            .map(|e| e.lines.clone())
    }

    /// The caption spans, with the lines outside the final `band` and the `watermarks` left
    /// out.
    fn finish(self, band: CaptionBand, watermarks: &WatermarkFinder, end: f64) -> Vec<Caption> {
        let mut tracker = ScreenTracker::for_captions();
        for event in self.events {
            match event {
                Event::Hold(t) => tracker.hold(t),
                Event::Read(t, lines) => {
                    let kept = lines
                        .into_iter()
                        .filter(|l| {
                            band.holds(&l.region) && !watermarks.is_watermark(&l.text, &l.region)
                        })
                        .collect();
                    let read: Vec<(String, f32)> = rows(kept)
                        .into_iter()
                        .map(|l| (l.text, l.confidence))
                        .collect();
                    tracker.observe(t, &read);
                }
            }
        }
        captions(tracker.finish(end))
    }
}

/// A line read on a frame, with its box on the whole frame.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    confidence: f32,
    region: Region,
}

/// The lines OCR read on a crop of `w` x `h` pixels that is the strip `y0..y1` of the frame
/// (0..1 for a whole frame), boxed in fractions of the whole frame.
fn located(lines: Vec<TextLine>, w: usize, h: usize, y0: f64, y1: f64) -> Vec<Line> {
    lines
        .into_iter()
        .map(|l| {
            let r = Region::of_quad(&l.quad, w, h);
            let y = |f: f64| y0 + f * (y1 - y0);
            Line {
                text: l.text,
                confidence: l.confidence,
                region: Region {
                    y0: y(r.y0),
                    y1: y(r.y1),
                    ..r
                },
            }
        })
        .collect()
}

/// The cells of a band crop's print that its caption rows cover: where the next crops must
/// show the same ink for the caption to be the same.
fn print_cells(rows: &[Line], band: CaptionBand) -> Vec<bool> {
    let mut cells = vec![false; PRINT_W * PRINT_H];
    let span = band.y1 - band.y0;
    for r in rows {
        let (y0, y1) = (
            (r.region.y0 - band.y0) / span,
            (r.region.y1 - band.y0) / span,
        );
        for c in BandPrint::cells(r.region.x0, y0, r.region.x1, y1) {
            cells[c] = true;
        }
    }
    cells
}

/// Caption spans as the document's captions, each with its language.
fn captions(spans: Vec<vid2text_core::ScreenText>) -> Vec<Caption> {
    let texts: Vec<&str> = spans.iter().map(|s| s.text.as_str()).collect();
    let languages = line_languages(&texts);
    spans
        .into_iter()
        .zip(languages)
        .map(|(s, language)| Caption {
            language,
            start: s.start,
            end: s.end,
            text: s.text,
            confidence: s.confidence,
        })
        .collect()
}

/// The lines of a caption band, one per row: boxes side by side on one row (a caption with a
/// gap in it, which OCR may read as one box or as two) joined left to right with a space, so
/// that a caption is the same line however it was boxed.
fn rows(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by(|a, b| a.region.center_y().total_cmp(&b.region.center_y()));
    let mut rows: Vec<Vec<Line>> = Vec::new();
    for l in lines {
        let same_row = rows.last().is_some_and(|row| {
            let r = &row[0].region;
            let overlap = r.y1.min(l.region.y1) - r.y0.max(l.region.y0);
            overlap >= 0.5 * r.height().min(l.region.height())
        });
        match rows.last_mut() {
            Some(row) if same_row => row.push(l),
            _ => rows.push(vec![l]),
        }
    }
    rows.into_iter()
        .map(|mut row| {
            row.sort_by(|a, b| a.region.x0.total_cmp(&b.region.x0));
            let n = row.len() as f32;
            Line {
                text: row
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                confidence: row.iter().map(|l| l.confidence).sum::<f32>() / n,
                region: Region {
                    x0: row.iter().map(|l| l.region.x0).fold(1.0, f64::min),
                    x1: row.iter().map(|l| l.region.x1).fold(0.0, f64::max),
                    y0: row.iter().map(|l| l.region.y0).fold(1.0, f64::min),
                    y1: row.iter().map(|l| l.region.y1).fold(0.0, f64::max),
                },
            }
        })
        .collect()
}

/// A line of the band that the second pass reads: in the band, with letters (a timecode there
/// stays screen text).
fn is_caption(band: &CaptionBand, line: &Line) -> bool {
    band.holds(&line.region) && has_letters(&line.text)
}

/// What happened on each keyframe of pass 1, in order.
enum Event {
    Read(f64, Vec<Line>),
    /// Skipped as the same picture, or by the back-off: what was on screen stays.
    Hold(f64),
}

/// Pass 1's findings: every keyframe's lines, the band finder (made at the first frame read,
/// when the frame's shape is known) and the corner texts.
#[derive(Default)]
struct Keyframes {
    events: Vec<Event>,
    band: Option<BandFinder>,
    watermarks: WatermarkFinder,
}

impl Keyframes {
    /// Screen-text and watermark spans, with the caption band's lines left out: the keyframes
    /// replayed once the band and the watermarks are known.
    fn spans(
        &self,
        band: Option<CaptionBand>,
        end: f64,
    ) -> (
        Vec<vid2text_core::ScreenText>,
        Vec<vid2text_core::ScreenText>,
    ) {
        let mut screen = ScreenTracker::new();
        let mut marks = ScreenTracker::new();
        for event in &self.events {
            match event {
                Event::Hold(t) => {
                    screen.hold(*t);
                    marks.hold(*t);
                }
                Event::Read(t, lines) => {
                    let (mut s, mut m) = (Vec::new(), Vec::new());
                    for l in lines {
                        if band.is_some_and(|b| is_caption(&b, l)) {
                            continue;
                        }
                        let item = (l.text.clone(), l.confidence);
                        match self.watermarks.is_watermark(&l.text, &l.region) {
                            true => m.push(item),
                            false => s.push(item),
                        }
                    }
                    screen.observe(*t, &s);
                    marks.observe(*t, &m);
                }
            }
        }
        (screen.finish(end), marks.finish(end))
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

    /// A band read from the start stands for a band pass only where it holds the final band.
    #[test]
    fn a_band_reading_serves_the_band_it_holds() {
        let first = CaptionBand { y0: 0.80, y1: 0.95 };
        let reading = BandReader::new(first);
        assert!(reading.serves(first));
        // Grown or moved by a little (a tenth of its height): the same band.
        assert!(reading.serves(CaptionBand { y0: 0.81, y1: 0.96 }));
        // A second caption line above: not in the crops read.
        assert!(!reading.serves(CaptionBand { y0: 0.72, y1: 0.95 }));
        assert!(!reading.serves(CaptionBand { y0: 0.5, y1: 0.6 }));
    }

    /// A 1280 x 720 frame, grey, with a caption of outlined white bars (3 pixels white, 2
    /// black each side) at rows 620-660 starting at each of `bars`.
    fn captioned_frame(bars: &[usize]) -> RgbImage {
        let (w, h) = (1280, 720);
        let mut rgb = vec![90u8; w * h * 3];
        for &x0 in bars {
            for y in 618..662 {
                for x in x0..x0 + 7 {
                    let inner = (x0 + 2..x0 + 5).contains(&x) && (620..660).contains(&y);
                    let v = if inner { 255 } else { 0 };
                    rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(v);
                }
            }
        }
        RgbImage::new(w, h, rgb)
    }

    /// The band reader takes the read of a whole frame from before the band was known for a
    /// crop that shows the same caption near its time, and reads a crop with another caption,
    /// or the same one much later, itself.
    #[test]
    fn crops_take_the_keyframes_read_of_the_same_caption() {
        let o = OcrConfig {
            band: BandChoice::Auto,
            caption_fps: 5.0,
            min_confidence: 0.5,
            backoff_s: 3.0,
            det_limit: DetLimit::Min(736),
            threads: 1,
        };
        let band = CaptionBand { y0: 0.82, y1: 0.96 };
        let line = Line {
            text: "ask not what your country".into(),
            confidence: 0.9,
            region: Region {
                x0: 0.3,
                y0: 0.86,
                x1: 0.7,
                y1: 0.92,
            },
        };
        let said: Vec<usize> = (400..880).step_by(12).collect();
        let mut pass = KeyframeReader::new(&o);
        pass.kept
            .push((1.0, captioned_frame(&said), vec![line.clone()]));
        // A frame without a caption line in the band is not kept for the crops.
        pass.kept.push((2.0, captioned_frame(&[]), Vec::new()));
        let reader = BandReader::new(band).with_earlier(pass.earlier(band));
        assert_eq!(reader.earlier.len(), 1);
        assert!(pass.kept.is_empty(), "the frames are let go");
        // The crop FFmpeg cuts: rows trunc(720 * 0.82 / 2) * 2 = 590, 100 of them.
        let crop = |bars: &[usize]| captioned_frame(bars).rows(590, 100);
        let same = BandPrint::of(&crop(&said));
        let texts = |r: Option<Vec<Line>>| r.map(|l| l.into_iter().map(|l| l.text).collect());
        assert_eq!(
            texts(reader.earlier_read(1.2, &same)),
            Some(vec![line.text.clone()])
        );
        let other: Vec<usize> = (300..1000).step_by(20).collect();
        assert_eq!(
            texts(reader.earlier_read(1.2, &BandPrint::of(&crop(&other)))),
            None
        );
        assert_eq!(texts(reader.earlier_read(6.0, &same)), None);
    }

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
