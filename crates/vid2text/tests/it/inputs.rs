//! Inputs: manifests, directories, bad files, usage errors.

use std::path::Path;

use serde_json::json;

use crate::util::*;

/// Deterministic pseudo-random bytes.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn make_bad_inputs(dir: &Path) {
    std::fs::write(dir.join("zero.mp4"), b"").unwrap();
    std::fs::write(
        dir.join("text.mp4"),
        "this is a text file, not a video\n".repeat(20),
    )
    .unwrap();
    let video = std::fs::read(data("video/autoeditor-example.mp4")).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &video[..video.len() / 3]).unwrap();
    std::fs::write(dir.join("random.mp4"), noise(200_000)).unwrap();
}

#[test]
fn bad_inputs_are_recorded_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    make_bad_inputs(&bad);
    let out = tmp.path().join("out");
    let missing = tmp.path().join("missing.mp4").display().to_string();
    let r = run(
        &[
            &data_str("speech/en/jfk/jfk.flac"),
            &bad.display().to_string(),
            &missing,
            &data_str("video/moviepy-testcard-example.mp4"),
        ],
        &out,
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 1, "some inputs failed: exit 1");
    let docs = documents(&out);
    assert_eq!(docs.len(), 2, "the good inputs are committed");
    assert!(doc(&docs, "jfk.flac")["text"]
        .as_str()
        .unwrap()
        .contains("country"));
    let fails = failures(&out);
    assert_eq!(fails.len(), 5, "{fails:#?}");
    let stage_of = |name: &str| {
        let f = fails
            .iter()
            .find(|f| f["uri"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no failure for {name}"));
        assert!(!f["error"].as_str().unwrap().is_empty());
        // Each failure is named on stderr with its stage.
        let stage = f["stage"].as_str().unwrap().to_string();
        assert!(
            r.stderr.contains(&format!(
                "{stage} failed for {}",
                f["uri"].as_str().unwrap()
            )),
            "stderr does not name {name}: {}",
            r.stderr
        );
        stage
    };
    assert_eq!(stage_of("zero.mp4"), "input");
    assert_eq!(stage_of("text.mp4"), "probe");
    assert_eq!(stage_of("random.mp4"), "probe");
    assert_eq!(stage_of("truncated.mp4"), "decode");
    assert_eq!(stage_of("missing.mp4"), "input");
    // Video-only input: a document with no speech.
    let card = doc(&docs, "moviepy-testcard-example.mp4");
    assert_eq!(card["stats"]["has_video"], true);
    assert!(card["speech"].as_array().unwrap().is_empty());
    assert!(card["stats"].get("audio").is_none());
}

#[test]
fn manifests_carry_ids_and_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let eng = data_str("speech/en/misc/sr-english.wav");
    std::fs::write(
        tmp.path().join("list.jsonl"),
        format!("{{\"uri\": \"{jfk}\", \"id\": \"jfk-1961\", \"title\": \"Inaugural\", \"year\": 1961}}\n{{\"title\": \"no uri\"}}\n"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("list.csv"),
        format!("uri,licence\n{eng},BSD-3-Clause\n"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let r = run(
        &[
            &tmp.path().join("list.jsonl").display().to_string(),
            &tmp.path().join("list.csv").display().to_string(),
        ],
        &out,
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 1, "the line without uri is a failure");
    let docs = documents(&out);
    assert_eq!(docs.len(), 2);
    let j = doc(&docs, "jfk.flac");
    assert_eq!(j["id"], "jfk-1961");
    assert_eq!(j["meta"]["title"], "Inaugural");
    assert_eq!(j["meta"]["year"], 1961);
    let e = doc(&docs, "sr-english.wav");
    assert_eq!(e["meta"]["licence"], "BSD-3-Clause");
    assert!(
        vid2text_core::text::normalize(e["text"].as_str().unwrap()).contains("three")
            || e["text"].as_str().unwrap().contains('3')
    );
    let fails = failures(&out);
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0]["stage"], "manifest");
    assert!(fails[0]["uri"].as_str().unwrap().ends_with("list.jsonl:2"));
}

/// A manifest's `language` column names each input's language (a region is ignored); a code the
/// model does not know, or another language than English on an English-only model, fails that
/// input at the ASR stage, and the run goes on.
#[test]
fn a_manifest_names_each_inputs_language() {
    let tmp = tempfile::tempdir().unwrap();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let eng = data_str("speech/en/misc/sr-english.wav");
    // Runs a manifest of (input, language) lines with a model; one input must fail, at `asr`,
    // with `why` in its error, and the run go on.
    let run_failing_one = |lines: &[(&str, &str)], model: &str, why: &str| {
        let manifest = tmp.path().join(format!("{model}.jsonl"));
        let text: String = lines
            .iter()
            .map(|(uri, lang)| json!({"uri": uri, "language": lang}).to_string() + "\n")
            .collect();
        std::fs::write(&manifest, text).unwrap();
        let out = tmp.path().join(model);
        let r = run(&[manifest.to_str().unwrap()], &out, &["--asr-model", model]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let fails = failures(&out);
        assert_eq!(fails.len(), 1);
        assert_eq!(fails[0]["stage"], "asr");
        assert!(
            fails[0]["error"].as_str().unwrap().contains(why),
            "{}",
            fails[0]
        );
        (out, fails[0]["uri"].clone())
    };

    let (out, failed) = run_failing_one(&[(&jfk, "xx"), (&eng, "EN-us")], "base", "`xx`");
    assert_eq!(failed, json!(jfk));
    let docs = documents(&out);
    assert_eq!(docs.len(), 1);
    let e = doc(&docs, "sr-english.wav");
    assert_eq!(e["language"], "en");
    assert!(
        e["stats"]["language_probability"].is_null(),
        "given, not detected: {e}"
    );

    run_failing_one(&[(&eng, "zh")], "tiny.en", "English-only");
}

#[test]
fn directories_are_walked_and_probed() {
    let tmp = tempfile::tempdir().unwrap();
    let videos = tmp.path().join("videos/nested");
    std::fs::create_dir_all(&videos).unwrap();
    std::fs::copy(data("speech/en/misc/sr-english.wav"), videos.join("a.wav")).unwrap();
    // No extension: taken because ffprobe can open it.
    std::fs::copy(data("speech/en/jfk/jfk.flac"), videos.join("recording")).unwrap();
    std::fs::write(videos.join("notes.txt"), "not media").unwrap();
    std::fs::write(videos.join("blob"), noise(1000)).unwrap();
    let out = tmp.path().join("out");
    let r = run(
        &[&tmp.path().join("videos").display().to_string()],
        &out,
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), 2);
    assert!(doc(&docs, "recording")["text"]
        .as_str()
        .unwrap()
        .contains("country"));
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let r = run(
        &[&jfk],
        &tmp.path().join("o1"),
        &["--asr-model", "no-such-model"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown ASR model `no-such-model`"),
        "{}",
        r.stderr
    );
    // OUT is a file: not writable as a directory.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let r = run(&[&jfk], &file, &["--asr-model", "tiny.en"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("output directory"), "{}", r.stderr);
    let r = vid2text(&["run", &jfk]);
    assert_eq!(r.code, 2, "missing -o is a usage error");
    let r = run(&[&jfk], &tmp.path().join("o2"), &["--subtitles", "doc"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown subtitle format"), "{}", r.stderr);
    // Typos in engine settings are refused before OUT is touched: a corrected rerun must not
    // find OUT's configuration fixed to the typo.
    let refused: [(&[&str], &str); 3] = [
        (
            &["--asr-model", "tiny.en", "--compute-type", "int4"],
            "unknown compute type `int4`",
        ),
        (
            &["--asr-model", "base", "--language", "xx"],
            "language `xx`",
        ),
        (
            &["--asr-model", "tiny.en", "--language", "zh"],
            "English-only",
        ),
    ];
    for (i, (args, why)) in refused.into_iter().enumerate() {
        let out = tmp.path().join(format!("typo{i}"));
        let r = run(&[&jfk], &out, args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        assert!(!out.join("run.json").exists(), "{args:?} wrote run.json");
    }
    // --device cuda where there is no GPU: said before anything is written.
    if !Path::new("/dev/nvidiactl").exists() {
        let out = tmp.path().join("o3");
        let r = run(
            &[&jfk],
            &out,
            &["--asr-model", "tiny.en", "--device", "cuda"],
        );
        assert_eq!(r.code, 2);
        let why = if cfg!(feature = "prebuilt") || cfg!(feature = "cuda") {
            "sees no CUDA device"
        } else {
            "has no CUDA"
        };
        assert!(r.stderr.contains(why), "{}", r.stderr);
        assert!(!out.join("run.json").exists());
    }
}
