//! Burnt-in captions: where on the frame they are, and which on-screen lines are watermarks.
//!
//! The visual stage reads whole keyframes first. Each line it reads has a box; from those boxes
//! [`BandFinder`] finds the caption band: lines centred horizontally, low in the frame (or, in a
//! portrait video, between 45 % and 90 % of its height), holding letters (not a timecode), whose
//! text changes every few seconds at the same height. Once the band is known the stage reads it
//! alone, often (a line shown for 0.7 s is read), and the band's lines become `captions` instead
//! of `screen_text`. [`WatermarkFinder`] picks out lines that never change in a corner (channel
//! names, "抖音号 …", "@user", station bugs): they are kept out of the text.

use crate::screen::similarity;

/// A box on the frame, in fractions of its width and height (0,0 top left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Region {
    /// The box of a quadrilateral (pixels) on a frame of `width` x `height`.
    pub fn of_quad(quad: &[[f32; 2]; 4], width: usize, height: usize) -> Region {
        let (w, h) = (width.max(1) as f64, height.max(1) as f64);
        let xs = quad.iter().map(|p| p[0] as f64 / w);
        let ys = quad.iter().map(|p| p[1] as f64 / h);
        Region {
            x0: xs.clone().fold(f64::INFINITY, f64::min).clamp(0.0, 1.0),
            x1: xs.fold(f64::NEG_INFINITY, f64::max).clamp(0.0, 1.0),
            y0: ys.clone().fold(f64::INFINITY, f64::min).clamp(0.0, 1.0),
            y1: ys.fold(f64::NEG_INFINITY, f64::max).clamp(0.0, 1.0),
        }
    }

    pub fn center_x(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }

    pub fn center_y(&self) -> f64 {
        (self.y0 + self.y1) / 2.0
    }

    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }

    /// In a corner of the frame: the outer 30 % across and the outer 20 % up and down.
    pub fn in_corner(&self) -> bool {
        let (cx, cy) = (self.center_x(), self.center_y());
        (!(0.3..=0.7).contains(&cx)) && (!(0.2..=0.8).contains(&cy))
    }
}

/// The caption band: the horizontal strip of the frame where captions are, in fractions of its
/// height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptionBand {
    pub y0: f64,
    pub y1: f64,
}

impl CaptionBand {
    /// Parses `y0:y1` (fractions of the height, `0.8:0.95`).
    pub fn parse(s: &str) -> Result<CaptionBand, String> {
        let bad =
            || format!("`{s}` is not a band: give y0:y1 as fractions of the height (0.8:0.95)");
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        let (y0, y1): (f64, f64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if !(0.0 <= y0 && y0 < y1 && y1 <= 1.0) {
            return Err(bad());
        }
        Ok(CaptionBand { y0, y1 })
    }

    /// Whether a line's box lies in the band (its centre does).
    pub fn holds(&self, r: &Region) -> bool {
        (self.y0..=self.y1).contains(&r.center_y())
    }
}

/// Whether a line has letters (any script): a timecode or a frame counter is not a caption.
pub fn has_letters(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
}

/// A line that may be a caption: centred, in the caption zone of the frame, with letters.
fn caption_like(text: &str, r: &Region, portrait: bool) -> bool {
    let zone = if portrait { 0.45..=0.92 } else { 0.6..=0.98 };
    let centred = (r.center_x() - 0.5).abs() <= 0.15 || (r.x0 < 0.45 && r.x1 > 0.55);
    centred && zone.contains(&r.center_y()) && r.height() < 0.15 && has_letters(text)
}

#[derive(Debug, Clone)]
struct Sighting {
    text: String,
    region: Region,
    first: f64,
    last: f64,
}

/// Finds the caption band from the lines read on whole keyframes (see the module docs).
#[derive(Debug, Default)]
pub struct BandFinder {
    portrait: bool,
    sightings: Vec<Sighting>,
    band: Option<CaptionBand>,
}

/// Distinct caption-like texts at one height before it counts as a band.
const MIN_DISTINCT: usize = 2;
/// Captions change: texts of the band live this long at most (median over the band).
const MAX_MEDIAN_LIFETIME_S: f64 = 10.0;
/// Caption-like texts remembered; the band is settled once this many are seen.
const MAX_SIGHTINGS: usize = 200;
const SETTLED: usize = 24;

impl BandFinder {
    /// For a video of `width` x `height` (portrait videos keep captions higher up).
    pub fn new(width: u32, height: u32) -> Self {
        BandFinder {
            portrait: height > width,
            ..BandFinder::default()
        }
    }

    /// Whether a line could be a caption of this video (where captions sit, short, with
    /// letters); the band is made of such lines.
    pub fn is_caption_like(&self, text: &str, region: &Region) -> bool {
        caption_like(text, region, self.portrait)
    }

