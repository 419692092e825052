//! Whisper's vocabulary: token ids <-> the byte-level BPE strings CTranslate2 takes in prompts,
//! and decoding of generated ids to text.

use std::collections::HashMap;
use std::path::Path;

use crate::{Error, Result};

pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    byte_of: HashMap<char, u8>,
    pub eot: u32,
    pub sot: u32,
    pub sot_prev: Option<u32>,
    pub transcribe: Option<u32>,
    pub no_timestamps: u32,
    /// First timestamp token, `<|0.00|>`.
    pub timestamp_begin: u32,
}

/// GPT-2's byte <-> printable character mapping used by byte-level BPE.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .map(|(b, c)| (b as u8, char::from_u32(c).expect("valid char")))
        .collect()
}

impl Vocab {
    /// Reads `vocabulary.txt` (one token per line, line number = id) of a CTranslate2 Whisper
    /// model directory.
    pub fn load(model_dir: &Path) -> Result<Self> {
        let path = model_dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::load(&path, e))?;
        let tokens: Vec<String> = text.lines().map(str::to_string).collect();
        Self::from_tokens(tokens).map_err(|m| Error::load(&path, m))
    }

    pub fn from_tokens(tokens: Vec<String>) -> std::result::Result<Self, String> {
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let need = |t: &str| ids.get(t).copied().ok_or_else(|| format!("no {t} token"));
        Ok(Vocab {
            eot: need("<|endoftext|>")?,
            sot: need("<|startoftranscript|>")?,
            sot_prev: ids.get("<|startofprev|>").copied(),
            transcribe: ids.get("<|transcribe|>").copied(),
            no_timestamps: need("<|notimestamps|>")?,
            timestamp_begin: need("<|0.00|>")?,
            byte_of: bytes_to_unicode()
                .into_iter()
                .map(|(b, c)| (c, b))
                .collect(),
            tokens,
            ids,
        })
    }

    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    pub fn is_timestamp(&self, id: u32) -> bool {
        id >= self.timestamp_begin
    }

    /// Whether the model is multilingual: CTranslate2's rule, a vocabulary of 51865 tokens or
    /// more (English-only models have 51864).
    pub fn is_multilingual(&self) -> bool {
        self.tokens.len() >= 51865
    }

    /// The language codes the vocabulary has tokens for (`<|en|>` ... after
    /// `<|startoftranscript|>`, up to `<|translate|>`).
    pub fn languages(&self) -> Vec<&str> {
        let end = self.id("<|translate|>").unwrap_or(self.sot) as usize;
        self.tokens
            .get(self.sot as usize + 1..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.strip_prefix("<|")?.strip_suffix("|>"))
            .collect()
    }

    /// The prompt's start: `<|startoftranscript|>`, and for multilingual models
    /// `<|lang|><|transcribe|>`. An unknown language is an error naming the known ones.
    pub fn sot_sequence(&self, lang: &str) -> std::result::Result<Vec<u32>, String> {
        let mut sot = vec![self.sot];
        if self.is_multilingual() {
            let id = self.id(&format!("<|{lang}|>")).ok_or_else(|| {
                format!(
                    "language `{lang}` is not one of the model's ({})",
                    self.languages().join(", ")
                )
            })?;
            sot.push(id);
            sot.extend(self.transcribe);
        }
        Ok(sot)
    }

    /// Text of the ids below `<|endoftext|>` (special and timestamp tokens are skipped).
    pub fn text(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id < self.eot) {
            for c in self.token(id).chars() {
                match self.byte_of.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_decoding() {
        let mut tokens: Vec<String> = [
            "Hello",
            "Ġworld",
            "Ġç",
            "ł",
            "¸",
            "<|endoftext|>",
            "<|startoftranscript|>",
            "<|notimestamps|>",
            "<|0.00|>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        tokens.push("<|0.02|>".into());
        let v = Vocab::from_tokens(tokens).unwrap();
        assert_eq!(v.text(&[0, 1]), "Hello world");
        // "砸" is e7 a0 b8: three byte-level tokens; special and timestamp ids are skipped.
        assert_eq!(v.text(&[2, 3, 4, 5, 8, 9]), " 砸");
        assert_eq!(v.timestamp_begin, 8);
    }
}
