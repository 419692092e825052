//! Fusion of what was said with what was written of it: captions burnt into the picture and the
//! cues of embedded subtitle streams often repeat the speech. A corpus that says everything twice
//! is a broken corpus, so the text says each thing once.
//!
//! The rule, per speech segment and per caption (or cue):
//!
//! - **Alignment by time, then by characters.** A segment is compared with the captions on
//!   screen from 1 s before it starts to 1 s after it ends; a caption with the speech from 1 s
//!   before it appears to 1 s after it leaves. Texts are compared as characters after
//!   normalisation (case, punctuation and spaces dropped; Traditional Chinese mapped to
//!   Simplified by the normaliser the caller gives): the longest common subsequence, over the
//!   length of the one being judged.
//! - A segment **agrees** when at least [`AGREE`] of its characters are in the captions around
//!   it; a caption agrees when at least [`AGREE`] of its characters are in the speech around it.
//! - Where a segment agrees, its captions **stand in for it** in the text: people wrote them, so
//!   they carry punctuation and the right characters. The segment stays in `speech` with its
//!   `caption_agreement`. Captions win over subtitle cues when both agree.
//! - A caption that agrees but only with segments that do not (the speech said more) is left
//!   out of the text: the speech says it.
//! - Captions and cues that do not agree (a translation, a commentary, another language,
//!   captions over music) **stand apart**, marked (`<caption>`, `<subtitle>`); speech without
//!   captions stands alone.
//!
//! The document's `stats.caption_agreement` is the share of all speech characters confirmed.

use crate::doc::{Caption, SpeechSegment, SubtitleCue};
use crate::render::{TextFormat, TextParts};

/// Share of characters in common for a segment or a caption to agree.
pub const AGREE: f64 = 0.5;

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

/// Texts as characters for comparison (see the module docs); the caller's normaliser may map
/// scripts.
pub type Normalise<'n> = &'n dyn Fn(&str) -> Vec<char>;