    /// The lines read on the keyframe at `t`.
    pub fn observe(&mut self, t: f64, lines: &[(&str, Region)]) {
        for (text, r) in lines {
            if !caption_like(text, r, self.portrait) {
                continue;
            }
            let full = self.sightings.len() >= MAX_SIGHTINGS;
            match self
                .sightings
                .iter_mut()
                .rev()
                .find(|s| similarity(&s.text, text) >= 0.8 && overlaps(&s.region, r))
            {
                Some(s) => s.last = t,
                None if !full => self.sightings.push(Sighting {
                    text: text.to_string(),
                    region: *r,
                    first: t,
                    last: t,
                }),
                None => {}
            }
        }
        // Settled once it rests on enough texts: a long video does not search forever.
        if self.band.is_none() || self.sightings.len() < SETTLED {
            self.band = self.find();
        }
    }

    /// Whether a caption-like line (centred, low, with letters) has been seen: the video
    /// probably has captions, and its band is being looked for.
    pub fn seen_caption_like(&self) -> bool {
        !self.sightings.is_empty()
    }

    /// The band, once the lines seen so far make one.
    pub fn band(&self) -> Option<CaptionBand> {
        self.band
    }

    /// The largest group of caption-like sightings at one height; a band when it holds enough
    /// distinct, short-lived texts.
    fn find(&self) -> Option<CaptionBand> {
        let mut best: Option<(usize, CaptionBand)> = None;
        for seed in &self.sightings {
            let group: Vec<&Sighting> = self
                .sightings
                .iter()
                .filter(|s| same_height(&s.region, &seed.region))
                .collect();
            let mut lifetimes: Vec<f64> = group.iter().map(|s| s.last - s.first).collect();
            lifetimes.sort_by(f64::total_cmp);
            let distinct = group.len();
            // Captions follow each other: texts that appeared together (a still, a table row)
            // are not a band, however many.
            let mut firsts: Vec<f64> = group.iter().map(|s| s.first).collect();
            firsts.sort_by(f64::total_cmp);
            firsts.dedup();
            if distinct < MIN_DISTINCT
                || firsts.len() < MIN_DISTINCT
                || lifetimes[distinct / 2] > MAX_MEDIAN_LIFETIME_S
            {
                continue;
            }
            if best.is_some_and(|(n, _)| n >= distinct) {
                continue;
            }
            let y0 = group.iter().map(|s| s.region.y0).fold(1.0, f64::min);
            let y1 = group.iter().map(|s| s.region.y1).fold(0.0, f64::max);
            let mut heights: Vec<f64> = group.iter().map(|s| s.region.height()).collect();
            heights.sort_by(f64::total_cmp);
            // A margin of half a line: a second caption line or a taller font still fits.
            let pad = heights[heights.len() / 2] * 0.6;
            let band = CaptionBand {
                y0: (y0 - pad).max(0.0),
                y1: (y1 + pad).min(1.0),
            };
            best = Some((distinct, band));
        }
        best.map(|(_, b)| b)
    }
}

/// Two boxes on one text row: their vertical extents overlap by half the smaller height.
fn same_height(a: &Region, b: &Region) -> bool {
    let overlap = a.y1.min(b.y1) - a.y0.max(b.y0);
    // Two-line captions: lines stacked less than a line apart are one band too.
    let gap = a.y0.max(b.y0) - a.y1.min(b.y1);
    overlap >= 0.5 * a.height().min(b.height()) || gap < 0.5 * a.height().max(b.height())
}

fn overlaps(a: &Region, b: &Region) -> bool {
    a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1
}

/// Finds watermarks: the same text in a corner on most of the keyframes read. Counted over the
/// reads of a whole video, so it is decided at the end.
#[derive(Debug, Default)]
pub struct WatermarkFinder {
    reads: u32,
    /// Text in a corner, and on how many reads.
    corner: Vec<(String, u32)>,
}

/// Share of the reads a corner text must be on to be a watermark.
const WATERMARK_SHARE: f64 = 0.6;

impl WatermarkFinder {
    pub fn observe(&mut self, lines: &[(&str, Region)]) {
        self.reads += 1;
        for (text, r) in lines {
            if !r.in_corner() {
                continue;
            }
            match self
                .corner
                .iter_mut()
                .find(|(t, _)| similarity(t, text) >= 0.8)
            {
                Some((_, n)) => *n += 1,
                None => self.corner.push((text.to_string(), 1)),
            }
        }
    }

