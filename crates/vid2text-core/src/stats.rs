//! What an output directory holds (`vid2text stats`): documents, hours, words and characters,
//! per language and per source, what was left out by reason, personal data replaced, failures
//! by stage. Streams the parts (one document in memory at a time), every shard's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::doc::{Dropped, Failure};
use crate::error::{Error, Result};
use crate::outdir::{jsonl_parts, read_jsonl, DocumentLines};
use crate::text::is_cjk;

/// Words (whitespace-separated runs without CJK characters) and CJK characters of a text.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
pub struct Amount {
    pub words: u64,
    pub cjk_chars: u64,
}

impl Amount {
    pub fn of(text: &str) -> Self {
        let mut a = Amount::default();
        for w in text.split_whitespace() {
            let tag = w
                .trim_start_matches("</")
                .trim_start_matches('<')
                .trim_end_matches('>');
            if w.starts_with('<') && ["screen", "caption", "subtitle"].contains(&tag) {
                continue; // the block marks of `text`
            }
            let cjk = w.chars().filter(|c| is_cjk(*c)).count() as u64;
            a.cjk_chars += cjk;
            if w.chars().any(|c| c.is_alphanumeric() && !is_cjk(c)) {
                a.words += 1;
            }
        }
        a
    }

    fn add(&mut self, o: Amount) {
        self.words += o.words;
        self.cjk_chars += o.cjk_chars;
    }
}

/// Totals of one language.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct LanguageTotals {
    pub documents: u64,
    pub media_hours: f64,
    pub speech_hours: f64,
    #[serde(flatten)]
    pub text: Amount,
}

/// Everything `vid2text stats` reports.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct CorpusStats {
    pub documents: u64,
    pub media_hours: f64,
    pub speech_hours: f64,
    /// Of each document's `text`.
    pub text: Amount,
    /// By the document's `language` (`none` when nothing was said).
    pub languages: BTreeMap<String, LanguageTotals>,
    /// By source: spans and their words and characters (speech segments, caption lines, screen
    /// text lines, subtitle cues).
    pub sources: BTreeMap<String, SourceTotals>,
    /// Left out, by reason: segments and lines (the documents' `stats.dropped`) and whole inputs
    /// (`dropped/`: duplicates, near duplicates, languages, too short; and `dedup/` marks).
    pub dropped: BTreeMap<String, u64>,
    pub dropped_inputs: BTreeMap<String, u64>,
    /// Marked by `vid2text dedup` (`dedup/duplicates.jsonl`), by reason.
    pub marked_duplicates: BTreeMap<String, u64>,
    /// Personal data replaced by placeholders, by kind.
    pub pii_replaced: BTreeMap<String, u64>,
    pub failures: u64,
    pub failures_by_stage: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct SourceTotals {
    pub spans: u64,
    #[serde(flatten)]
    pub text: Amount,
}

/// The fields of a document that the statistics read (the spans only by their text).
#[derive(Deserialize)]
struct DocFields {
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration_s: f64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    speech: Vec<TextOnly>,
    #[serde(default)]
    captions: Vec<TextOnly>,
    #[serde(default)]
    screen_text: Vec<TextOnly>,
    #[serde(default)]
    subtitles: Vec<TextOnly>,
    #[serde(default)]
    stats: StatsFields,
}

#[derive(Deserialize)]
struct TextOnly {
    text: String,
}

#[derive(Deserialize, Default)]
struct StatsFields {
    #[serde(default)]
    speech_s: f64,
    #[serde(default)]
    dropped: BTreeMap<String, u64>,
    #[serde(default)]
    pii: BTreeMap<String, u64>,
}

impl CorpusStats {
    /// Reads OUT (or a job directory: every shard).
    pub fn of(root: &Path) -> Result<Self> {
        let mut s = CorpusStats::default();
        let mut lines = DocumentLines::of(root)?;
        while let Some(line) = lines.next() {
            let line = line?;
            let d: DocFields = serde_json::from_str(&line).map_err(|e| {
                Error::format(
                    lines.part().unwrap_or(root),
                    format!("bad document line: {e}"),
                )
            })?;
            s.add(d);
        }
        for (_, failures) in jsonl_parts::<Failure>(&root.join("failures"), |_| true)? {
            for f in failures {
                s.failures += 1;
                *s.failures_by_stage.entry(f.stage.to_string()).or_default() += 1;
            }
        }
        for (_, dropped) in jsonl_parts::<Dropped>(&root.join("dropped"), |_| true)? {
            for d in dropped {
                *s.dropped_inputs.entry(d.reason).or_default() += 1;
            }
        }
        let marks = root.join("dedup").join("duplicates.jsonl");
        if marks.exists() {
            #[derive(Deserialize)]
            struct Mark {
                reason: String,
            }
            for m in read_jsonl::<Mark>(&marks)? {
                *s.marked_duplicates.entry(m.reason).or_default() += 1;
            }
        }
        s.media_hours = crate::round(s.media_hours, 4);
        s.speech_hours = crate::round(s.speech_hours, 4);
        for l in s.languages.values_mut() {
            l.media_hours = crate::round(l.media_hours, 4);
            l.speech_hours = crate::round(l.speech_hours, 4);
        }
        Ok(s)
    }

