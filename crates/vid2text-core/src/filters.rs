//! Model-free filters between what the models return and the training text (README, "What is
//! left out"):
//!
//! - [`hallucination`]: a speech segment that is one of Whisper's stock outputs on silence and
//!   music (matched after normalisation), a repetition loop, or faster than anyone speaks;
//! - [`repeated_segments`]: the same sentence as separate segments, over and over;
//! - [`screen_not_language`]: screen text that is not language (timecodes, counters, strings
//!   with no letters, stray readings of two or three Latin letters from a logo);
//! - [`scrub_pii`]: e-mail addresses, phone numbers, IP addresses and Chinese ID card numbers
//!   replaced by typed placeholders.
//!
//! Units are words for scripts that separate words and characters for Chinese, Japanese and
//! Korean (see [`crate::dedup::tokens`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::dedup::tokens;
use crate::text::is_cjk;

/// Whisper's stock outputs on silence, music and applause, learnt from the subtitles of its
/// training data: a segment that is one of these (after normalisation: lower case, no spaces or
/// punctuation) is dropped. Generic thanks ("thank you") are not here: people say them.
const STOCK_PHRASES: &[&str] = &[
    // English
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "thanks for watching and ill see you next time",
    "thank you for watching and ill see you next time",
    "please subscribe",
    "please subscribe to my channel",
    "dont forget to like and subscribe",
    "like and subscribe",
    "thank you very much for watching",
    "thanks so much for watching",
    "subtitles by the amaraorg community",
    "we hope you enjoyed this video",
    "i hope you enjoyed this video",
    "ill see you next time",
    "see you next time",
    "ill see you in the next video",
    "see you in the next video",
    "ill see you in the next one",
    "see you in the next one",
    // Chinese (Simplified: documents are converted before the filters)
    "谢谢观看",
    "感谢观看",
    "谢谢大家观看",
    "感谢您的观看",
    "请订阅我的频道",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "字幕由amaraorg社区提供",
    "由amaraorg社区提供的字幕",
    "明镜需要您的支持欢迎订阅明镜",
    // Japanese, Korean
    "ご視聴ありがとうございました",
    "チャンネル登録お願いします",
    "시청해주셔서감사합니다",
    "구독과좋아요부탁드립니다",
    // German, French, Spanish, Portuguese, Italian, Russian
    "vielen dank fürs zuschauen",
    "untertitel im auftrag des zdf",
    "untertitel der amaraorg community",
    "soustitres réalisés par la communauté damaraorg",
    "merci davoir regardé",
    "subtítulos realizados por la comunidad de amaraorg",
    "gracias por ver el video",
    "legendas pela comunidade amaraorg",
    "obrigado por assistir",
    "sottotitoli creati dalla comunità amaraorg",
    "grazie per la visione",
    "продолжение следует",
    "спасибо за просмотр",
];

/// Clauses that go with stock phrases ("Thank you, and thanks for watching!"), but that people
/// also say on their own: a segment of only these is kept.
const COURTESIES: &[&str] = &[
    "thank you",
    "thanks",
    "thank you so much",
    "bye",
    "bye bye",
    "goodbye",
    "谢谢",
    "再见",
    "拜拜",
];

/// Fragments that only Whisper's credit lines contain: a segment containing one is dropped
/// whatever else it says ("字幕志愿者 李宗盛", "Субтитры сделал DimaTorzok").
const STOCK_FRAGMENTS: &[&str] = &[
    "amaraorg",
    "字幕志愿者",
    "明镜与点点栏目",
    "优优独播剧场",
    "dimatorzok",
    "untertitelungdeszdf",
    "untertitelimauftragdeszdf",
];

/// The most units per second anyone speaks, well above fast speech (about 4.5 English words or
/// 8 Mandarin characters a second): a segment faster than this has text its audio cannot hold.
pub const MAX_WORDS_PER_S: f64 = 9.0;
pub const MAX_CJK_CHARS_PER_S: f64 = 16.0;

/// A phrase in the form stock phrases are compared in: lower case, letters and digits only
/// (spaces kept between words of scripts that have them, squeezed).
fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() && !is_cjk(c) && !out.ends_with(is_cjk) {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else if c.is_whitespace() {
            space = true;
        }
    }
    out
}

fn stock_phrases() -> &'static std::collections::HashSet<String> {
    static SET: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| STOCK_PHRASES.iter().map(|p| normalise(p)).collect())
}

