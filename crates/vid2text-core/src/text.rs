//! Text utilities: word error rate, normalisation for scoring, Whisper's compression ratio.

use std::io::Write;

/// Lower-cases, maps punctuation to spaces (keeping apostrophes inside words) and collapses
/// whitespace: the normalisation used to score transcripts against references.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if (c == '\'' || c == '’')
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
        {
            out.push('\'');
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits into scoring units: whitespace-separated words, with each CJK character its own unit.
pub fn units(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut cur = String::new();
        for c in word.chars() {
            if is_cjk(c) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0x20000..=0x2FA1F)
}

/// Number of words (CJK characters count one each).
pub fn word_count(text: &str) -> u64 {
    units(text).len() as u64
}

/// Word error rate of `hypothesis` against `reference`, both normalised with [`normalize`]:
/// (substitutions + deletions + insertions) / reference words.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = units(&normalize(reference));
    let h = units(&normalize(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

/// Levenshtein distance between two token sequences.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Whisper's compression ratio: UTF-8 length over zlib-compressed length. Repetitive
/// (hallucinated) text compresses well and scores high; Whisper's threshold is 2.4.
pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("write to Vec");
    let compressed = enc.finish().expect("finish to Vec");
    text.len() as f64 / compressed.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wer_counts_edits() {
        assert_eq!(
            wer("And so, my fellow Americans", "and so my fellow americans"),
            0.0
        );
        assert_eq!(wer("a b c d", "a x c"), 0.5);
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(normalize("Don't stop—now!"), "don't stop now");
        assert_eq!(
            units("砸自己的脚 ok"),
            vec!["砸", "自", "己", "的", "脚", "ok"]
        );
    }

    #[test]
    fn repetition_compresses() {
        let rep = "thank you. ".repeat(30);
        assert!(compression_ratio(&rep) > 2.4);
        assert!(
            compression_ratio(
                "And so my fellow Americans, ask not what your country can do for you."
            ) < 2.4
        );
    }
}
