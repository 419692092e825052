//! The document's training `text`, rendered from its spans in time order.
//!
//! ```text
//! Speech is plain prose: one paragraph per stretch of speech (a pause of 2 s starts a new one).
//! Where captions (or subtitle cues) say what was said, their text stands in for Whisper's.
//!
//! <screen>
//! Lines read on screen at one moment,
//! one per line, in reading order
//! </screen>
//!
//! <caption>
//! Captions that say something else than the speech
//! (a translation, a commentary, captions over music)
//! </caption>
//!
//! <subtitle>
//! Cues of embedded subtitle streams that do not repeat the speech,
//! a cue a line, as long as nothing else comes between them
//! </subtitle>
//! ```
//!
//! Blocks are separated by a blank line. The tags let a reader (or a filter) tell the sources
//! apart and strip what it does not want; speech is left untagged because it is most of the text.
//! Which caption or cue stands in for speech and which stands apart is decided by
//! [`crate::fusion`].

use crate::doc::{Caption, ScreenText, SpeechSegment, SubtitleCue};

/// Which sources go into `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextFormat {
    pub speech: bool,
    pub screen: bool,
    pub subtitles: bool,
    /// Burnt-in captions (added in 0.2.0; absent from the configurations 0.1.0 wrote).
    #[serde(default)]
    pub captions: bool,
}

impl TextFormat {
    pub const ALL: TextFormat = TextFormat {
        speech: true,
        screen: true,
        subtitles: true,
        captions: true,
    };
    pub const SPEECH: TextFormat = TextFormat {
        speech: true,
        screen: false,
        subtitles: false,
        captions: false,
    };

    /// `all`, `speech`, or a comma-separated list of `speech`, `screen`, `subtitles`,
    /// `captions`.
    pub fn parse(s: &str) -> Result<TextFormat, String> {
        let mut f = TextFormat {
            speech: false,
            screen: false,
            subtitles: false,
            captions: false,
        };
        for part in s.split(',').map(str::trim) {
            match part {
                "all" => f = TextFormat::ALL,
                "speech" => f.speech = true,
                "screen" => f.screen = true,
                "subtitles" => f.subtitles = true,
                "captions" => f.captions = true,
                other => {
                    return Err(format!(
                        "unknown text source `{other}` (use all, speech, screen, subtitles, \
                         captions, or a comma-separated list)"
                    ))
                }
            }
        }
        if !(f.speech || f.screen || f.subtitles || f.captions) {
            return Err("empty text format".into());
        }
        Ok(f)
    }
}

/// The tags of the marked blocks.
const SCREEN: &str = "screen";
const CAPTION: &str = "caption";
const SUBTITLE: &str = "subtitle";

/// Words of a rendered text (`text::word_count`), the block tags not counted.
pub fn words(text: &str) -> u64 {
    let mut t = text.to_string();
    for tag in [SCREEN, CAPTION, SUBTITLE] {
        t = t
            .replace(&format!("<{tag}>"), " ")
            .replace(&format!("</{tag}>"), " ");
    }
    crate::text::word_count(&t)
}

/// The source of a block; at the same start time, speech comes before screen before captions
/// before subtitles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Speech,
    Screen,
    Caption,
    Subtitle,
}

/// A paragraph-sized piece of the text, with its start time.
struct Block {
    start: f64,
    kind: Kind,
    /// Speech: one paragraph; the others: one line each.
    lines: Vec<String>,
}

impl Block {
    fn body(&self) -> String {
        let tag = match self.kind {
            Kind::Speech => return join_prose(&self.lines),
            Kind::Screen => SCREEN,
            Kind::Caption => CAPTION,
            Kind::Subtitle => SUBTITLE,
        };
        format!("<{tag}>\n{}\n</{tag}>", self.lines.join("\n"))
    }
}

