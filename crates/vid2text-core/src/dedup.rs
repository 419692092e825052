//! Duplicate documents: the same bytes (the document `id` is their SHA-256) and near duplicates
//! (a re-encoded copy, another resolution or container, whose text is almost the same), found by
//! MinHash over shingles of the text with locality-sensitive hashing.
//!
//! - Tokens: a word for scripts that separate words, one character for Chinese, Japanese and
//!   Korean (which do not); punctuation, apostrophes (it's = its) and case are dropped. Shingles: [`SHINGLE`] tokens in a
//!   row, so "字幕由社区提供" and "the cat sat on the mat" are compared alike.
//! - Signatures: [`NUM_PERM`] minima of seeded 64-bit hashes (FNV-1a, then SplitMix64 per seed;
//!   our own, so signatures are the same on every machine and every Rust version).
//! - LSH: [`BANDS`] bands of [`ROWS`] values; documents sharing a band are candidates, and a
//!   candidate is a near duplicate when the signatures agree on at least `threshold` of their
//!   values (the Jaccard similarity estimate). With 30 x 4, a pair at similarity 0.7 is a
//!   candidate with probability 0.9997, a pair at 0.4 with 0.55 (candidates are checked).
//! - Shingles of two tokens and a threshold of 0.7: one word heard differently in a 22-word
//!   transcript (a copy at 8 kHz: "America" for "Americans") leaves a similarity of 0.83; with
//!   three-token shingles it would be 0.74.
//! - Documents with fewer than `min_tokens` tokens are compared by id only: two short clips
//!   that both say "thank you" are different videos.

use std::collections::HashMap;

use serde::Deserialize;

use crate::text::is_cjk;

pub const NUM_PERM: usize = 120;
pub const BANDS: usize = 30;
pub const ROWS: usize = 4;
pub const SHINGLE: usize = 2;
/// Default similarity from which a document is a near duplicate of an earlier one.
pub const DEFAULT_THRESHOLD: f64 = 0.7;
/// Default fewest tokens for near-duplicate detection.
pub const DEFAULT_MIN_TOKENS: usize = 20;

/// The tokens of a text: lowercased words, and single CJK characters.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() && c != '\'' && c != '\u{2019}' {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A MinHash signature.
pub type Signature = [u32; NUM_PERM];

/// The signature of a token list, or None when it has fewer than `min_tokens` tokens.
pub fn signature(tokens: &[String], min_tokens: usize) -> Option<Signature> {
    if tokens.len() < min_tokens.max(1) {
        return None;
    }
    let mut sig = [u32::MAX; NUM_PERM];
    let k = SHINGLE.min(tokens.len());
    let mut buf = Vec::new();
    for w in tokens.windows(k) {
        buf.clear();
        for t in w {
            buf.extend_from_slice(t.as_bytes());
            buf.push(0x1f);
        }
        let base = fnv1a(&buf);
        for (i, slot) in sig.iter_mut().enumerate() {
            let h =
                (splitmix64(base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 32) as u32;
            if h < *slot {
                *slot = h;
            }
        }
    }
    Some(sig)
}

/// The share of signature values two signatures agree on: an estimate of the Jaccard
/// similarity of their shingle sets.
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / NUM_PERM as f64
}

/// What [`Index::add`] found a document to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Unique,
    /// The same bytes as document `of` (its index in the order added).
    Duplicate {
        of: usize,
    },
    /// Text similar to document `of`'s at `similarity`.
    NearDuplicate {
        of: usize,
        similarity: f64,
    },
}

/// What the index reads of a committed document line (the other fields are skipped).
#[derive(Debug, Deserialize)]
pub struct DocKey {
    pub id: String,
    pub source: String,
    #[serde(default)]
    pub text: String,
}

/// Documents added in order; each is checked against the unique ones before it.
pub struct Index {
    threshold: f64,
    min_tokens: usize,
    ids: HashMap<String, usize>,
    signatures: Vec<Option<Signature>>,
    buckets: HashMap<u64, Vec<u32>>,
    /// `(source, id)` of each document added with [`Index::add_document`], by position.
    keys: Vec<(String, String)>,
}

impl Index {
    pub fn new(threshold: f64, min_tokens: usize) -> Self {
        Index {
            threshold,
            min_tokens,
            ids: HashMap::new(),
            signatures: Vec::new(),
            buckets: HashMap::new(),
            keys: Vec::new(),
        }
    }

    /// [`Index::add`] for a document whose `(source, id)` a verdict's `of` is then named by
    /// ([`Index::key`]). Use it for every document of an index, or for none.
    pub fn add_document(&mut self, source: &str, id: &str, text: &str) -> Verdict {
        self.keys.push((source.to_string(), id.to_string()));
        self.add(id, text)
    }

    /// Documents added.
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// The `(source, id)` of document `n`, added with [`Index::add_document`].
    pub fn key(&self, n: usize) -> (&str, &str) {
        let (source, id) = &self.keys[n];
        (source, id)
    }

