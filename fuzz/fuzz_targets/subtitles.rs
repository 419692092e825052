//! SRT/WebVTT rendering of arbitrary segments: never panics, and the output parses back into
//! exactly one cue per non-empty segment, with well-formed timings and no cue-breaking text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vid2text_core::sidecar::{render, SidecarFormat};
use vid2text_core::SpeechSegment;

fn segments(data: &[u8]) -> Vec<SpeechSegment> {
    data.split(|&b| b == 0xFF)
        .map(|chunk| {
            let num = |i: usize| chunk.get(i).copied().unwrap_or(0) as f64;
            let start = num(0) * 37.3 + num(1) / 7.0;
            let text = String::from_utf8_lossy(chunk.get(2..).unwrap_or(&[])).into_owned();
            SpeechSegment {
                start,
                end: start + num(1) * 0.25,
                text,
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                compression_ratio: 1.0,
                temperature: 0.0,
                caption_agreement: None,
            }
        })
        .collect()
}

fn is_timing(line: &str, sep: char) -> bool {
    let Some((a, b)) = line.split_once(" --> ") else {
        return false;
    };
    let ok = |t: &str| {
        let t: Vec<char> = t.chars().collect();
        t.len() >= 12 && t[t.len() - 4] == sep && t[t.len() - 7] == ':' && t[t.len() - 10] == ':'
    };
    ok(a) && ok(b)
}

fuzz_target!(|data: &[u8]| {
    let segs = segments(data);
    let expected = segs.iter().filter(|s| !s.text.trim().is_empty()).count();
    for format in [SidecarFormat::Srt, SidecarFormat::Vtt] {
        let out = render(format, &segs);
        let body = match format {
            SidecarFormat::Vtt => out.strip_prefix("WEBVTT\n\n").expect("WEBVTT header"),
            SidecarFormat::Srt => out.as_str(),
        };
        let cues: Vec<&str> = body.split("\n\n").filter(|c| !c.is_empty()).collect();
        assert_eq!(cues.len(), expected, "{out:?}");
        for (i, cue) in cues.iter().enumerate() {
            let mut lines = cue.lines();
            if format == SidecarFormat::Srt {
                assert_eq!(lines.next(), Some((i + 1).to_string().as_str()));
            }
            let timing = lines.next().expect("timing line");
            assert!(
                is_timing(
                    timing,
                    if format == SidecarFormat::Srt {
                        ','
                    } else {
                        '.'
                    }
                ),
                "{timing:?}"
            );
            let text: Vec<&str> = lines.collect();
            assert!(
                !text.is_empty()
                    && text
                        .iter()
                        .all(|l| !l.trim().is_empty() && !l.contains("-->")),
                "{cue:?}"
            );
        }
    }
});