/// Why a speech segment (its text, after the script conversion, and its times) is dropped as a
/// hallucination, if it is: `stock_phrase`, `repetition` or `speaking_rate`.
pub fn hallucination(text: &str, start: f64, end: f64) -> Option<&'static str> {
    let norm = normalise(text);
    if norm.is_empty() {
        return None;
    }
    let squeezed: String = norm.chars().filter(|c| *c != ' ').collect();
    if stock_phrases().contains(&norm)
        || STOCK_FRAGMENTS.iter().any(|f| squeezed.contains(f))
        || all_stock_clauses(text)
    {
        return Some("stock_phrase");
    }
    let units = tokens(text);
    if is_loop(&units) {
        return Some("repetition");
    }
    // Whisper's timestamps are coarse (0.02 s steps, a segment may end early): judge only
    // segments long enough in time for a rate to mean something.
    if end - start >= 0.5 && too_fast(&units, end - start) {
        return Some("speaking_rate");
    }
    None
}

/// Whether `text` holds more than anyone can say in `end - start` seconds (at least 8 words or
/// CJK characters, faster than [`MAX_WORDS_PER_S`] / [`MAX_CJK_CHARS_PER_S`]), however short
/// the span.
pub fn impossible_rate(text: &str, start: f64, end: f64) -> bool {
    too_fast(&tokens(text), end - start)
}

fn too_fast(units: &[String], duration: f64) -> bool {
    let cjk = units.iter().filter(|u| u.chars().all(is_cjk)).count();
    let words = units.len() - cjk;
    let needs = cjk as f64 / MAX_CJK_CHARS_PER_S + words as f64 / MAX_WORDS_PER_S;
    units.len() >= 8 && needs > duration.max(0.0)
}

/// Whether a segment is stock phrases joined up ("We hope you enjoyed this video, thank you
/// very much for watching and I'll see you next time."): every clause (split at punctuation
/// and at "and") a stock phrase or a courtesy, and at least one a stock phrase.
fn all_stock_clauses(text: &str) -> bool {
    let mut stock = 0;
    for clause in text.split(|c: char| ".,!?;:。，！？；：、…".contains(c)) {
        let norm = normalise(clause);
        let parts: Vec<&str> = norm.split(" and ").collect();
        for part in parts {
            let part = part.strip_prefix("and ").unwrap_or(part).trim();
            if part.is_empty() {
                continue;
            }
            if stock_phrases().contains(part) {
                stock += 1;
            } else if !COURTESIES.contains(&part) {
                return false;
            }
        }
    }
    stock > 0
}

/// Whether most of a segment is one n-gram said again and again back to back: 3 times for a
/// phrase of three units or more, 5 for two units, 8 for one ("no, no, no" is speech; a
/// sentence said three times in one segment, as tiny.en writes on Mandarin, is not).
fn is_loop(units: &[String]) -> bool {
    let n = units.len();
    for period in 1..=(n / 3).min(24) {
        let need = match period {
            1 => 8,
            2 => 5,
            _ => 3,
        };
        // The loop need not begin at the first unit: every start within one period.
        let mut best = 1;
        for offset in 0..period {
            let mut run = 1;
            let mut i = offset + period;
            while i + period <= n {
                if units[i..i + period] == units[i - period..i] {
                    run += 1;
                    best = best.max(run);
                } else {
                    run = 1;
                }
                i += period;
            }
        }
        if best >= need && (best * period) as f64 >= 0.6 * n as f64 {
            return true;
        }
    }
    false
}

/// Which segments repeat the two before them word for word (after normalisation): Whisper
/// writing one sentence as segment after segment. The first two are kept.
pub fn repeated_segments(texts: &[&str]) -> Vec<bool> {
    let norms: Vec<String> = texts.iter().map(|t| normalise(t)).collect();
    (0..norms.len())
        .map(|i| {
            i >= 2 && !norms[i].is_empty() && norms[i] == norms[i - 1] && norms[i] == norms[i - 2]
        })
        .collect()
}

