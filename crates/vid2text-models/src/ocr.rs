//! PaddleOCR PP-OCRv4 text detection and recognition (ONNX, from the `rapidocr-onnxruntime`
//! wheel) through ONNX Runtime. The pipeline is RapidOCR's: DB detection at a short side of 736,
//! boxes → perspective crops in reading order → CTC recognition at height 48, batched by aspect
//! ratio. The 180° direction classifier is not run: upside-down text is rare in video.

use std::path::Path;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::Tensor;

use crate::ocr_image::{
    boxes_from_probability, det_input_size, DbParams, DetLimit, Quad, RgbImage,
};
use crate::{Error, Result};

/// Height of the recognition input, and its minimum width (RapidOCR's `rec_img_shape`).
const REC_HEIGHT: usize = 48;
const REC_MIN_WIDTH: usize = 320;
/// Crops per recognition call (RapidOCR's `rec_batch_num`).
const REC_BATCH: usize = 6;
/// RapidOCR's detector sizing (`limit_side_len: 736`, `limit_type: min`).
pub const RAPIDOCR_DET_LIMIT: DetLimit = DetLimit::Min(736);

/// Longest side of the detector input for a caption band crop: a 1280-pixel-wide band becomes a
/// 960 x 96 input, a tenth of a 720p frame's at RapidOCR's size, with caption text still 20 to 35
/// pixels high (the recognizer reads the crops at full size). At 640 the detector split a line
/// of RapidVideOCR's test video and lost half of it.
pub const BAND_DET_LONG: usize = 960;
/// Images are brought under this long side first (RapidOCR's `max_side_len`).
const MAX_SIDE: usize = 2000;

/// One recognised line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the line's characters (0..1).
    pub confidence: f32,
    /// Where it is, in the coordinates of the image given.
    pub quad: Quad,
}

/// Loaded detection and recognition sessions. One per OCR worker.
pub struct OcrEngine {
    det: Session,
    rec: Session,
    /// CTC classes: index 0 is the blank, then the model's dictionary, then a space.
    chars: Vec<String>,
    db: DbParams,
    det_limit: DetLimit,
    times: OcrTimes,
}

/// Where an engine's time went since it was last asked ([`OcrEngine::take_times`]): the
/// detector on whole frames and on caption band crops, and the recognizer, each with its count.
/// The time includes the image work around each model (resizing, normalising, boxes, crops).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct OcrTimes {
    pub frame_detect: Duration,
    pub frames_detected: u64,
    pub band_detect: Duration,
    pub bands_detected: u64,
    pub recognize: Duration,
    pub lines_recognized: u64,
}

impl std::ops::AddAssign for OcrTimes {
    fn add_assign(&mut self, o: OcrTimes) {
        self.frame_detect += o.frame_detect;
        self.frames_detected += o.frames_detected;
        self.band_detect += o.band_detect;
        self.bands_detected += o.bands_detected;
        self.recognize += o.recognize;
        self.lines_recognized += o.lines_recognized;
    }
}

fn ocr_err(e: impl Into<crate::BoxError>) -> Error {
    Error::inference("ocr", e)
}

fn session(model: &Path, env: &ort::environment::Environment, threads: usize) -> Result<Session> {
    Session::builder(env)
        .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        .and_then(|mut b| b.commit_from_file(model))
        .map_err(|e| Error::load(model, e))
}

impl OcrEngine {
    /// Loads the detector and recognizer; the dictionary comes from the recognizer's metadata
    /// key `character`. `threads` is ONNX Runtime's intra-op thread count per model.
    pub fn load(
        det_model: &Path,
        rec_model: &Path,
        env: &ort::environment::Environment,
        threads: usize,
    ) -> Result<Self> {
        let det = session(det_model, env, threads)?;
        let rec = session(rec_model, env, threads)?;
        let dictionary = rec
            .metadata()
            .map_err(|e| Error::load(rec_model, e))?
            .custom("character")
            .ok_or_else(|| {
                Error::load(
                    rec_model,
                    "no `character` dictionary in the model's metadata",
                )
            })?;
        let mut chars = vec![String::new()];
        chars.extend(dictionary.lines().map(str::to_string));
        chars.push(" ".to_string());
        Ok(OcrEngine {
            det,
            rec,
            chars,
            db: DbParams::default(),
            det_limit: RAPIDOCR_DET_LIMIT,
            times: OcrTimes::default(),
        })
    }

    /// How detector inputs are sized (RapidOCR's rule by default).
    pub fn with_det_limit(mut self, limit: DetLimit) -> Self {
        self.det_limit = limit;
        self
    }

    /// The time spent since the last call, and the counts; the counters start again.
    pub fn take_times(&mut self) -> OcrTimes {
        std::mem::take(&mut self.times)
    }