    /// Adds the next document (its content id and text) and says whether it repeats an earlier
    /// one. Only unique documents are indexed for text: a near copy of a near copy points at
    /// the first.
    pub fn add(&mut self, id: &str, text: &str) -> Verdict {
        let n = self.signatures.len();
        if let Some(&of) = self.ids.get(id) {
            self.signatures.push(None);
            return Verdict::Duplicate { of };
        }
        let sig = signature(&tokens(text), self.min_tokens);
        let Some(sig) = sig else {
            self.ids.insert(id.to_string(), n);
            self.signatures.push(None);
            return Verdict::Unique;
        };
        let keys: Vec<u64> = (0..BANDS)
            .map(|b| {
                let mut bytes = Vec::with_capacity(4 * ROWS + 1);
                bytes.push(b as u8);
                for v in &sig[b * ROWS..(b + 1) * ROWS] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                fnv1a(&bytes)
            })
            .collect();
        let mut best: Option<(usize, f64)> = None;
        for key in &keys {
            for &c in self.buckets.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                let c = c as usize;
                if best.is_some_and(|(b, _)| b == c) {
                    continue;
                }
                let other = self.signatures[c]
                    .as_ref()
                    .expect("indexed documents have one");
                let s = similarity(&sig, other);
                if s >= self.threshold && best.is_none_or(|(_, bs)| s > bs) {
                    best = Some((c, s));
                }
            }
        }
        if let Some((of, similarity)) = best {
            // A later copy of these bytes comes to the same kept document.
            self.ids.insert(id.to_string(), of);
            self.signatures.push(None);
            return Verdict::NearDuplicate { of, similarity };
        }
        self.ids.insert(id.to_string(), n);
        for key in keys {
            self.buckets.entry(key).or_default().push(n as u32);
        }
        self.signatures.push(Some(sig));
        Verdict::Unique
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TALK: &str = "Whisper's encoder always reads thirty seconds of audio, so a six second \
        utterance pays for thirty seconds of encoder time, which is the most expensive part of \
        the model on a CPU; packing several short inputs into one window saves most of it.";

    #[test]
    fn tokens_are_words_and_cjk_characters() {
        assert_eq!(
            tokens("Hello, World! It's 字幕提供"),
            ["hello", "world", "its", "字", "幕", "提", "供"]
        );
    }

    #[test]
    fn a_transcript_with_a_few_words_changed_is_a_near_duplicate() {
        let mut index = Index::new(DEFAULT_THRESHOLD, DEFAULT_MIN_TOKENS);
        assert_eq!(index.add("a", TALK), Verdict::Unique);
        // What a re-encoded copy's transcript looks like: a word or two read differently.
        let copy = TALK
            .replace("six second", "6 second")
            .replace("CPU;", "CPU,");
        match index.add("b", &copy) {
            Verdict::NearDuplicate { of: 0, similarity } => assert!(similarity >= 0.8),
            v => panic!("{v:?}"),
        }
        assert_eq!(index.add("a", "whatever"), Verdict::Duplicate { of: 0 });
        // A copy of the near duplicate's bytes comes to the kept document too.
        assert_eq!(index.add("b", "whatever"), Verdict::Duplicate { of: 0 });
        let other = "The LibriVox recording of a novel: he was not an ill disposed young man, \
            unless to be rather cold hearted and rather selfish is to be ill disposed, and he \
            was in general well respected.";
        assert_eq!(index.add("c", other), Verdict::Unique);
    }

    #[test]
    fn chinese_is_compared_by_characters() {
        let a = "今天我们来讲一下如何把视频里的语音和字幕都变成干净的文本，用来训练大语言模型，\
                 这件事比看起来要难得多，因为字幕和语音常常说的是同一句话。";
        let b = a.replace("难得多", "难很多");
        let mut index = Index::new(DEFAULT_THRESHOLD, DEFAULT_MIN_TOKENS);
        assert_eq!(index.add("a", a), Verdict::Unique);
        assert!(matches!(
            index.add("b", &b),
            Verdict::NearDuplicate { of: 0, .. }
        ));
        let c = "另一段完全不同的视频讲的是怎么做红烧肉，先把五花肉切块，再放糖炒出糖色，最后加水慢慢炖一个小时。";
        assert_eq!(index.add("c", c), Verdict::Unique);
    }

    #[test]
    fn short_texts_are_never_near_duplicates() {
        let mut index = Index::new(DEFAULT_THRESHOLD, DEFAULT_MIN_TOKENS);
        assert_eq!(index.add("a", "Thank you."), Verdict::Unique);
        assert_eq!(index.add("b", "Thank you."), Verdict::Unique);
    }

    #[test]
    fn signatures_are_stable() {
        // Stored indexes and other machines must agree: pin a few values.
        let sig = signature(&tokens(TALK), 1).unwrap();
        let again = signature(&tokens(TALK), 1).unwrap();
        assert_eq!(sig, again);
        insta::assert_debug_snapshot!(&sig[..4]);
    }
}