/// Whether a line of screen text is not language, and stays out of `text` (it is kept in
/// `screen_text`): timecodes and frame counters ("01:00:00:03", "00:00:00;18", "12:04"),
/// strings with no letters ("1024 x 768" has letters: kept), and stray readings of one to three
/// Latin letters with nothing else ("PS", "POS" from a logo). A single CJK character alone is
/// a stray reading too; two or more are words.
pub fn screen_not_language(text: &str) -> bool {
    static TIMECODE: OnceLock<Regex> = OnceLock::new();
    let t = text.trim();
    let timecode = TIMECODE.get_or_init(|| {
        Regex::new(r"^[0-9]{1,2}([:;.,][0-9]{2}){1,3}([:;.,][0-9]{1,3})?$").expect("regex")
    });
    if timecode.is_match(t) || !t.chars().any(char::is_alphabetic) {
        return true;
    }
    let letters: Vec<char> = t.chars().filter(|c| c.is_alphanumeric()).collect();
    let cjk = letters.iter().filter(|c| is_cjk(**c)).count();
    if cjk == 0 {
        letters.len() <= 3 && !t.contains(' ')
    } else {
        cjk == 1 && letters.len() == 1
    }
}

struct PiiRule {
    kind: &'static str,
    placeholder: &'static str,
    re: Regex,
    /// A further check on the match (an ID card's checksum).
    check: fn(&str) -> bool,
}

fn pii_rules() -> &'static [PiiRule] {
    static RULES: OnceLock<Vec<PiiRule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let rule = |kind, placeholder, re: &str, check| PiiRule {
            kind,
            placeholder,
            re: Regex::new(re).expect("PII regex"),
            check,
        };
        let any = |_: &str| true;
        vec![
            rule(
                "email",
                "<EMAIL>",
                r"(?i)(?P<m>\b[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b)",
                any,
            ),
            // Chinese resident ID: 17 digits and a check character (ISO 7064 MOD 11-2).
            rule("id_card", "<ID_CARD>", r"(^|[^0-9])(?P<m>[1-9][0-9]{16}[0-9Xx])($|[^0-9])", cn_id_checksum),
            // Mainland mobile numbers: 1[3-9] and nine digits, optionally +86, spaced 3-4-4.
            rule(
                "phone",
                "<PHONE>",
                r"(^|[^0-9+])(?P<m>(\+?86[ -]?)?1[3-9][0-9]([ -]?[0-9]{4}){2})($|[^0-9])",
                any,
            ),
            // International (+CC ...) and North American (555-123-4567, (555) 123-4567) numbers:
            // space or hyphen separators required, so years, prices, counts and "10.000.000"
            // are not taken.
            rule(
                "phone",
                "<PHONE>",
                r"(^|[^0-9])(?P<m>(\+[1-9][0-9]{0,2}[ -]?)?(\([0-9]{2,4}\)|[0-9]{2,4})[ -][0-9]{3,4}[ -][0-9]{3,4})($|[^0-9])",
                any,
            ),
            rule(
                "ip",
                "<IP>",
                r"(^|[^0-9.])(?P<m>((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]))($|[^0-9.]|\.[^0-9])",
                any,
            ),
        ]
    })
}