    /// Whether a line is a watermark: a corner text seen on most reads (three at least), or a
    /// platform handle in a corner (`@name`, `抖音号`, `快手号`), which moves between corners.
    pub fn is_watermark(&self, text: &str, r: &Region) -> bool {
        if !r.in_corner() {
            return false;
        }
        let handle = text.starts_with('@') || text.contains("抖音号") || text.contains("快手号");
        let steady = self.corner.iter().any(|(t, n)| {
            *n >= 3
                && *n as f64 >= WATERMARK_SHARE * self.reads as f64
                && similarity(t, text) >= 0.8
        });
        handle || steady
    }
}

/// The script of a line: `zh`, `ja` or `ko` when its letters are mostly Chinese characters,
/// kana or hangul; None for other scripts (and for lines without letters).
fn cjk_language(text: &str) -> Option<&'static str> {
    let (mut han, mut kana, mut hangul, mut letters) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        match c as u32 {
            0x3040..=0x30ff => kana += 1,
            0xac00..=0xd7af | 0x1100..=0x11ff => hangul += 1,
            0x4e00..=0x9fff | 0x3400..=0x4dbf | 0xf900..=0xfaff => han += 1,
            _ => {}
        }
    }
    if letters == 0 {
        None
    } else if kana > 0 && kana + han >= letters / 2 {
        Some("ja")
    } else if hangul * 2 >= letters {
        Some("ko")
    } else if han * 2 >= letters {
        Some("zh")
    } else {
        None
    }
}

/// The languages (ISO 639-1) of a video's caption (or screen, or subtitle) lines. Chinese,
/// Japanese and Korean go by script, line by line, so a Chinese line over an English one gets
/// its own. The other lines are too short for language identification one by one: `lingua`
/// judges them together, and they share its answer (None when it cannot tell, and for lines
/// without letters). `lingua` was chosen over `whatlang` by measurement on the shared data's
/// texts (README, "What is left out"): 98 % against 84 % on caption-length chunks of 3-7
/// words, 78 % against 22 % on single screen lines.
pub fn line_languages(lines: &[&str]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = lines
        .iter()
        .map(|l| cjk_language(l).map(String::from))
        .collect();
    let rest: Vec<&str> = lines
        .iter()
        .zip(&out)
        .filter(|(l, lang)| lang.is_none() && has_letters(l))
        .map(|(l, _)| *l)
        .collect();
    if rest.is_empty() {
        return out;
    }
    let joined = rest.join(" ");
    let shared = detector()
        .detect_language_of(joined.as_str())
        .map(|l| l.iso_code_639_1().to_string());
    for (lang, line) in out.iter_mut().zip(lines) {
        if lang.is_none() && has_letters(line) {
            lang.clone_from(&shared);
        }
    }
    out
}

/// The languages `lingua` tells apart (those compiled in: see Cargo.toml); Chinese, Japanese and
/// Korean go by script before it is asked.
fn detector() -> &'static lingua::LanguageDetector {
    static DETECTOR: std::sync::OnceLock<lingua::LanguageDetector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| lingua::LanguageDetectorBuilder::from_all_languages().build())
}

/// The language of each source of a document that has text (`speech`: Whisper's; `captions`:
/// the language most caption lines are in; `screen` and `subtitles`: of their lines, by script
/// for Chinese, Japanese and Korean and `lingua` for the rest), so that English speech under
/// Chinese captions says so.
pub fn source_languages(doc: &crate::doc::Document) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let (false, Some(l)) = (doc.speech.is_empty(), &doc.language) {
        out.insert("speech".to_string(), l.clone());
    }
    let majority = |langs: Vec<Option<String>>| {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for l in langs.into_iter().flatten() {
            *counts.entry(l).or_default() += 1;
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(l, _)| l)
    };
    let captions = majority(doc.captions.iter().map(|c| c.language.clone()).collect());
    let screen: Vec<&str> = doc.screen_text.iter().map(|s| s.text.as_str()).collect();
    let subtitles: Vec<&str> = doc.subtitles.iter().map(|s| s.text.as_str()).collect();
    for (name, lang) in [
        ("captions", captions),
        ("screen", majority(line_languages(&screen))),
        ("subtitles", majority(line_languages(&subtitles))),
    ] {
        if let Some(l) = lang {
            out.insert(name.to_string(), l);
        }
    }
    out
}