    /// Size of the dictionary (without blank and space).
    pub fn dictionary_len(&self) -> usize {
        self.chars.len() - 2
    }

    /// Finds and reads the text of an image; lines in reading order, those under
    /// `min_confidence` dropped.
    pub fn recognize(&mut self, img: &RgbImage, min_confidence: f32) -> Result<Vec<TextLine>> {
        self.recognize_with(img, min_confidence, self.det_limit, true, None)
    }

    /// [`Self::recognize`] with the detector input sized by `limit` instead of the engine's,
    /// and the boxes found that `skip` names (in the image's coordinates) left unread.
    pub fn recognize_sized(
        &mut self,
        img: &RgbImage,
        min_confidence: f32,
        limit: DetLimit,
        skip: &dyn Fn(&Quad) -> bool,
    ) -> Result<Vec<TextLine>> {
        self.recognize_with(img, min_confidence, limit, true, Some(skip))
    }

    /// Finds and reads the text of a caption band crop: a strip a few lines high, whose
    /// detector input is kept small (long side at most `BAND_DET_LONG`) and not letterboxed.
    pub fn recognize_band(&mut self, img: &RgbImage, min_confidence: f32) -> Result<Vec<TextLine>> {
        let limit = DetLimit::Between {
            min_short: 64,
            max_long: BAND_DET_LONG,
        };
        self.recognize_with(img, min_confidence, limit, false, None)
    }

    fn recognize_with(
        &mut self,
        img: &RgbImage,
        min_confidence: f32,
        limit: DetLimit,
        letterbox: bool,
        skip: Option<&dyn Fn(&Quad) -> bool>,
    ) -> Result<Vec<TextLine>> {
        if img.width < 4 || img.height < 4 {
            return Ok(Vec::new());
        }
        // Bring huge images down first (keeping the boxes in the caller's coordinates).
        let long = img.width.max(img.height);
        let (work, back) = if long > MAX_SIDE {
            let r = MAX_SIDE as f32 / long as f32;
            let (w, h) = (
                ((img.width as f32 * r) as usize).max(1),
                ((img.height as f32 * r) as usize).max(1),
            );
            (std::borrow::Cow::Owned(img.resize(w, h)), 1.0 / r)
        } else {
            (std::borrow::Cow::Borrowed(img), 1.0)
        };
        // Very wide or very low images get black bands above and below first (RapidOCR's
        // letterbox), or the detector's short side of 736 would blow them up.
        let pad = if letterbox {
            letterbox_padding(work.width, work.height)
        } else {
            0
        };
        let work = match pad {
            0 => work,
            pad => std::borrow::Cow::Owned(work.pad_vertical(pad)),
        };
        // Boxes in the caller's coordinates, and those the caller wants read.
        let to_caller =
            |q: &Quad| -> Quad { q.map(|c| [c[0] * back, (c[1] - pad as f32).max(0.0) * back]) };
        let began = Instant::now();
        let boxes: Vec<(Quad, Quad)> = self
            .detect_with(&work, limit)?
            .into_iter()
            .map(|q| (q, to_caller(&q)))
            .filter(|(_, caller)| !skip.is_some_and(|skip| skip(caller)))
            .collect();
        // Letterboxing is for whole images; band crops go without.
        match letterbox {
            true => {
                self.times.frame_detect += began.elapsed();
                self.times.frames_detected += 1;
            }
            false => {
                self.times.band_detect += began.elapsed();
                self.times.bands_detected += 1;
            }
        }
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let crops: Vec<RgbImage> = boxes.iter().map(|(q, _)| work.crop_quad(q)).collect();
        let read = self.read(&crops)?;
        Ok(boxes
            .into_iter()
            .zip(read)
            .filter(|(_, (text, conf))| *conf >= min_confidence && !text.trim().is_empty())
            .map(|((_, quad), (text, confidence))| TextLine {
                text: text.trim().to_string(),
                confidence,
                quad,
            })
            .collect())
    }