fn cn_id_checksum(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// `text` with personal data replaced by typed placeholders (`<EMAIL>`, `<PHONE>`, `<IP>`,
/// `<ID_CARD>`), counting each kind replaced into `counts`.
pub fn scrub_pii(text: &str, counts: &mut BTreeMap<String, u64>) -> String {
    let mut out = text.to_string();
    // Until nothing changes: a placeholder can make a neighbour match a rule it did not
    // before ("a@b.co555-123-4567": once the phone is out, "a@b.co" ends as an address), and the
    // regex crate has no look-around, so the rules match a character of context on each side
    // and two numbers one character apart need a second pass. Replacing twice then changes
    // nothing (fuzzed: fuzz/fuzz_targets/filters.rs).
    for _ in 0..8 {
        let mut changed = false;
        for rule in pii_rules() {
            let mut replaced = String::with_capacity(out.len());
            let mut last = 0;
            for caps in rule.re.captures_iter(&out) {
                let m = caps.name("m").expect("every PII rule has group m");
                if !(rule.check)(m.as_str()) {
                    continue;
                }
                replaced.push_str(&out[last..m.start()]);
                replaced.push_str(rule.placeholder);
                last = m.end();
                *counts.entry(rule.kind.to_string()).or_default() += 1;
            }
            if last > 0 {
                replaced.push_str(&out[last..]);
                out = replaced;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_phrases_are_dropped_after_normalisation() {
        for s in [
            "Thanks for watching!",
            " thank you for watching. ",
            "字幕由Amara.org社区提供",
            "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
            "字幕志愿者 李宗盛",
            "ご視聴ありがとうございました",
            "Untertitel im Auftrag des ZDF, 2017",
            "Субтитры сделал DimaTorzok",
            "We hope you enjoyed this video, thank you very much for watching and I'll see you next time.",
            "Thank you so much for watching, and thank you very much for watching, and I'll see you in the next one!",
            "Thank you. Thanks for watching!",
        ] {
            assert_eq!(hallucination(s, 0.0, 3.0), Some("stock_phrase"), "{s}");
        }
        for s in [
            "Thank you.",
            "Thanks for watching the kids while I was away.",
            "我们今天谢谢观看直播的朋友们",
            "Thank you. Bye.",
            "I'll see you next time at the bakery.",
        ] {
            assert_eq!(hallucination(s, 0.0, 3.0), None, "{s}");
        }
    }

    #[test]
    fn loops_are_dropped_and_repeated_words_are_not() {
        let looped = "It's a wonderful day. It's a wonderful day. It's a wonderful day. It's a wonderful day.";
        assert_eq!(hallucination(looped, 0.0, 10.0), Some("repetition"));
        assert_eq!(
            hallucination("我爱你我爱你我爱你我爱你", 0.0, 5.0),
            Some("repetition")
        );
        assert_eq!(
            hallucination("No, no, no, that's not what I meant.", 0.0, 3.0),
            None
        );
        assert_eq!(hallucination("Very, very good.", 0.0, 2.0), None);
        assert_eq!(hallucination("哈哈哈", 0.0, 1.0), None);
    }

    #[test]
    fn impossible_speaking_rates_are_dropped() {
        let s = "and so my fellow americans ask not what your country can do for you";
        assert_eq!(hallucination(s, 0.0, 0.6), Some("speaking_rate"));
        assert_eq!(hallucination(s, 0.0, 4.0), None);
        let zh = "今天天气很好我们一起去公园散步吧";
        assert_eq!(hallucination(zh, 0.0, 0.5), Some("speaking_rate"));
        assert_eq!(hallucination(zh, 0.0, 3.0), None);
    }

    #[test]
    fn the_third_identical_segment_in_a_row_is_a_loop() {
        let t = [
            "It's a wonderful day.",
            "It's a wonderful day.",
            "it's a wonderful day",
            "Bye.",
        ];
        assert_eq!(repeated_segments(&t), [false, false, true, false]);
    }

    #[test]
    fn screen_text_that_is_not_language() {
        for s in [
            "00:00:00:03",
            "01:00:00;18",
            "12:04",
            "1:02:03.250",
            "42",
            "+++",
            "PS",
            "POS",
            "字",
        ] {
            assert!(screen_not_language(s), "{s}");
        }
        for s in [
            "1024 x 768 25 fps Photo JPEG 75%",
            "OK Go",
            "你好",
            "Lecture part 1",
            "Point 1.1",
        ] {
            assert!(!screen_not_language(s), "{s}");
        }
    }

    #[test]
    fn pii_gets_typed_placeholders() {
        let mut counts = BTreeMap::new();
        let s = scrub_pii(
            "Write to jane.doe@example.com or call 555-123-4567, +44 20 7946 0958, \
             手机 13812345678 or +86 138 1234 5678; server 192.168.1.20; \
             身份证 11010519491231002X. In 2024 we sold 1,000,000 copies at 3.5 each.",
            &mut counts,
        );
        assert_eq!(
            s,
            "Write to <EMAIL> or call <PHONE>, <PHONE>, 手机 <PHONE> or <PHONE>; server <IP>; \
             身份证 <ID_CARD>. In 2024 we sold 1,000,000 copies at 3.5 each."
        );
        assert_eq!(counts["email"], 1);
        assert_eq!(counts["phone"], 4);
        assert_eq!(counts["ip"], 1);
        assert_eq!(counts["id_card"], 1);
        // Found by the fuzzer: once the phone number is out, "exam@le.co" ends as an address;
        // a second pass must change nothing.
        let mut c = BTreeMap::new();
        let once = scrub_pii("Woe@exam@le.co555-123-4567", &mut c);
        assert_eq!(once, "Woe@<EMAIL><PHONE>");
        assert_eq!(scrub_pii(&once, &mut c), once);
        // A number of 18 digits whose check character is wrong is not an ID card.
        let mut none = BTreeMap::new();
        assert_eq!(
            scrub_pii("11010519491231002Y", &mut none),
            "11010519491231002Y"
        );
        assert!(none.is_empty());
    }
}
