//! Fusion of what was said with what was written of it: captions burnt into the picture and the
//! cues of embedded subtitle streams often repeat the speech. A corpus that says everything twice
//! is a broken corpus, so the text says each thing once.
//!
//! The rule, per speech segment and per caption (or cue):
//!
//! - **Alignment by time, then by characters.** A segment is compared with the captions on
//!   screen from 1 s before it starts to 1 s after it ends; a caption with the speech from 1 s
//!   before it appears to 1 s after it leaves. Texts are compared as units after normalisation
//!   (case and punctuation dropped; Traditional Chinese mapped to Simplified by the normaliser the
//!   caller gives): words, and each Chinese, Japanese or Korean character; the longest common
//!   subsequence, over the length of the one being judged.
//! - A segment **agrees** when at least [`AGREE`] of its words ([`AGREE_CJK`] of its
//!   characters, in Chinese, Japanese or Korean) are in the captions around it; a caption agrees
//!   the same way with the speech around it. A segment with half that in common agrees too when
//!   every caption around it agrees with the speech (Whisper misheard it between segments it
//!   heard well, under one caption).
//! - Where a segment agrees, its captions **stand in for it** in the text: people wrote them, so
//!   they carry punctuation and the right characters. The segment stays in `speech` with its
//!   `caption_agreement`. Captions win over subtitle cues when both agree.
//! - A caption that agrees but only with segments that do not (the speech said more) is left
//!   out of the text: the speech says it.
//! - Captions and cues that do not agree (a translation, a commentary, another language,
//!   captions over music) **stand apart**, marked (`<caption>`, `<subtitle>`); speech without
//!   captions stands alone.
//!
//! The document's `stats.caption_agreement` is the share of all speech units confirmed.

use crate::doc::{Caption, SpeechSegment, SubtitleCue};
use crate::render::{TextFormat, TextParts};

/// Share of words in common for a segment or a caption to agree.
pub const AGREE: f64 = 0.5;

/// Share of characters in common for a Chinese (Japanese, Korean) segment or caption to agree.
/// Lower: Whisper base misreads a third of Mandarin characters, mostly as homophones (马保国 as
/// 马宝宝), while unrelated sentences share a tenth or less; a translation shares none.
pub const AGREE_CJK: f64 = 0.3;

/// Seconds around a segment (or caption) in which the other side is looked for.
pub const SLACK_S: f64 = 1.0;

/// What fusion decided for one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Fusion<'a> {
    /// The text's parts (see [`crate::render::render_parts`]).
    pub parts: TextParts<'a>,
    /// Per speech segment: the share of its characters confirmed (None without captions and
    /// cues).
    pub agreement: Vec<Option<f64>>,
    /// Share of all speech characters confirmed (None without captions and cues, or speech).
    pub document: Option<f64>,
}

/// Texts as units for comparison (see the module docs); the caller's normaliser may map
/// scripts first.
pub type Normalise<'n> = &'n dyn Fn(&str) -> Vec<String>;

/// The default normalisation: lower case, letters and digits only, in units: each Chinese,
/// Japanese or Korean character one unit, other words one unit each. Words, not letters, for
/// alphabetic scripts: two unrelated English sentences share half their letters in order, and few
/// of their words.
pub fn plain_units(text: &str) -> Vec<String> {
    let clean: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .flat_map(char::to_lowercase)
        .collect();
    crate::text::units(&clean)
}

/// Units of `units` that are Chinese, Japanese or Korean characters: then a lower share in
/// common agrees (see [`AGREE_CJK`]).
fn mostly_cjk(units: &[String]) -> bool {
    let cjk = units
        .iter()
        .filter(|u| u.chars().next().is_some_and(crate::text::is_cjk))
        .count();
    2 * cjk > units.len()
}

/// The share in common for a text of `units` to agree.
fn threshold(units: &[String]) -> f64 {
    if mostly_cjk(units) {
        AGREE_CJK
    } else {
        AGREE
    }
}

/// Length of the longest common subsequence of two lists.
pub fn lcs<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A caption or a cue, as fusion sees it.
struct Written<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    chars: Vec<String>,
    /// It agrees with the speech around it.
    agrees: bool,
    /// It stands in for speech in the text already.
    used: bool,
}

