//! Packing the short windows of several inputs into one Whisper window: every input keeps its
//! own words and times.

use std::collections::BTreeMap;

use vid2text_core::text::{is_cjk, normalize, units, wer};

use crate::util::*;

/// Short English clips with their references, and Mandarin ones.
fn references() -> Vec<(String, String)> {
    let mut refs = vec![(
        data_str("speech/en/jfk/jfk.flac"),
        std::fs::read_to_string(data("speech/en/jfk/jfk.txt")).unwrap(),
    )];
    let libri = data("speech/en/librivox-pocketsphinx");
    for line in std::fs::read_to_string(libri.join("trans.txt"))
        .unwrap()
        .lines()
    {
        if let Some((name, text)) = line.split_once(char::is_whitespace) {
            refs.push((
                libri.join(format!("{name}.wav")).display().to_string(),
                text.into(),
            ));
        }
    }
    refs
}

fn mandarin() -> Vec<(String, String)> {
    let dir = data("speech/zh");
    let tsv = std::fs::read_to_string(dir.join("trans.tsv")).unwrap();
    [
        "funasr-asr_example_zh.wav",
        "paddlespeech-zh.wav",
        "soulx-female_mandarin.wav",
    ]
    .iter()
    .map(|name| {
        let line = tsv.lines().find(|l| l.starts_with(name)).unwrap();
        let text = line.split('\t').nth(1).unwrap().to_string();
        (dir.join(name).display().to_string(), text)
    })
    .collect()
}

/// The words (English) or character pairs (Chinese) of a text.
fn marks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|&c| is_cjk(c)).collect();
    if chars.len() >= 2 {
        return chars.windows(2).map(|w| w.iter().collect()).collect();
    }
    units(&normalize(text))
}

fn by_source(out: &std::path::Path) -> BTreeMap<String, serde_json::Value> {
    documents(out)
        .into_iter()
        .map(|d| (d["source"].as_str().unwrap().to_string(), d))
        .collect()
}

/// Whether some window of a document's input was decoded in a pack.
fn was_packed(d: &serde_json::Value) -> bool {
    d["stats"]["asr_packed_windows"].as_u64().unwrap_or(0) > 0
}

/// A mark worth looking for in another input's text: a Chinese character pair, or a word of
/// five letters or more.
fn distinctive(mark: &str) -> bool {
    mark.chars().any(is_cjk) || mark.len() >= 5
}

