//! Screen-text spans: the lines OCR reads on successive keyframes become one span per line of
//! text for as long as it stays on screen, so a slide shown for five minutes gives its lines
//! once. Readings of the same line that differ a little (OCR noise, a running timecode) merge;
//! the span keeps its most frequent reading (the earliest clean one among equals).

use crate::doc::ScreenText;
use crate::round;
use crate::text::edit_distance;

/// Readings at least this similar (1 - edit distance / longer length, over characters) are
/// taken as the same line.
pub const SAME_LINE: f64 = 0.8;

/// A line that left the screen comes back as the same span when it reappears within this many
/// seconds (OCR missed it on a frame or two).
pub const REOPEN_WITHIN_S: f64 = 2.5;

#[derive(Debug, Clone)]
struct Span {
    start: f64,
    /// When it was last seen (or held on a near-identical frame).
    last: f64,
    /// Set when it left the screen.
    end: Option<f64>,
    /// The distinct readings: text, times read, best confidence, first frame.
    variants: Vec<Variant>,
    /// The latest reading, which the next frame is compared with too (a running timecode
    /// drifts away from its first reading one digit at a time).
    last_text: String,
    confidence_sum: f64,
    readings: u32,
    /// Order of first appearance (frame, then reading order), for stable output.
    order: (u64, usize),
}

#[derive(Debug, Clone)]
struct Variant {
    text: String,
    count: u32,
    confidence: f32,
    first: u64,
}

/// Distinct readings kept per span (a running timecode reads differently every frame).
const MAX_VARIANTS: usize = 64;

impl Span {
    fn similarity(&self, text: &str) -> f64 {
        similarity(&self.last_text, text).max(similarity(&self.variants[0].text, text))
    }

    fn add(&mut self, text: &str, conf: f32, frame: u64) {
        self.last_text = text.to_string();
        self.readings += 1;
        self.confidence_sum += conf as f64;
        if let Some(v) = self.variants.iter_mut().find(|v| v.text == text) {
            v.count += 1;
            v.confidence = v.confidence.max(conf);
        } else if self.variants.len() < MAX_VARIANTS {
            self.variants.push(Variant {
                text: text.to_string(),
                count: 1,
                confidence: conf,
                first: frame,
            });
        }
    }

    /// The reading to keep: the most frequent; among equals, the earliest of those read with
    /// a confidence close to the best (the first clean reading of a slide or timecode).
    fn text(&self) -> String {
        let most = self.variants.iter().map(|v| v.count).max().unwrap_or(0);
        let top: Vec<&Variant> = self.variants.iter().filter(|v| v.count == most).collect();
        let best = top.iter().map(|v| v.confidence).fold(0.0, f32::max);
        top.iter()
            .filter(|v| v.confidence >= best - 0.03)
            .min_by_key(|v| v.first)
            .map(|v| v.text.clone())
            .unwrap_or_default()
    }
}

/// Similarity of two readings: 1 - (character edit distance / longer length).
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().filter(|c| !c.is_whitespace()).collect();
    let b: Vec<char> = b.chars().filter(|c| !c.is_whitespace()).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - edit_distance(&a, &b) as f64 / longest as f64
}

/// Builds the screen-text spans of one video from its OCR'd keyframes, in time order.
#[derive(Debug)]
pub struct ScreenTracker {
    spans: Vec<Span>,
    frames: u64,
    same_line: f64,
    reopen_within_s: f64,
}

impl Default for ScreenTracker {
    fn default() -> Self {
        ScreenTracker {
            spans: Vec::new(),
            frames: 0,
            same_line: SAME_LINE,
            reopen_within_s: REOPEN_WITHIN_S,
        }
    }
}