/// Pieces of speech joined into a paragraph, with a space between them (between two pieces of
/// Chinese it marks the pause that caption lines and Whisper's segments end at, where the
/// captions carry no punctuation), but none next to full-width punctuation, which is its own
/// pause: after it, or before it, where a caption line cut at a fixed length begins with the
/// comma that closes the line before (the captions benchmark's `zh-1`: "压岁 ，也劝说").
fn join_prose(lines: &[String]) -> String {
    let full_width_stop = |c: char| {
        matches!(
            c,
            '，' | '。' | '！' | '？' | '、' | '：' | '；' | '」' | '』' | '）'
        )
    };
    let mut out = String::new();
    for line in lines {
        let glued = out.chars().next_back().is_some_and(full_width_stop)
            || line.chars().next().is_some_and(full_width_stop);
        if !out.is_empty() && !glued {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Lines starting at the same time (one keyframe, or cues at one moment) form one block.
fn group<'a>(items: impl Iterator<Item = (f64, &'a str)>, kind: Kind, blocks: &mut Vec<Block>) {
    for (start, text) in items {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match blocks.last_mut() {
            Some(b) if b.kind == kind && (start - b.start).abs() < 1e-6 => {
                b.lines.push(text.to_string())
            }
            _ => blocks.push(Block {
                start,
                kind,
                lines: vec![text.to_string()],
            }),
        }
    }
}

/// What a document's text is made of, each list in time order: what was said (Whisper's
/// segments, or the captions and cues that stand in for them), and what stands apart.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TextParts<'a> {
    /// `(start, end, text)` of each piece of speech.
    pub said: Vec<(f64, f64, &'a str)>,
    pub screen: &'a [ScreenText],
    pub captions: Vec<&'a Caption>,
    pub subtitles: Vec<&'a SubtitleCue>,
}

/// Renders the training text from its parts.
pub fn render_parts(parts: &TextParts) -> String {
    let mut blocks: Vec<Block> = Vec::new();
    let mut last_end: Option<f64> = None;
    for &(start, end, text) in &parts.said {
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        match (last_end, blocks.last_mut()) {
            (Some(prev), Some(b)) if start - prev < 2.0 => b.lines.push(t.to_string()),
            _ => blocks.push(Block {
                start,
                kind: Kind::Speech,
                lines: vec![t.to_string()],
            }),
        }
        last_end = Some(end);
    }
    let screen = parts.screen.iter().map(|s| (s.start, s.text.as_str()));
    group(screen, Kind::Screen, &mut blocks);
    let captions = parts.captions.iter().map(|c| (c.start, c.text.as_str()));
    group(captions, Kind::Caption, &mut blocks);
    let cues = parts.subtitles.iter().map(|s| (s.start, s.text.as_str()));
    group(cues, Kind::Subtitle, &mut blocks);
    // Stable: blocks of one kind keep their order.
    blocks.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.kind.cmp(&b.kind)));
    // Captions and subtitle cues with nothing else between them form one block, a line each.
    let mut merged: Vec<Block> = Vec::with_capacity(blocks.len());
    for b in blocks {
        match merged.last_mut() {
            Some(prev)
                if prev.kind == b.kind && matches!(b.kind, Kind::Caption | Kind::Subtitle) =>
            {
                prev.lines.extend(b.lines)
            }
            _ => merged.push(b),
        }
    }
    let bodies: Vec<String> = merged.iter().map(Block::body).collect();
    bodies.join("\n\n")
}

/// Renders the training text from the spans without fusing captions or cues with speech: each
/// source the format names, as itself.
pub fn render(
    format: TextFormat,
    speech: &[SpeechSegment],
    screen: &[ScreenText],
    subtitles: &[SubtitleCue],
) -> String {
    let parts = TextParts {
        said: match format.speech {
            true => speech
                .iter()
                .map(|s| (s.start, s.end, s.text.as_str()))
                .collect(),
            false => Vec::new(),
        },
        screen: if format.screen { screen } else { &[] },
        captions: Vec::new(),
        subtitles: match format.subtitles {
            true => subtitles.iter().collect(),
            false => Vec::new(),
        },
    };
    render_parts(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(start: f64, text: &str) -> ScreenText {
        ScreenText {
            start,
            end: start + 5.0,
            text: text.into(),
            confidence: 0.9,
        }
    }

    #[test]
    fn sources_interleave_in_time_order() {
        let speech = [
            SpeechSegment::plain(0.5, 3.0, " Welcome to the talk."),
            SpeechSegment::plain(3.2, 6.0, " Today: gradients."),
            SpeechSegment::plain(12.0, 14.0, " Next slide."),
        ];
        let scr = [
            screen(0.0, "Gradient descent"),
            screen(0.0, "a tutorial"),
            screen(10.0, "Step sizes"),
        ];
        let cue = |start: f64, text: &str| SubtitleCue {
            start,
            end: start + 1.0,
            text: text.into(),
            stream: 2,
            language: Some("eng".into()),
        };
        let subs = [cue(12.0, "Next slide."), cue(13.0, "Two lines\nof cue")];
        let all = render(TextFormat::ALL, &speech, &scr, &subs);
        assert_eq!(
            all,
            "<screen>\nGradient descent\na tutorial\n</screen>\n\n\
             Welcome to the talk. Today: gradients.\n\n\
             <screen>\nStep sizes\n</screen>\n\n\
             Next slide.\n\n\
             <subtitle>\nNext slide.\nTwo lines\nof cue\n</subtitle>"
        );
        assert_eq!(
            render(TextFormat::SPEECH, &speech, &scr, &subs),
            "Welcome to the talk. Today: gradients.\n\nNext slide."
        );
    }

    #[test]
    fn no_space_beside_full_width_punctuation() {
        let said = [
            (0.0, 1.0, "近几年，不但我用书给女儿压岁，"),
            (1.0, 2.0, "也劝说亲朋不要给女儿压岁钱"),
            (2.0, 3.0, "。Whisper"),
            (3.0, 4.0, "说得对"),
        ];
        let parts = TextParts {
            said: said.to_vec(),
            ..TextParts::default()
        };
        assert_eq!(
            render_parts(&parts),
            "近几年，不但我用书给女儿压岁，也劝说亲朋不要给女儿压岁钱。Whisper 说得对"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!(TextFormat::parse("all").unwrap(), TextFormat::ALL);
        assert_eq!(TextFormat::parse("speech").unwrap(), TextFormat::SPEECH);
        let f = TextFormat::parse("speech, screen").unwrap();
        assert!(f.speech && f.screen && !f.subtitles);
        assert!(TextFormat::parse("video").is_err());
        assert!(TextFormat::parse("").is_err());
    }
}