/// A document's language, for `--languages`: its speech's when something was said, else its
/// captions', else its subtitles', else its screen text's (see [`source_languages`]).
pub fn document_language(doc: &crate::doc::Document) -> Option<String> {
    let langs = &doc.stats.source_languages;
    ["speech", "captions", "subtitles", "screen"]
        .iter()
        .find_map(|s| langs.get(*s).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x0: f64, y0: f64, x1: f64, y1: f64) -> Region {
        Region { x0, y0, x1, y1 }
    }

    #[test]
    fn captions_changing_low_in_the_frame_make_a_band() {
        let mut f = BandFinder::new(1280, 720);
        let line = region(0.3, 0.86, 0.7, 0.92);
        f.observe(0.0, &[("TITLE", region(0.3, 0.1, 0.7, 0.15))]);
        assert!(
            !f.seen_caption_like(),
            "a title high up is not caption-like"
        );
        f.observe(0.0, &[("这句话当时也是红遍网络", line)]);
        assert!(f.seen_caption_like());
        assert_eq!(f.band(), None, "one caption is not yet a band");
        f.observe(2.0, &[("被各种段子模仿", region(0.35, 0.861, 0.65, 0.921))]);
        let band = f.band().expect("a band");
        assert!(
            band.y0 < 0.86 && band.y0 > 0.8 && band.y1 > 0.92 && band.y1 < 0.97,
            "{band:?}"
        );
        assert!(band.holds(&line));
        assert!(!band.holds(&region(0.3, 0.1, 0.7, 0.15)));
    }

    #[test]
    fn slides_timecodes_and_titles_are_not_captions() {
        let mut f = BandFinder::new(1280, 720);
        // Slide lines high in the frame change every 10 s.
        for (i, t) in ["Vectors and matrices", "Gradient descent"]
            .iter()
            .enumerate()
        {
            f.observe(i as f64 * 10.0, &[(t, region(0.3, 0.25, 0.7, 0.32))]);
        }
        // A running timecode low and centred: no letters.
        for s in 0..5 {
            let tc = format!("00:00:0{s}:00");
            f.observe(s as f64, &[(&tc, region(0.3, 0.85, 0.7, 0.9))]);
        }
        // A lower third that stays 30 s per name.
        for (i, t) in ["Jane Doe, engineer", "John Roe, designer"]
            .iter()
            .enumerate()
        {
            let t0 = i as f64 * 30.0;
            f.observe(t0, &[(t, region(0.3, 0.8, 0.7, 0.86))]);
            f.observe(t0 + 29.0, &[(t, region(0.3, 0.8, 0.7, 0.86))]);
        }
        assert_eq!(f.band(), None);
        // Two texts side by side on one still: they appeared together.
        let mut f = BandFinder::new(1280, 720);
        f.observe(
            0.0,
            &[
                ("Total amount", region(0.3, 0.8, 0.49, 0.85)),
                ("Paid in full", region(0.51, 0.8, 0.7, 0.85)),
            ],
        );
        assert_eq!(f.band(), None);
    }

    #[test]
    fn portrait_captions_sit_higher() {
        let mut f = BandFinder::new(720, 1280);
        f.observe(0.0, &[("第一句字幕", region(0.3, 0.70, 0.7, 0.74))]);
        f.observe(1.5, &[("第二句字幕来了", region(0.25, 0.70, 0.75, 0.74))]);
        let band = f.band().expect("a band at 70 % of the height");
        assert!(band.holds(&region(0.3, 0.70, 0.7, 0.74)));
    }

    #[test]
    fn corner_texts_on_most_reads_are_watermarks() {
        let mut w = WatermarkFinder::default();
        let logo = region(0.82, 0.05, 0.97, 0.1);
        for i in 0..10 {
            let caption = format!("caption number {i}");
            w.observe(&[("好看视频", logo), (&caption, region(0.3, 0.85, 0.7, 0.9))]);
        }
        assert!(w.is_watermark("好看视频", &logo));
        assert!(!w.is_watermark("caption number 3", &region(0.3, 0.85, 0.7, 0.9)));
        assert!(w.is_watermark("@some_user", &region(0.02, 0.9, 0.2, 0.95)));
        assert!(
            !w.is_watermark("@some_user", &region(0.4, 0.45, 0.6, 0.5)),
            "not a corner"
        );
    }

    #[test]
    fn bands_parse() {
        assert_eq!(
            CaptionBand::parse("0.8:0.95"),
            Ok(CaptionBand { y0: 0.8, y1: 0.95 })
        );
        assert!(CaptionBand::parse("0.9:0.8").is_err());
        assert!(CaptionBand::parse("bottom").is_err());
    }

    #[test]
    fn languages_of_lines() {
        let langs = line_languages(&[
            "我进去帮他",
            "And so, my fellow Americans,",
            "ask not what your country can do for you,",
            "ask what you can do for your country.",
            "01:00:00:00",
            "こんにちは世界",
        ]);
        let langs: Vec<Option<&str>> = langs.iter().map(Option::as_deref).collect();
        assert_eq!(
            langs,
            vec![
                Some("zh"),
                Some("en"),
                Some("en"),
                Some("en"),
                None,
                Some("ja")
            ]
        );
    }
}