impl<'a> Written<'a> {
    /// Captions or cues `(start, end, text)`, each judged against the speech around it
    /// (`spoken`: each segment's times and characters).
    fn judge(
        items: impl Iterator<Item = (f64, f64, &'a str)>,
        spoken: &[(f64, f64, &[String])],
        normalise: Normalise,
    ) -> Vec<Written<'a>> {
        items
            .map(|(start, end, text)| {
                let chars = normalise(text);
                let around = chars_near((start, end), spoken.iter().copied());
                let agrees = share(lcs(&chars, &around), chars.len()) >= threshold(&chars);
                Written {
                    start,
                    end,
                    text,
                    chars,
                    agrees,
                    used: false,
                }
            })
            .collect()
    }

    /// The characters of those near `span`, in time order, in common with `chars`.
    fn confirm(pool: &[Written], span: (f64, f64), chars: &[String]) -> usize {
        let around = chars_near(
            span,
            pool.iter().map(|w| (w.start, w.end, w.chars.as_slice())),
        );
        lcs(chars, &around)
    }

    /// Whether items overlap `span` and all of those agree with the speech around them: a
    /// segment Whisper misheard between segments it heard well, under one caption.
    fn all_agree_near(pool: &[Written], span: (f64, f64)) -> bool {
        let mut over = pool
            .iter()
            .filter(|w| w.start < span.1 && w.end > span.0)
            .peekable();
        over.peek().is_some() && over.all(|w| w.agrees)
    }

    /// Puts the agreeing items near `span` not used yet into `said`, in place of its speech.
    fn stand_in(pool: &mut [Written<'a>], span: (f64, f64), said: &mut Vec<(f64, f64, &'a str)>) {
        for w in pool.iter_mut() {
            if !w.used && w.agrees && near(span, (w.start, w.end)) {
                w.used = true;
                said.push((w.start, w.end, w.text));
            }
        }
    }
}

fn near(a: (f64, f64), b: (f64, f64)) -> bool {
    b.1 >= a.0 - SLACK_S && b.0 <= a.1 + SLACK_S
}

/// The units of the items near `span`, in time order, joined.
fn chars_near<'x>(
    span: (f64, f64),
    items: impl Iterator<Item = (f64, f64, &'x [String])>,
) -> Vec<String> {
    items
        .filter(|(s, e, _)| near(span, (*s, *e)))
        .flat_map(|(_, _, c)| c.iter().cloned())
        .collect()
}

fn share(common: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        common as f64 / of as f64
    }
}