    fn add(&mut self, d: DocFields) {
        self.documents += 1;
        let (media, speech) = (d.duration_s / 3600.0, d.stats.speech_s / 3600.0);
        self.media_hours += media;
        self.speech_hours += speech;
        let amount = Amount::of(&d.text);
        self.text.add(amount);
        let lang = self
            .languages
            .entry(d.language.unwrap_or_else(|| "none".into()))
            .or_default();
        lang.documents += 1;
        lang.media_hours += media;
        lang.speech_hours += speech;
        lang.text.add(amount);
        for (name, spans) in [
            ("speech", &d.speech),
            ("captions", &d.captions),
            ("screen", &d.screen_text),
            ("subtitles", &d.subtitles),
        ] {
            let src = self.sources.entry(name.into()).or_default();
            for span in spans {
                src.spans += 1;
                src.text.add(Amount::of(&span.text));
            }
        }
        for (reason, n) in d.stats.dropped {
            *self.dropped.entry(reason).or_default() += n;
        }
        for (kind, n) in d.stats.pii {
            *self.pii_replaced.entry(kind).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Document, PipelineInfo, SpeechSegment, Stage, Stats};
    use crate::outdir::OutDir;

    /// 10,000 documents in 100 parts of two shards, with known amounts: the counts add up.
    #[test]
    fn ten_thousand_documents_are_counted_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for shard in 0..2u32 {
            let mut out = OutDir::open_shard(dir.path(), shard).unwrap();
            for part in 0..50 {
                let docs: Vec<Document> = (0..100)
                    .map(|i| {
                        let n = shard as usize * 5000 + part * 100 + i;
                        let zh = n.is_multiple_of(4);
                        let text = if zh {
                            "你好世界"
                        } else {
                            "hello big world"
                        };
                        let mut stats = Stats {
                            speech_s: 30.0,
                            ..Stats::default()
                        };
                        if n.is_multiple_of(10) {
                            stats.dropped.insert("stock_phrase".into(), 1);
                            stats.pii.insert("email".into(), 2);
                        }
                        Document {
                            id: format!("{n}"),
                            source: format!("v{n}.mp4"),
                            duration_s: 36.0,
                            language: Some(if zh { "zh" } else { "en" }.into()),
                            text: text.into(),
                            speech: vec![SpeechSegment::plain(0.0, 30.0, text)],
                            screen_text: vec![],
                            captions: vec![],
                            watermarks: vec![],
                            subtitles: vec![],
                            stats,
                            pipeline: PipelineInfo::default(),
                            meta: Default::default(),
                        }
                    })
                    .collect();
                out.commit_documents(&docs).unwrap();
            }
            out.commit_failures(&[Failure::new(format!("bad{shard}.mp4"), Stage::Decode, "x")])
                .unwrap();
        }
        let s = CorpusStats::of(dir.path()).unwrap();
        assert_eq!(s.documents, 10_000);
        assert_eq!(s.media_hours, 100.0);
        assert_eq!(
            s.speech_hours, 83.3333,
            "10,000 x 30 s, rounded to 4 places"
        );
        assert_eq!(s.languages["zh"].documents, 2_500);
        assert_eq!(s.languages["zh"].text.cjk_chars, 10_000);
        assert_eq!(s.languages["en"].text.words, 7_500 * 3);
        assert_eq!(
            s.text,
            Amount {
                words: 22_500,
                cjk_chars: 10_000
            }
        );
        assert_eq!(s.sources["speech"].spans, 10_000);
        assert_eq!(s.dropped["stock_phrase"], 1_000);
        assert_eq!(s.pii_replaced["email"], 2_000);
        assert_eq!(s.failures, 2);
        assert_eq!(s.failures_by_stage["decode"], 2);
    }

    #[test]
    fn words_and_cjk_characters_are_counted_apart() {
        assert_eq!(
            Amount::of("Hello world, 你好世界 and <screen>\n12:04\n</screen>"),
            Amount {
                words: 4,
                cjk_chars: 4
            }
        );
    }
}
