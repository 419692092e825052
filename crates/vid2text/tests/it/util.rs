use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `../shared/data` beside the repository (or `$VID2TEXT_TEST_DATA`).
pub fn data(rel: &str) -> PathBuf {
    let root = std::env::var_os("VID2TEXT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = root.join(rel);
    assert!(
        p.exists(),
        "test data missing: {} (set VID2TEXT_TEST_DATA)",
        p.display()
    );
    p
}

pub fn data_str(rel: &str) -> String {
    data(rel).display().to_string()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with the given arguments.
pub fn vid2text(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_vid2text"))
        .args(args)
        .env_remove("VID2TEXT_OUTPUT")
        .env_remove("VID2TEXT_ASR_MODEL")
        .output()
        .expect("run vid2text");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "vid2text {}\n  exit {}\n  stderr: {}",
        args.join(" "),
        run.code,
        run.stderr.trim()
    );
    run
}

/// Runs `vid2text run INPUTS -o OUT EXTRA...` and returns the run.
pub fn run(inputs: &[&str], out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["run", "-q"];
    args.extend_from_slice(inputs);
    let out = out.display().to_string();
    args.extend_from_slice(&["-o", &out]);
    args.extend_from_slice(extra);
    vid2text(&args)
}

/// Runs `vid2text run INPUT -o OUT EXTRA...` on one input that must succeed, and returns its
/// document.
pub fn run_one(input: &str, out: &Path, extra: &[&str]) -> Value {
    let r = run(&[input], out, extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut docs = documents(out);
    assert_eq!(docs.len(), 1, "one input, one document");
    docs.remove(0)
}

/// Runs `ffmpeg -nostdin -v error -y ARGS...` (test media generation), which must succeed.
pub fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// Every committed document of OUT (read as `vid2text cat` reads them).
pub fn documents(out: &Path) -> Vec<Value> {
    vid2text_core::outdir::DocumentLines::of(out)
        .expect("docs dir")
        .map(|line| serde_json::from_str(&line.expect("a document line")).unwrap())
        .collect()
}

/// Every failure record of OUT.
pub fn failures(out: &Path) -> Vec<Value> {
    let mut fails = Vec::new();
    for e in std::fs::read_dir(out.join("failures")).expect("failures dir") {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        fails.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    fails
}

/// Every record of OUT/dropped/ (inputs left out whole).
pub fn dropped_records(out: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    let Ok(dir) = std::fs::read_dir(out.join("dropped")) else {
        return records;
    };
    for e in dir {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    records
}

/// The document whose source ends with `name`.
pub fn doc<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["source"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no document for {name}"))
}

/// `(start, end, text)` of each span of a document's `field` (`speech`, `screen_text`, ...).
pub fn spans(doc: &Value, field: &str) -> Vec<(f64, f64, String)> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` array in {doc}"))
        .iter()
        .map(|s| {
            (
                s["start"].as_f64().unwrap(),
                s["end"].as_f64().unwrap(),
                s["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Duration of a media file in seconds (ffprobe).
pub fn duration(path: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            path,
        ])
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a duration")
}

/// Whether the tests run as root (CI does).
pub fn is_root() -> bool {
    let uid = Command::new("id").arg("-u").output().expect("id -u").stdout;
    String::from_utf8_lossy(&uid).trim() == "0"
}

/// Records a test that could not run here, for `scripts/test.sh` to count in its `tests:` line
/// (libtest has no skipped state: the test itself passes). Each is a line of
/// `target/tmp/skipped.txt`.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    eprintln!("SKIPPED {test}: {why}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped.txt");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("target/tmp/skipped.txt");
    writeln!(f, "{test}: {why}").expect("target/tmp/skipped.txt");
}

/// Sources of the committed documents, with how often each appears.
pub fn sources(out: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for d in documents(out) {
        *m.entry(d["source"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// `n` short inputs with distinct bytes (so distinct document ids and sidecar names): real
/// speech, each with its own metadata.
pub fn distinct_clips(dir: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let sources = [
        data_str("speech/en/misc/sr-english.wav"),
        data_str("speech/en/librivox-pocketsphinx/ss01-0880.wav"),
    ];
    (0..n)
        .map(|i| {
            let p = dir.join(format!("clip{i:02}.wav")).display().to_string();
            let comment = format!("comment=clip {i}");
            ffmpeg(&[
                "-i",
                &sources[i % 2],
                "-c",
                "copy",
                "-metadata",
                &comment,
                &p,
            ]);
            p
        })
        .collect()
}