/// Decides which text stands for what (see the module docs). `format` says which sources the
/// text is made of; fusion happens only between sources it names.
pub fn fuse<'a>(
    format: TextFormat,
    speech: &'a [SpeechSegment],
    captions: &'a [Caption],
    cues: &'a [SubtitleCue],
    normalise: Normalise,
) -> Fusion<'a> {
    // Nothing written to fuse with (most inputs): the speech as it is, without normalising it
    // (the caller's normaliser converts Chinese script: work for nothing here).
    if captions.is_empty() && cues.is_empty() {
        let mut said: Vec<(f64, f64, &str)> = match format.speech {
            true => speech
                .iter()
                .map(|s| (s.start, s.end, s.text.as_str()))
                .collect(),
            false => Vec::new(),
        };
        said.sort_by(|a, b| a.0.total_cmp(&b.0));
        return Fusion {
            parts: TextParts {
                said,
                ..TextParts::default()
            },
            agreement: vec![None; speech.len()],
            document: None,
        };
    }
    let said: Vec<Vec<String>> = speech.iter().map(|s| normalise(&s.text)).collect();
    let spoken: Vec<(f64, f64, &[String])> = speech
        .iter()
        .zip(&said)
        .map(|(s, c)| (s.start, s.end, c.as_slice()))
        .collect();
    let times = |start: f64, end: f64, text: &'a str| (start, end, text);
    let mut caps = Written::judge(
        captions.iter().map(|c| times(c.start, c.end, &c.text)),
        &spoken,
        normalise,
    );
    let mut subs = Written::judge(
        cues.iter().map(|c| times(c.start, c.end, &c.text)),
        &spoken,
        normalise,
    );
    let any_written = !captions.is_empty() || !cues.is_empty();
    let mut parts = TextParts::default();
    let mut agreement = Vec::with_capacity(speech.len());
    let (mut confirmed, mut total) = (0usize, 0usize);
    for (seg, chars) in speech.iter().zip(&said) {
        let span = (seg.start, seg.end);
        // The quality signal: confirmation by captions and cues together.
        let by_caps = Written::confirm(&caps, span, chars);
        let by_subs = Written::confirm(&subs, span, chars);
        confirmed += by_caps.max(by_subs);
        total += chars.len();
        agreement.push(any_written.then(|| round3(share(by_caps.max(by_subs), chars.len()))));
        if !format.speech {
            continue;
        }
        // The text: captions stand in where they agree, else cues, else the speech itself.
        let agree = threshold(chars);
        let covered = |pool: &[Written], common: usize| {
            let share = share(common, chars.len());
            share >= agree || (share >= agree / 2.0 && Written::all_agree_near(pool, span))
        };
        if format.captions && covered(&caps, by_caps) {
            Written::stand_in(&mut caps, span, &mut parts.said);
        } else if format.subtitles && covered(&subs, by_subs) {
            Written::stand_in(&mut subs, span, &mut parts.said);
        } else {
            parts.said.push((seg.start, seg.end, seg.text.as_str()));
        }
    }
    parts.said.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Apart: what does not repeat the speech (all of it, when speech is not in the text).
    if format.captions {
        parts.captions = apart(captions, &caps, format.speech);
    }
    if format.subtitles {
        parts.subtitles = apart(cues, &subs, format.speech);
    }
    Fusion {
        parts,
        agreement,
        document: (any_written && total > 0).then(|| round3(share(confirmed, total))),
    }
}

/// The items that stand apart: neither standing in for speech nor repeating it.
fn apart<'a, T>(items: &'a [T], written: &[Written], speech: bool) -> Vec<&'a T> {
    items
        .iter()
        .zip(written)
        .filter(|(_, w)| !(w.used || speech && w.agrees))
        .map(|(item, _)| item)
        .collect()
}