impl ScreenTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker for caption lines, read several times a second: a line is the same only when
    /// at least 85 % alike (two captions in a row often differ by a word), and one that left
    /// comes back as itself only within 0.6 s (a frame or two that OCR missed).
    pub fn for_captions() -> Self {
        ScreenTracker {
            same_line: 0.85,
            reopen_within_s: 0.6,
            ..Self::default()
        }
    }

    /// The lines (text, confidence), in reading order, that OCR read on the keyframe at `t`.
    /// Returns how many of them are new (not continuing a span).
    pub fn observe(&mut self, t: f64, lines: &[(String, f32)]) -> usize {
        self.frames += 1;
        let mut new = 0;
        let mut matched = vec![false; self.spans.len()];
        for (n, (text, conf)) in lines.iter().enumerate() {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            // The most similar span on screen, or one that left it a moment ago.
            let candidate = self
                .spans
                .iter()
                .enumerate()
                .filter(|(i, s)| {
                    !matched[*i] && s.end.is_none_or(|e| t - e <= self.reopen_within_s)
                })
                .map(|(i, s)| (i, s.similarity(text)))
                .filter(|&(_, sim)| sim >= self.same_line)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match candidate {
                Some((i, _)) => {
                    matched[i] = true;
                    let s = &mut self.spans[i];
                    s.end = None;
                    s.last = t;
                    s.add(text, *conf, self.frames);
                }
                None => {
                    let mut span = Span {
                        start: t,
                        last: t,
                        end: None,
                        variants: Vec::new(),
                        last_text: String::new(),
                        confidence_sum: 0.0,
                        readings: 0,
                        order: (self.frames, n),
                    };
                    span.add(text, *conf, self.frames);
                    self.spans.push(span);
                    matched.push(true);
                    new += 1;
                }
            }
        }
        // What was on screen and is not any more ended at this frame.
        for (s, m) in self.spans.iter_mut().zip(&matched) {
            if !m && s.end.is_none() {
                s.end = Some(t);
            }
        }
        new
    }

    /// A keyframe at `t` that looked the same as the last one read: what is on screen stays.
    pub fn hold(&mut self, t: f64) {
        for s in self.spans.iter_mut().filter(|s| s.end.is_none()) {
            s.last = s.last.max(t);
        }
    }

    /// The spans, in order of appearance; lines still on screen end at `end_t` (the end of
    /// the video).
    pub fn finish(mut self, end_t: f64) -> Vec<ScreenText> {
        self.spans
            .sort_by(|a, b| a.start.total_cmp(&b.start).then(a.order.cmp(&b.order)));
        self.spans
            .into_iter()
            .map(|s| {
                let end = s.end.unwrap_or(end_t.max(s.last));
                ScreenText {
                    start: round(s.start, 3),
                    end: round(end.max(s.start), 3),
                    text: s.text(),
                    confidence: round(s.confidence_sum / s.readings as f64, 4),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<(String, f32)> {
        v.iter().map(|s| (s.to_string(), 0.9)).collect()
    }

    #[test]
    fn a_slide_shown_for_minutes_is_one_span_per_line() {
        let mut t = ScreenTracker::new();
        for s in 0..300 {
            if s % 60 == 0 {
                t.observe(s as f64, &lines(&["Gradient descent", "step size matters"]));
            } else {
                t.hold(s as f64);
            }
        }
        t.observe(300.0, &lines(&["Questions?"]));
        let spans = t.finish(310.0);
        let texts: Vec<_> = spans
            .iter()
            .map(|s| (s.text.as_str(), s.start, s.end))
            .collect();
        assert_eq!(
            texts,
            vec![
                ("Gradient descent", 0.0, 300.0),
                ("step size matters", 0.0, 300.0),
                ("Questions?", 300.0, 310.0)
            ]
        );
    }

    #[test]
    fn small_ocr_differences_merge_and_the_best_reading_wins() {
        let mut t = ScreenTracker::new();
        t.observe(0.0, &[("1024 x 768 25 fps Photo JPEG 75%".into(), 0.95)]);
        t.observe(1.0, &[("1024 x 768 25 fps Phot0 JPEG 75%".into(), 0.7)]);
        t.observe(2.0, &[("1024x768 25fps Photo JPEG 75%".into(), 0.97)]);
        // Missed on one frame, back on the next: still one span.
        t.observe(3.0, &[]);
        t.observe(4.0, &[("1024 x 768 25 fps Photo JPEG 75%".into(), 0.95)]);
        let spans = t.finish(5.0);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(spans[0].text, "1024 x 768 25 fps Photo JPEG 75%");
        assert_eq!((spans[0].start, spans[0].end), (0.0, 5.0));
    }

    #[test]
    fn a_running_timecode_is_one_span_from_its_first_reading() {
        let mut t = ScreenTracker::new();
        for s in 0..120u32 {
            let tc = format!("01:{:02}:{:02}:00", s / 60, s % 60);
            t.observe(s as f64, &[(tc, 0.97 - (s % 3) as f32 * 0.01)]);
        }
        let spans = t.finish(120.0);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(spans[0].text, "01:00:00:00");
    }

    #[test]
    fn different_lines_are_different_spans() {
        let mut t = ScreenTracker::new();
        t.observe(0.0, &lines(&["Slide one"]));
        t.observe(10.0, &lines(&["Slide two"]));
        t.observe(20.0, &lines(&["Slide one"]));
        let spans = t.finish(25.0);
        let got: Vec<_> = spans
            .iter()
            .map(|s| (s.text.as_str(), s.start, s.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Slide one", 0.0, 10.0),
                ("Slide two", 10.0, 20.0),
                ("Slide one", 20.0, 25.0)
            ]
        );
        assert!(similarity("Slide one", "Slide two") < SAME_LINE);
    }
}