/// The default normalisation: lower case, letters and digits only.
pub fn plain_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Length of the longest common subsequence of two character lists.
pub fn lcs(a: &[char], b: &[char]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
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
struct Written {
    start: f64,
    end: f64,
    chars: Vec<char>,
    /// It agrees with the speech around it.
    agrees: bool,
}

fn near(a: (f64, f64), b: (f64, f64)) -> bool {
    b.1 >= a.0 - SLACK_S && b.0 <= a.1 + SLACK_S
}

/// The characters of the items near `span`, in time order, joined.
fn chars_near<'x>(
    span: (f64, f64),
    items: impl Iterator<Item = (f64, f64, &'x [char])>,
) -> Vec<char> {
    items
        .filter(|(s, e, _)| near(span, (*s, *e)))
        .flat_map(|(_, _, c)| c.iter().copied())
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
    let said: Vec<Vec<char>> = speech.iter().map(|s| normalise(&s.text)).collect();
    let spoken = || {
        speech
            .iter()
            .zip(&said)
            .map(|(s, c)| (s.start, s.end, c.as_slice()))
    };
    let written = |start: f64, end: f64, text: &str| {
        let chars = normalise(text);
        let around = chars_near((start, end), spoken());
        let agrees = share(lcs(&chars, &around), chars.len()) >= AGREE;
        Written {
            start,
            end,
            chars,
            agrees,
        }
    };
    let caps: Vec<Written> = captions
        .iter()
        .map(|c| written(c.start, c.end, &c.text))
        .collect();
    let subs: Vec<Written> = cues
        .iter()
        .map(|c| written(c.start, c.end, &c.text))
        .collect();
    let any_written = !captions.is_empty() || !cues.is_empty();

    // Per segment: its confirmation by captions and cues together (the quality signal), and
    // which source, if any, stands in for it in the text.
    let mut agreement = Vec::with_capacity(speech.len());
    let (mut confirmed, mut total) = (0usize, 0usize);
    let mut stands_in: Vec<Option<Source>> = Vec::with_capacity(speech.len());
    for (seg, chars) in speech.iter().zip(&said) {
        let span = (seg.start, seg.end);
        let of = |w: &[Written]| {
            let around = chars_near(span, w.iter().map(|x| (x.start, x.end, x.chars.as_slice())));
            lcs(chars, &around)
        };
        let by_caps = of(&caps);
        let by_subs = of(&subs);
        let best = by_caps.max(by_subs);
        confirmed += best;
        total += chars.len();
        agreement.push(any_written.then(|| round3(share(best, chars.len()))));
        let source = if format.captions && share(by_caps, chars.len()) >= AGREE {
            Some(Source::Captions)
        } else if format.subtitles && share(by_subs, chars.len()) >= AGREE {
            Some(Source::Subtitles)
        } else {
            None
        };
        stands_in.push(source.filter(|_| format.speech));
    }

    let mut parts = TextParts::default();
    let mut used_caps = vec![false; captions.len()];
    let mut used_subs = vec![false; cues.len()];
    if format.speech {
        for (i, seg) in speech.iter().enumerate() {
            let span = (seg.start, seg.end);
            let (items, used): (Vec<(f64, f64, &'a str)>, &mut Vec<bool>) = match stands_in[i] {
                None => {
                    parts.said.push((seg.start, seg.end, seg.text.as_str()));
                    continue;
                }
                Some(Source::Captions) => (
                    captions
                        .iter()
                        .map(|c| (c.start, c.end, c.text.as_str()))
                        .collect(),
                    &mut used_caps,
                ),
                Some(Source::Subtitles) => (
                    cues.iter()
                        .map(|c| (c.start, c.end, c.text.as_str()))
                        .collect(),
                    &mut used_subs,
                ),
            };
            let agreeing = match stands_in[i] {
                Some(Source::Captions) => &caps,
                _ => &subs,
            };
            for (j, item) in items.into_iter().enumerate() {
                if !used[j] && agreeing[j].agrees && near(span, (item.0, item.1)) {
                    used[j] = true;
                    parts.said.push(item);
                }
            }
        }
        parts.said.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    // Apart: what does not repeat the speech (all of it, when speech is not in the text).
    if format.captions {
        parts.captions = apart(captions, &caps, &used_caps, format.speech);
    }
    if format.subtitles {
        parts.subtitles = apart(cues, &subs, &used_subs, format.speech);
    }
    Fusion {
        parts,
        agreement,
        document: (any_written && total > 0).then(|| round3(share(confirmed, total))),
    }
}

/// The items that stand apart: neither standing in for speech nor repeating it.
fn apart<'a, T>(items: &'a [T], written: &[Written], used: &[bool], speech: bool) -> Vec<&'a T> {
    items
        .iter()
        .zip(written)
        .zip(used)
        .filter(|((_, w), &used)| !(used || speech && w.agrees))
        .map(|((item, _), _)| item)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Captions,
    Subtitles,
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
        let t2s = |s: &str| -> Vec<char> {
            plain_chars(s)
                .into_iter()
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
                .collect()
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
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_chars);
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
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_chars);
        assert_eq!(
            text(&f),
            "Hello there.\n\n<caption>\n[music]\n</caption>\n\nGoodbye!"
        );
        assert_eq!(f.agreement, vec![Some(0.0), Some(1.0)]);
        // Without captions nothing is fused, and no agreement is claimed.
        let f = fuse(TextFormat::ALL, &speech, &[], &[], &plain_chars);
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
        let f = fuse(TextFormat::ALL, &speech, &captions, &[], &plain_chars);
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
            &plain_chars,
        );
        assert_eq!(text(&f), "Ask not what your country can do");
        let captions = [cap(0.0, 2.0, "Ask not what your country can do.")];
        let cues = [cue];
        let f = fuse(TextFormat::ALL, &speech, &captions, &cues, &plain_chars);
        assert_eq!(text(&f), "Ask not what your country can do.");
        // Speech alone in the text: no caption stands in, none stands apart.
        let f = fuse(TextFormat::SPEECH, &speech, &captions, &[], &plain_chars);
        assert_eq!(text(&f), "ask not what your country can do");
        assert_eq!(f.agreement, vec![Some(1.0)]);
    }

    #[test]
    fn lcs_counts_common_characters_in_order() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(lcs(&c("abcde"), &c("ace")), 3);
        assert_eq!(lcs(&c(""), &c("x")), 0);
        assert_eq!(lcs(&c("我进去帮他"), &c("我进去帮你")), 4);
    }
}