fn round3(x: f64) -> f64 {
    crate::round(x, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render_parts;

    fn seg(start: f64, end: f64, text: &str) -> SpeechSegment {
        SpeechSegment::plain(start, end, text)
    }

    fn cap(start: f64, end: f64, text: &str) -> Caption {
        Caption {
            start,
            end,
            text: text.into(),
            confidence: 0.95,
            language: None,
        }
    }

    fn text(f: &Fusion) -> String {
        render_parts(&f.parts)
    }

    /// Mandarin speech that Whisper got partly wrong, in Traditional characters; the captions
    /// say it right: the text holds the captions once, and the segment its agreement.
    #[test]
    fn agreeing_captions_stand_in_for_the_speech() {
        let speech = [
            seg(0.0, 2.5, "這句話當時也是紅遍網路"),
            seg(2.6, 4.0, "被各種段子模仿"),
        ];
        let captions = [
            cap(0.1, 2.4, "这句话当时也是红遍网络"),
            cap(2.5, 4.1, "被各种段子模仿"),
        ];
        // A normaliser that maps the Traditional characters of this test.
        let t2s = |s: &str| -> Vec<String> {
            let mapped: String = s
                .chars()
                .map(|c| match c {
                    '這' => '这',
                    '話' => '话',
                    '當' => '当',
                    '時' => '时',
                    '紅' => '红',
                    '遍' => '遍',
                    '網' => '网',
                    '種' => '种',
                    other => other,
                })
                .collect();
            plain_units(&mapped)
        };
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &t2s);
        assert_eq!(text(&f), "这句话当时也是红遍网络 被各种段子模仿");
        // 10 of 11 characters (路 against 络), and all 7.
        assert_eq!(f.agreement, vec![Some(0.909), Some(1.0)]);
        assert_eq!(f.document, Some(0.944));
    }

    #[test]
    fn a_translation_keeps_both() {
        let speech = [seg(0.0, 3.0, "我进去帮他")];
        let captions = [cap(0.0, 3.0, "I'll go in and help him")];
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_units);
        assert_eq!(
            text(&f),
            "我进去帮他\n\n<caption>\nI'll go in and help him\n</caption>"
        );
        assert_eq!(f.agreement, vec![Some(0.0)]);
    }

    #[test]
    fn speech_without_captions_and_captions_without_speech() {
        let speech = [seg(0.0, 2.0, "Hello there."), seg(30.0, 32.0, "Goodbye.")];
        let captions = [cap(10.0, 12.0, "[music]"), cap(30.0, 32.0, "Goodbye!")];
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_units);
        assert_eq!(
            text(&f),
            "Hello there.\n\n<caption>\n[music]\n</caption>\n\nGoodbye!"
        );
        assert_eq!(f.agreement, vec![Some(0.0), Some(1.0)]);
        // Without captions nothing is fused, and no agreement is claimed.
        let f = fuse(TextFormat::ALL, &speech, &[], &[], &plain_units);
        assert_eq!(text(&f), "Hello there.\n\nGoodbye.");
        assert_eq!((f.agreement, f.document), (vec![None, None], None));
    }

    /// A two-line caption and a caption spanning two segments each appear once.
    #[test]
    fn each_caption_once() {
        let speech = [
            seg(0.0, 1.5, "so my fellow americans"),
            seg(1.5, 3.0, "ask not what your country"),
        ];
        let captions = [cap(
            0.0,
            3.0,
            "And so, my fellow Americans, ask not what your country",
        )];
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_units);
        assert_eq!(
            text(&f),
            "And so, my fellow Americans, ask not what your country"
        );
    }

    #[test]
    fn subtitle_cues_fuse_too_and_captions_win() {
        let speech = [seg(0.0, 2.0, "ask not what your country can do")];
        let cue = SubtitleCue {
            start: 0.0,
            end: 2.0,
            text: "Ask not what your country can do".into(),
            stream: 2,
            language: Some("eng".into()),
        };
        let f = fuse(
            TextFormat::ALL,
            &speech,
            &[],
            std::slice::from_ref(&cue),
            &plain_units,
        );
        assert_eq!(text(&f), "Ask not what your country can do");
        let captions = [cap(0.0, 2.0, "Ask not what your country can do.")];
        let cues = [cue];
        let f = fuse(TextFormat::ALL, &speech, &captions, &cues, &plain_units);
        assert_eq!(text(&f), "Ask not what your country can do.");
        // Speech alone in the text: no caption stands in, none stands apart.
        let f = fuse(TextFormat::SPEECH, &speech, &captions, &[], &plain_units);
        assert_eq!(text(&f), "ask not what your country can do");
        assert_eq!(f.agreement, vec![Some(1.0)]);
    }

    #[test]
    fn units_are_words_and_cjk_characters() {
        assert_eq!(plain_units("Ask not, what?"), vec!["ask", "not", "what"]);
        assert_eq!(
            plain_units("我进去，帮他"),
            vec!["我", "进", "去", "帮", "他"]
        );
        // Unrelated English shares letters, not words.
        let (a, b) = (
            plain_units("ask not what your country"),
            plain_units("blink and you miss it"),
        );
        assert_eq!(lcs(&a, &b), 0);
        // A misheard Mandarin segment still agrees with its caption (马保国 heard as 马宝宝).
        let (said, cap) = (
            plain_units("我是浑元形意太极门掌门人马宝宝"),
            plain_units("我是浑元形意太极门掌门人马保国"),
        );
        assert!(share(lcs(&said, &cap), said.len()) >= threshold(&said));
    }

    #[test]
    fn lcs_counts_common_characters_in_order() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(lcs(&c("abcde"), &c("ace")), 3);
        assert_eq!(lcs(&c(""), &c("x")), 0);
        assert_eq!(lcs(&c("我进去帮他"), &c("我进去帮你")), 4);
    }
}
