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
    // The engine line is the library's own answer: its version, where it was loaded from, and
    // its GEMM backend: oneDNN on every CPU unless `CT2_USE_MKL` says otherwise (the wheel's MKL
    // dies of SIGFPE with two replicas on an Intel Xeon: `engine::choose_cpu_backend`).
    let engine = r.stdout.lines().find(|l| l.starts_with("engine:"));
    let engine = engine.unwrap_or_else(|| panic!("no engine line:\n{}", r.stdout));
    assert!(engine.contains("CTranslate2 4.8.4"), "{engine}");
    if cfg!(feature = "prebuilt") {
        assert!(
            engine.contains("/ctranslate2/libctranslate2-") && engine.contains(".so.4.8.4"),
            "{engine}"
        );
        match std::env::var_os("CT2_USE_MKL") {
            None => assert!(engine.contains("int8 GEMM DNNL"), "{engine}"),
            Some(_) => assert!(
                engine.contains("int8 GEMM DNNL") || engine.contains("int8 GEMM MKL"),
                "{engine}"
            ),
        }
        if cfg!(target_arch = "x86_64") {
            assert!(engine.contains("CUDA: compiled in"), "{engine}");
        }
    }
}

/// A user who names the backend gets it: `CT2_USE_MKL=1` is MKL, on AMD CPUs too.
#[cfg(all(feature = "prebuilt", target_arch = "x86_64"))]
#[test]
fn the_users_gemm_backend_is_kept() {
    for (value, backend) in [("1", "int8 GEMM MKL"), ("0", "int8 GEMM DNNL")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vid2text"))
            .arg("models")
            .env("CT2_USE_MKL", value)
            .output()
            .expect("run vid2text");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let engine = stdout
            .lines()
            .find(|l| l.starts_with("engine:"))
            .unwrap_or("");
        assert!(engine.contains(backend), "CT2_USE_MKL={value}: {stdout}");
    }
}

/// `scripts/bundle.sh` makes a directory that runs anywhere: the binary finds the engine library
/// in `lib/` beside it, and its models in `models/`, with no set-up and no model cache.
#[test]
fn bundle_runs_without_setup() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bundle.sh");
    let st = std::process::Command::new(script)
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_vid2text"),
            "--asr-models",
            "tiny.en",
        ])
        .arg(&bundle)
        .status()
        .expect("bundle.sh");
    assert!(st.success());
    let home = tmp.path().join("home"); // no ~/.cache/vid2text there
    let bin = bundle.join("vid2text");
    let run_bundled = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .env("HOME", &home)
            .env_remove("VID2TEXT_MODELS")
            .env_remove("XDG_CACHE_HOME")
            .output()
            .expect("run the bundled vid2text");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let models = run_bundled(&["models"]);
    assert!(
        models.contains(&format!(
            "model directory: {}",
            bundle.join("models").display()
        )),
        "{models}"
    );
    if cfg!(feature = "prebuilt") {
        let lib = bundle.join("lib").display().to_string();
        assert!(
            models.contains(&lib),
            "the engine is not the bundle's:\n{models}"
        );
    }
    let out = tmp.path().join("out");
    let jfk = data_str("speech/en/jfk/jfk.flac");
    run_bundled(&[
        "run",
        "-q",
        &jfk,
        "-o",
        out.to_str().unwrap(),
        "--asr-model",
        "tiny.en",
    ]);
    let docs = documents(&out);
    let text = docs[0]["text"].as_str().unwrap().to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
}

/// OUTs started by vid2text 0.1.0 (their `run.json`, kept in tests/it/fixtures): a speech-only
/// one resumes under this version with the same settings (its configuration hash has not
/// moved); those with OCR on are refused with a clear message, since 0.2.0 reads captions apart
/// and fuses them with speech, and continue with `--new-config-generation`.
#[test]
fn outs_started_by_0_1_0_resume_or_say_why_not() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let cases: [(&str, &[&str], bool); 3] = [
        ("default", &[], false),
        (
            "tinyen_speech",
            &[
                "--asr-model",
                "tiny.en",
                "--no-ocr",
                "--text-format",
                "speech",
            ],
            true,
        ),
        (
            "custom",
            &[
                "--asr-model",
                "tiny.en",
                "--beam-size",
                "2",
                "--language",
                "en",
                "--no-vad",
                "--max-duration",
                "60",
                "--keyframe-interval",
                "2",
                "--ocr-det-size",
                "960",
                "--text-format",
                "speech,screen",
            ],
            false,
        ),
    ];
    let wav = data_str("speech/en/misc/sr-english.wav");
    for (name, args, same_hash) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let fixture = fixtures.join(format!("run-0.1.0-{name}.json"));
        std::fs::copy(&fixture, out.join("run.json")).unwrap();
        let r = run(&[&wav], &out, args);
        if same_hash {
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
            let generations = out.join("generations").read_dir().unwrap().count();
            assert_eq!(generations, 0, "{name}: no new generation");
        } else {
            assert_eq!(r.code, 2, "{name}: {}", r.stderr);
            assert!(
                r.stderr.contains("different configuration"),
                "{name}: {}",
                r.stderr
            );
            assert!(!out.join("docs").read_dir().unwrap().any(|_| true));
            let mut again = args.to_vec();
            again.push("--new-config-generation");
            let r = run(&[&wav], &out, &again);
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        }
        assert_eq!(documents(&out).len(), 1, "{name}");
    }
}

/// Runs the binary with its stdout closed before it writes (as `| head -c 0` does).
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vid2text"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let (code, stderr) = with_closed_stdout(&[
        "run",
        "-q",
        "--json",
        &jfk,
        "-o",
        &out,
        "--asr-model",
        "tiny.en",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(documents(dir.path()).len(), 1, "the document is committed");
    for args in [
        &["cat", out.as_str()][..],
        &["cat", "--text", &out],
        &["models"],
    ] {
        let (code, stderr) = with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
