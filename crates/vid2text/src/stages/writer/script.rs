//! One Chinese script in a document (`--chinese-script`): Whisper writes Mandarin in Simplified
//! or Traditional characters about equally often, captions and screens carry either. Speech,
//! captions, screen text and subtitle cues that are Chinese are converted with OpenCC's phrase
//! tables (`ferrous-opencc`: 頭髮 → 头发, 乾燥 → 干燥, 理髮 → 理发, and back with the phrases
//! that pick 髮 or 發 for 发). Text with kana or hangul is Japanese or Korean and is left as it
//! is, as is everything in a document whose speech is Japanese or Korean.

use std::sync::OnceLock;

use ferrous_opencc::config::BuiltinConfig;
use ferrous_opencc::OpenCC;

/// The script Chinese text is written in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ChineseScript {
    /// Simplified characters (mainland China, Singapore).
    #[default]
    Simplified,
    /// Traditional characters (OpenCC's standard forms).
    Traditional,
    /// As read or heard.
    Keep,
}

impl ChineseScript {
    /// `text` in this script, when it is Chinese; otherwise as it is.
    pub fn convert(self, text: &str) -> String {
        let table = match self {
            ChineseScript::Keep => return text.to_string(),
            _ if !is_chinese(text) => return text.to_string(),
            ChineseScript::Simplified => return to_simplified(text),
            ChineseScript::Traditional => table(&S2T, BuiltinConfig::S2t),
        };
        table.convert(text)
    }
}

/// `text` with every Traditional form made Simplified, whatever the language (fusion compares
/// texts this way). The one T2S table of the process.
pub fn to_simplified(text: &str) -> String {
    table(&T2S, BuiltinConfig::T2s).convert(text)
}

static T2S: OnceLock<OpenCC> = OnceLock::new();
static S2T: OnceLock<OpenCC> = OnceLock::new();

fn table(cell: &'static OnceLock<OpenCC>, config: BuiltinConfig) -> &'static OpenCC {
    cell.get_or_init(|| OpenCC::from_config(config).expect("OpenCC's built-in tables load"))
}

/// Han characters, and no kana or hangul.
pub fn is_chinese(text: &str) -> bool {
    let han = |c: char| {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
            || ('\u{3400}'..='\u{4dbf}').contains(&c)
            || ('\u{f900}'..='\u{faff}').contains(&c)
    };
    let kana_or_hangul = |c: char| {
        ('\u{3040}'..='\u{30ff}').contains(&c)
            || ('\u{ac00}'..='\u{d7af}').contains(&c)
            || ('\u{1100}'..='\u{11ff}').contains(&c)
    };
    text.chars().any(han) && !text.chars().any(kana_or_hangul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_convert_both_ways() {
        let s = ChineseScript::Simplified;
        assert_eq!(s.convert("頭髮乾燥，去理髮"), "头发干燥，去理发");
        assert_eq!(
            s.convert("我認為跑步最重要的就是給我帶來了身體健康"),
            "我认为跑步最重要的就是给我带来了身体健康"
        );
        let t = ChineseScript::Traditional;
        assert_eq!(t.convert("头发干燥，去理发"), "頭髮乾燥，去理髮");
        assert_eq!(t.convert("发展"), "發展");
        assert_eq!(ChineseScript::Keep.convert("頭髮"), "頭髮");
    }

    #[test]
    fn japanese_korean_and_latin_stay() {
        let s = ChineseScript::Simplified;
        assert_eq!(s.convert("日本語の勉強"), "日本語の勉強");
        assert_eq!(s.convert("한국어 漢字"), "한국어 漢字");
        assert_eq!(s.convert("Hello, world"), "Hello, world");
    }
}