    /// Text boxes of an image, in reading order.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Quad>> {
        self.detect_with(img, self.det_limit)
    }

    fn detect_with(&mut self, img: &RgbImage, limit: DetLimit) -> Result<Vec<Quad>> {
        let (w, h) = det_input_size(img.width, img.height, limit);
        let resized = img.resize(w, h);
        let mut input = vec![0f32; 3 * w * h];
        resized.write_normalized_bgr(&mut input, w);
        let x = Tensor::from_array(([1usize, 3, h, w], input)).map_err(ocr_err)?;
        let outputs = self.det.run(ort::inputs![x]).map_err(ocr_err)?;
        let (shape, prob) = outputs[0].try_extract_tensor::<f32>().map_err(ocr_err)?;
        let (ph, pw) = match shape.as_ref() {
            [_, _, ph, pw] => (*ph as usize, *pw as usize),
            s => return Err(ocr_err(format!("detector output of shape {s:?}"))),
        };
        if ph * pw > prob.len() {
            return Err(ocr_err("detector output smaller than its shape"));
        }
        Ok(boxes_from_probability(
            &prob[..ph * pw],
            pw,
            ph,
            img.width,
            img.height,
            &self.db,
        ))
    }

    /// Reads text crops: (text, confidence) for each, in the order given.
    pub fn read(&mut self, crops: &[RgbImage]) -> Result<Vec<(String, f32)>> {
        let began = Instant::now();
        let out = self.read_untimed(crops);
        self.times.recognize += began.elapsed();
        self.times.lines_recognized += crops.len() as u64;
        out
    }

    fn read_untimed(&mut self, crops: &[RgbImage]) -> Result<Vec<(String, f32)>> {
        let ratio = |c: &RgbImage| c.width as f32 / c.height.max(1) as f32;
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| ratio(&crops[a]).total_cmp(&ratio(&crops[b])));
        let mut out = vec![(String::new(), 0.0f32); crops.len()];
        for batch in order.chunks(REC_BATCH) {
            let max_ratio = batch
                .iter()
                .map(|&i| ratio(&crops[i]))
                .fold(REC_MIN_WIDTH as f32 / REC_HEIGHT as f32, f32::max);
            let width = (REC_HEIGHT as f32 * max_ratio) as usize;
            let plane = REC_HEIGHT * width;
            let mut input = vec![0f32; batch.len() * 3 * plane];
            for (n, &i) in batch.iter().enumerate() {
                let c = &crops[i];
                let w = ((REC_HEIGHT as f32 * ratio(c)).ceil() as usize).clamp(1, width);
                let resized = c.resize(w, REC_HEIGHT);
                resized.write_normalized_bgr(&mut input[n * 3 * plane..(n + 1) * 3 * plane], width);
            }
            let x = Tensor::from_array(([batch.len(), 3, REC_HEIGHT, width], input))
                .map_err(ocr_err)?;
            let outputs = self.rec.run(ort::inputs![x]).map_err(ocr_err)?;
            let (shape, probs) = outputs[0].try_extract_tensor::<f32>().map_err(ocr_err)?;
            let (steps, classes) = match shape.as_ref() {
                [_, t, c] => (*t as usize, *c as usize),
                s => return Err(ocr_err(format!("recognizer output of shape {s:?}"))),
            };
            if classes != self.chars.len() || probs.len() < batch.len() * steps * classes {
                return Err(ocr_err(format!(
                    "recognizer has {classes} classes, dictionary {}",
                    self.chars.len()
                )));
            }
            for (n, &i) in batch.iter().enumerate() {
                let seq = &probs[n * steps * classes..(n + 1) * steps * classes];
                out[i] = ctc_greedy(seq, classes, &self.chars);
            }
        }
        Ok(out)
    }
}

/// Rows of black added above and below an image before detection: RapidOCR pads images lower
/// than 30 px or wider than 8:1 to a height of `2 * max(width / 8, 30)`.
fn letterbox_padding(width: usize, height: usize) -> usize {
    if height <= 30 || width > 8 * height {
        let target = 2 * (width / 8).max(30);
        target.saturating_sub(height) / 2
    } else {
        0
    }
}

/// CTC greedy decoding: the best class per step, repeats merged, blanks (class 0) removed; the
/// confidence is the mean probability of the kept steps.
pub fn ctc_greedy(probs: &[f32], classes: usize, chars: &[String]) -> (String, f32) {
    let mut text = String::new();
    let (mut sum, mut kept) = (0f32, 0usize);
    let mut prev = usize::MAX;
    for step in probs.chunks_exact(classes) {
        let (best, p) =
            step.iter().enumerate().fold(
                (0usize, f32::MIN),
                |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != prev && best != 0 {
            if let Some(c) = chars.get(best) {
                text.push_str(c);
            }
            sum += p;
            kept += 1;
        }
        prev = best;
    }
    let conf = if kept == 0 { 0.0 } else { sum / kept as f32 };
    (text, conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let chars: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        // a a blank a b b blank
        let steps = [1usize, 1, 0, 1, 2, 2, 0];
        let mut probs = Vec::new();
        for &s in &steps {
            let mut row = vec![0.0f32; 4];
            row[s] = if s == 0 { 0.99 } else { 0.8 };
            probs.extend(row);
        }
        let (text, conf) = ctc_greedy(&probs, 4, &chars);
        assert_eq!(text, "aab");
        assert!((conf - 0.8).abs() < 1e-6);
        assert_eq!(
            ctc_greedy(&[0.9, 0.1, 0.0, 0.0], 4, &chars),
            (String::new(), 0.0)
        );
    }
}