fn speech_text(d: &serde_json::Value) -> String {
    d["speech"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

/// English and Mandarin inputs packed in one run (each language with its own; a manifest's
/// `language` column names each input's, since windows whose language is detected are decoded
/// alone): no document holds words that only another input has (in its reference, and not in
/// this input's reference or its own text decoded alone), and some inputs were packed.
#[test]
fn no_word_of_one_input_lands_in_another() {
    // Also one input of two Mandarin utterances with a pause: in a pack, Whisper has been seen
    // to write the first and jump to the next input, skipping the second.
    let tmp = tempfile::tempdir().unwrap();
    let two = tmp.path().join("two-utterances.wav").display().to_string();
    let (a, b) = (
        data_str("speech/zh/funasr-asr_example_zh.wav"),
        data_str("speech/zh/paddlespeech-zh.wav"),
    );
    ffmpeg(&[
        "-i",
        &a,
        "-i",
        &b,
        "-filter_complex",
        "[0:a]aresample=16000,apad=pad_dur=1.5[x];[1:a]aresample=16000[y];[x][y]concat=n=2:v=0:a=1",
        &two,
    ]);
    let both = format!("{} {}", mandarin()[0].1, mandarin()[1].1);
    let refs: Vec<(String, String)> = references()
        .into_iter()
        .chain(mandarin())
        .chain([(two, both)])
        .collect();
    let lang = |text: &str| if text.chars().any(is_cjk) { "zh" } else { "en" };
    let manifest = tmp.path().join("inputs.jsonl");
    let lines: Vec<String> = refs
        .iter()
        .map(|(p, text)| serde_json::json!({"path": p, "language": lang(text)}).to_string())
        .collect();
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    let inputs = [manifest.to_str().unwrap()];
    let common = ["--asr-model", "base", "--replicas", "1"];
    let (packed, alone) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = run(&inputs, packed.path(), &common);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        &inputs,
        alone.path(),
        &[&common[..], &["--no-pack-inputs"]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (docs, alone) = (by_source(packed.path()), by_source(alone.path()));
    assert_eq!(docs.len(), refs.len());
    let packed_n = docs.values().filter(|d| was_packed(d)).count();
    assert!(packed_n >= 4, "only {packed_n} inputs were packed");
    for (path, own) in &refs {
        let text = speech_text(&docs[path]);
        let have = marks(&text);
        let mut mine = marks(own);
        mine.extend(marks(&speech_text(&alone[path])));
        for (other, theirs) in refs.iter().filter(|(p, _)| p != path) {
            let foreign: Vec<String> = marks(theirs)
                .into_iter()
                .filter(|m| distinctive(m) && !mine.contains(m) && have.contains(m))
                .collect();
            assert!(
                foreign.is_empty(),
                "{path} holds {foreign:?} of {other}: {text}"
            );
        }
        assert_eq!(docs[path]["language"], lang(own), "{path}");
        // Nothing lost: about as much text as the input alone gives.
        let (n, m) = (marks(&text).len(), marks(&speech_text(&alone[path])).len());
        assert!(
            n as f64 >= 0.8 * m as f64,
            "{path}: {n} words packed, {m} alone: {text}"
        );
    }
}

/// Packed, in another order, and unpacked: each input's segments start within 0.5 s of each
/// other and say nearly the same.
#[test]
fn packed_times_and_words_match_unpacked_in_any_order() {
    let refs = references();
    let forward: Vec<&str> = refs.iter().map(|(p, _)| p.as_str()).collect();
    let backward: Vec<&str> = forward.iter().rev().copied().collect();
    let common = ["--asr-model", "tiny.en", "--replicas", "1"];
    let runs: Vec<(String, BTreeMap<String, serde_json::Value>)> = [
        ("packed", &forward, &[][..]),
        ("packed, reversed", &backward, &[][..]),
        ("unpacked", &forward, &["--no-pack-inputs"][..]),
    ]
    .into_iter()
    .map(|(name, inputs, extra)| {
        let dir = tempfile::tempdir().unwrap();
        let r = run(inputs, dir.path(), &[&common[..], extra].concat());
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        (name.to_string(), by_source(dir.path()))
    })
    .collect();
    let (_, unpacked) = &runs[2];
    let mut packed_any = 0;
    let words = |d: &serde_json::Value, reference: &str| {
        let n = units(&normalize(reference)).len() as f64;
        (wer(reference, d["text"].as_str().unwrap()) * n, n)
    };
    for (name, docs) in &runs[..2] {
        let (mut errors_packed, mut errors_alone, mut total) = (0.0, 0.0, 0.0);
        for (path, reference) in &refs {
            let (p, u) = (&docs[path], &unpacked[path]);
            packed_any += was_packed(p) as usize;
            // Segments may be cut differently; where speech starts and ends must agree within
            // 0.5 s, and no packed segment lies outside it.
            let (sp, su) = (spans(p, "speech"), spans(u, "speech"));
            assert!(
                !sp.is_empty() && !su.is_empty(),
                "{name}, {path}: no speech"
            );
            let near = |a: f64, b: f64| (a - b).abs() <= 0.5;
            assert!(
                near(sp[0].0, su[0].0) && near(sp[sp.len() - 1].1, su[su.len() - 1].1),
                "{name}, {path}: speech at {sp:?}, unpacked at {su:?}"
            );
            for s in &sp {
                assert!(
                    s.0 >= su[0].0 - 0.5 && s.1 <= su[su.len() - 1].1 + 0.5,
                    "{name}, {path}: {s:?} outside the speech {su:?}"
                );
            }
            let ((ep, n), (eu, _)) = (words(p, reference), words(u, reference));
            eprintln!(
                "{name}, {path}: {ep} errors packed, {eu} alone: {}",
                p["text"]
            );
            errors_packed += ep;
            errors_alone += eu;
            total += n;
            assert!(!was_packed(u), "{path}: unpacked run packed it");
        }
        // A word or two either way on these 80 words (tiny.en's "ill disposed" comes out as
        // "old-sposed" in some contexts and not in others).
        assert!(
            errors_packed <= errors_alone + 3.0,
            "{name}: {errors_packed} errors packed against {errors_alone} alone, of {total} words"
        );
    }
    assert!(packed_any >= 4, "only {packed_any} inputs were packed");
}

/// Two recordings in one file, as the captions benchmark builds its audio: 0.5 s of silence,
/// `a`, 0.8 s, `b`, 0.8 s (16 kHz mono AAC).
fn two_utterances(dir: &std::path::Path, out: &str, a: &str, b: &str) -> String {
    let path = dir.join(out).display().to_string();
    let second_ms = ((0.5 + duration(a) + 0.8) * 1000.0) as u64;
    let total = second_ms as f64 / 1000.0 + duration(b) + 0.8;
    let filter = format!(
        "[0:a]aresample=16000,aformat=channel_layouts=mono,adelay=500|500[x];\
         [1:a]aresample=16000,aformat=channel_layouts=mono,adelay={second_ms}|{second_ms}[y];\
         [x][y]amix=inputs=2:normalize=0,apad[a]"
    );
    ffmpeg(&[
        "-i",
        a,
        "-i",
        b,
        "-filter_complex",
        &filter,
        "-map",
        "[a]",
        "-t",
        &format!("{total:.2}"),
        "-c:a",
        "aac",
        &path,
    ]);
    path
}

/// Two Mandarin inputs of two utterances each (0.5 s of silence, a clip, 0.8 s, a clip, as the
/// captions benchmark builds them). Packed together, Whisper base writes the first input's first
/// sentence and jumps to the second input: the first input must be decoded again on its own,
/// its second sentence kept.
#[test]
fn a_sentence_skipped_in_a_pack_is_decoded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let zh = |name: &str| data_str(&format!("speech/zh/{name}"));
    let make = |out: &str, a: &str, b: &str| two_utterances(tmp.path(), out, a, b);
    let first = make(
        "zh0.m4a",
        &zh("funasr-asr_example_zh.wav"),
        &zh("paddlespeech-zh.wav"),
    );
    let second = make(
        "zh1.m4a",
        &zh("yeyupiaoling-test.wav"),
        &zh("fireredasr-BAC009S0764W0121.wav"),
    );
    let out = tmp.path().join("out");
    // One replica: two windows left at the end are packed (with a replica each they would run
    // side by side). The language given: windows whose language is detected are not packed.
    let r = run(
        &[&first, &second],
        &out,
        &["--asr-model", "base", "--replicas", "1", "--language", "zh"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = by_source(&out);
    assert_eq!(
        docs[&second]["stats"]["asr_packed_windows"], 1,
        "the second input was packed: {}",
        docs[&second]
    );
    let text = speech_text(&docs[&first]);
    // 我认为跑步最重要的就是给我带来了身体健康, in either script.
    assert!(
        ["跑步", "身体", "身體"].iter().any(|w| text.contains(w)),
        "the second sentence is lost: {text}"
    );
    assert!(text.contains("欢迎大家"), "{text}");
}

/// One stretch of Mandarin speech (10 s, no pause for VAD to mark) packed with the other
/// Mandarin recordings: Whisper base writes its first two sentences and goes on to the next
/// input, leaving its last 3.5 s without a segment. The input must be decoded again on its own,
/// its last sentence kept (…白日梦想家).
#[test]
fn a_tail_skipped_in_a_pack_is_decoded_again() {
    let dir = data("speech/zh");
    let mut inputs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav" || e == "flac"))
        .map(|p| p.display().to_string())
        .collect();
    inputs.sort();
    let soulx = dir.join("soulx-female_mandarin.wav").display().to_string();
    assert!(inputs.contains(&soulx), "{inputs:?}");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let r = run(&args, &out, &["--asr-model", "base", "--language", "zh"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = by_source(&out);
    assert_eq!(docs.len(), inputs.len());
    let packed = docs.values().filter(|d| was_packed(d)).count();
    assert!(packed >= 4, "only {packed} inputs were packed");
    let text = speech_text(&docs[&soulx]);
    assert!(text.contains("梦想"), "the last sentence is lost: {text}");
    let last_end = docs[&soulx]["speech"].as_array().unwrap().last().unwrap()["end"]
        .as_f64()
        .unwrap();
    assert!(last_end > 8.5, "speech ends at {last_end} s of 10.04 s");
}

/// Language detection encodes an input's first windows; their first pass decodes from that
/// encoding instead of encoding again, and they are not packed. Here 28 s of one speaker, then
/// another's 11 s (the captions benchmark's zh-2): the second window holds the last second of
/// the first speaker and all of the second's, and Whisper base writes the first speaker's last
/// words and stops. The rest of that window is speech, so it is decoded again from Whisper's
/// last timestamp (…白日梦想家 kept).
#[test]
fn detected_windows_reuse_their_encoding_and_speech_after_an_early_end_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = two_utterances(
        tmp.path(),
        "mabaoguo-soulx.m4a",
        &data_str("speech/zh/higgs-mabaoguo.wav"),
        &data_str("speech/zh/soulx-female_mandarin.wav"),
    );
    let out = tmp.path().join("out");
    let r = run(&[&input], &out, &["--asr-model", "base", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let docs = by_source(&out);
    let d = &docs[&input];
    assert_eq!(d["language"], "zh");
    let text = speech_text(d);
    assert!(
        ["梦想", "夢想"].iter().any(|w| text.contains(w)),
        "the second speaker is lost: {text}"
    );
    let stats = &d["stats"];
    assert_eq!(stats["asr_windows"], 2, "{stats}");
    assert!(stats["asr_packed_windows"].is_null(), "{stats}");
    // Every pass encodes once, detection included: the first pass of each detected window
    // reuses detection's encoding.
    assert_eq!(
        summary["stages"]["windows_encoded"], stats["asr_passes"],
        "{summary}"
    );
}
