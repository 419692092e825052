//! Manifest readers on arbitrary bytes: never panic, and every line becomes an input or a
//! failure that names the manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vid2text_core::input::{parse_manifest, ManifestKind};

fuzz_target!(|data: &[u8]| {
    let base = Path::new("/nonexistent-fuzz-base");
    for kind in [ManifestKind::Txt, ManifestKind::Jsonl, ManifestKind::Csv] {
        for item in parse_manifest(kind, "fuzz.manifest", data, base) {
            match item {
                Ok(input) => assert!(!input.uri.is_empty()),
                Err(f) => assert!(!f.error.is_empty()),
            }
        }
    }
});
