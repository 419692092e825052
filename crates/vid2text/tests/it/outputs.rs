//! The output directory: commit protocol, reruns, sidecars, `models` and `cat`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::*;

fn snapshot(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["docs", "failures", "subtitles"] {
        for e in std::fs::read_dir(out.join(sub)).unwrap() {
            let p = e.unwrap().path();
            files.insert(p.display().to_string(), std::fs::read(&p).unwrap());
        }
    }
    files.insert(
        "run.json".into(),
        std::fs::read(out.join("run.json")).unwrap(),
    );
    files
}

#[test]
fn rerun_adds_nothing_and_redoes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let inputs = [
        data_str("speech/en/jfk/jfk.flac"),
        data_str("speech/en/misc/sr-english.wav"),
        tmp.path().join("missing.mp4").display().to_string(),
    ];
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let first = run(
        &args,
        &out,
        &["--asr-model", "tiny.en", "--subtitles", "srt,vtt", "--json"],
    );
    assert_eq!(first.code, 1);
    let before = snapshot(&out);
    assert_eq!(documents(&out).len(), 2);
    assert!(out.join("shards/00000.done").is_file());

    let again = run(
        &args,
        &out,
        &["--asr-model", "tiny.en", "--subtitles", "srt,vtt", "--json"],
    );
    assert_eq!(again.code, 1, "the job still has a failed input");
    let summary: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(summary["documents"], 0);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["skipped"], 3);
    assert_eq!(summary["failed_before"], 1);
    assert_eq!(summary["media_s"], 0.0, "nothing was decoded again");
    assert_eq!(
        snapshot(&out),
        before,
        "the rerun changed the output directory"
    );

    // A different configuration is refused rather than mixed into the same OUT.
    let other = run(&args, &out, &["--asr-model", "tiny.en", "--beam-size", "2"]);
    assert_eq!(other.code, 2);
    assert!(
        other.stderr.contains("different configuration"),
        "{}",
        other.stderr
    );
}

#[test]
fn subtitles_and_cat() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = run(
        &[&data_str("speech/en/jfk/jfk.flac")],
        &out,
        &["--asr-model", "tiny.en", "--subtitles", "srt,vtt"],
    );
    assert_eq!(r.code, 0);
    let id = documents(&out)[0]["id"].as_str().unwrap().to_string();
    let srt = std::fs::read_to_string(out.join(format!("subtitles/{id}.srt"))).unwrap();
    assert!(srt.starts_with("1\n00:00:0"), "{srt}");
    assert!(srt.contains(" --> ") && srt.contains("country"), "{srt}");
    let vtt = std::fs::read_to_string(out.join(format!("subtitles/{id}.vtt"))).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:0"), "{vtt}");

    let cat = vid2text(&["cat", "--text", &out.display().to_string()]);
    assert_eq!(cat.code, 0);
    assert!(
        cat.stdout.contains("jfk.flac") && cat.stdout.contains("ask not what your country"),
        "{}",
        cat.stdout
    );
    // No temporary files are left under final names.
    for sub in ["docs", "failures", "subtitles", "shards"] {
        for e in std::fs::read_dir(out.join(sub)).unwrap() {
            assert!(!e.unwrap().path().to_string_lossy().ends_with(".tmp"));
        }
    }
}

#[test]
fn models_lists_what_setup_installed() {
    let r = vid2text(&["models"]);
    assert_eq!(r.code, 0);
    for name in ["tiny.en", "base", "silero_vad", "onnxruntime"] {
        assert!(r.stdout.contains(name), "{name} not listed:\n{}", r.stdout);
    }
    // The default build runs Whisper's GEMM on oneDNN (twice ruy's speed: README, Benchmark).
    let engine = r.stdout.lines().find(|l| l.starts_with("engine:"));
    let engine = engine.unwrap_or_else(|| panic!("no engine line:\n{}", r.stdout));
    assert!(engine.contains("ruy"), "{engine}");
    assert_eq!(
        engine.contains("oneDNN"),
        cfg!(feature = "dnnl"),
        "{engine}"
    );
}
