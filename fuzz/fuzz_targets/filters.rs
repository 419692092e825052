//! The text filters on arbitrary text: never panic; replacing personal data twice changes
//! nothing more than once (placeholders are not personal data), and a text with no digit and no
//! `@` is left as it is.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vid2text_core::filters::{hallucination, screen_not_language, scrub_pii};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let start = data.first().copied().unwrap_or(0) as f64 / 10.0;
    let _ = hallucination(&text, start, start + data.len() as f64 / 50.0);
    let _ = screen_not_language(&text);
    let mut counts = BTreeMap::new();
    let once = scrub_pii(&text, &mut counts);
    let mut again = BTreeMap::new();
    assert_eq!(scrub_pii(&once, &mut again), once, "{text:?}");
    assert!(again.is_empty(), "{text:?}: {again:?}");
    if !text.chars().any(|c| c.is_ascii_digit() || c == '@') {
        assert_eq!(once, text, "{text:?}");
        assert!(counts.is_empty());
    }
});
