//! What the README promises about options, each with a test that fails when it breaks.

use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// `--max-duration`: only the first SECS are transcribed, and the document records where.
#[test]
fn max_duration_truncates_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    // Speech from 0.2 s to 17.4 s, then "banana" near 40 s.
    let video = data_str("video/autoeditor-example.mp4");
    let d = run_one(
        &video,
        tmp.path(),
        &["--asr-model", "tiny.en", "--max-duration", "8", "--no-ocr"],
    );
    assert_eq!(d["meta"]["truncated_at_s"], 8.0, "{}", d["meta"]);
    let speech = spans(&d, "speech");
    assert!(!speech.is_empty());
    assert!(speech.iter().all(|s| s.1 <= 8.5), "{speech:?}");
    let text = d["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains("example video"), "{text}");
    assert!(!text.contains("banana"), "{text}");
    assert!(d["stats"]["speech_s"].as_f64().unwrap() <= 8.0);
}

/// `--no-vad` sends all audio to Whisper; `--vad-threshold` decides what VAD keeps.
#[test]
fn vad_options_change_what_is_heard() {
    let tmp = tempfile::tempdir().unwrap();
    let video = data_str("video/autoeditor-example.mp4");
    let common = ["--asr-model", "tiny.en", "--no-ocr", "--beam-size", "1"];
    let with = run_one(&video, &tmp.path().join("vad"), &common);
    let without = run_one(
        &video,
        &tmp.path().join("novad"),
        &[&common[..], &["--no-vad"]].concat(),
    );
    let strict = run_one(
        &video,
        &tmp.path().join("strict"),
        &[&common[..], &["--vad-threshold", "0.97"]].concat(),
    );
    let speech_s = |d: &Value| d["stats"]["speech_s"].as_f64().unwrap();
    let duration = with["duration_s"].as_f64().unwrap();
    // Speech is 0.2-17.4 s and a word near 40 s of 42.5 s.
    assert!(speech_s(&with) < 0.6 * duration, "{}", with["stats"]);
    assert!(
        (speech_s(&without) - duration).abs() < 1.0,
        "--no-vad: {}",
        without["stats"]
    );
    assert!(
        speech_s(&strict) < speech_s(&with),
        "{} vs {}",
        strict["stats"],
        with["stats"]
    );
    for d in [&with, &without] {
        assert!(d["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("example video"));
    }
}

/// `--language` on a multilingual model is used as given: not detected (no probability), and
/// Whisper writes in it.
#[test]
fn a_given_language_is_used_not_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let zh = data_str("speech/zh/paddlespeech-zh.wav");
    let auto = run_one(
        &zh,
        &tmp.path().join("auto"),
        &["--asr-model", "base", "--no-ocr"],
    );
    assert_eq!(auto["language"], "zh");
    assert!(auto["stats"]["language_probability"].as_f64().is_some());
    let given = run_one(
        &zh,
        &tmp.path().join("given"),
        &["--asr-model", "base", "--no-ocr", "--language", "zh"],
    );
    assert_eq!(given["language"], "zh");
    assert!(
        given["stats"].get("language_probability").is_none(),
        "{}",
        given["stats"]
    );
    assert!(
        given["text"].as_str().unwrap().contains("跑步"),
        "{}",
        given["text"]
    );
    let bad = run(
        &[&zh],
        &tmp.path().join("bad"),
        &["--asr-model", "tiny.en", "--language", "zh"],
    );
    assert_eq!(
        bad.code, 2,
        "an English-only model refuses zh: {}",
        bad.stderr
    );
}

/// `--timeout` ends an FFmpeg child that hangs: a concat list whose entry is a FIFO nobody
/// writes to blocks ffprobe forever; the input fails at the probe stage, the run goes on.
#[test]
fn a_hung_ffmpeg_child_is_ended_by_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(Command::new("mkfifo")
        .arg(dir.join("never.wav"))
        .status()
        .unwrap()
        .success());
    let list = dir.join("hang.ffconcat");
    std::fs::write(&list, "ffconcat version 1.0\nfile never.wav\n").unwrap();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let out = dir.join("out");
    let began = std::time::Instant::now();
    let r = run(
        &[list.to_str().unwrap(), &jfk],
        &out,
        &["--asr-model", "tiny.en", "--no-ocr", "--timeout", "3"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        began.elapsed().as_secs() < 60,
        "the hung child was not ended"
    );
    let fails = failures(&out);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert_eq!(fails[0]["stage"], "probe", "{fails:?}");
    let error = fails[0]["error"].as_str().unwrap();
    assert!(
        error.contains("3 s") || error.contains("time limit"),
        "{error}"
    );
    assert_eq!(documents(&out).len(), 1);
}

/// `file://` inputs, and manifest lines that name their input in a `path` or `url` column.
#[test]
fn file_urls_and_path_and_url_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let jfk = data("speech/en/jfk/jfk.flac");
    let copy = tmp.path().join("copy.wav");
    ffmpeg(&[
        "-i",
        &data_str("speech/en/misc/sr-english.wav"),
        copy.to_str().unwrap(),
    ]);
    let manifest = tmp.path().join("list.jsonl");
    std::fs::write(
        &manifest,
        format!(
            "{{\"path\": \"copy.wav\", \"title\": \"by path\"}}\n{{\"url\": \"file://{}\", \"title\": \"by url\"}}\n",
            data("speech/en/librivox-pocketsphinx/ss01-0880.wav").display()
        ),
    )
    .unwrap();
    let direct = format!("file://{}", jfk.display());
    let out = tmp.path().join("out");
    let r = run(
        &[&direct, manifest.to_str().unwrap()],
        &out,
        &["--asr-model", "tiny.en", "--no-ocr"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), 3);
    assert!(doc(&docs, "jfk.flac")["text"]
        .as_str()
        .unwrap()
        .contains("country"));
    assert_eq!(doc(&docs, "copy.wav")["meta"]["title"], "by path");
    let by_url = doc(&docs, "ss01-0880.wav");
    assert_eq!(by_url["meta"]["title"], "by url");
    assert!(by_url["source"].as_str().unwrap().starts_with("file://"));
    assert!(by_url["text"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("young man"));
}

/// `VID2TEXT_OUTPUT`, `VID2TEXT_ASR_MODEL` and `VID2TEXT_THREADS` stand in for their options.
#[test]
fn environment_overrides_stand_in_for_options() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("from-env");
    let st = Command::new(env!("CARGO_BIN_EXE_vid2text"))
        .args([
            "run",
            "-q",
            &data_str("speech/en/jfk/jfk.flac"),
            "--no-ocr",
            "--json",
        ])
        .env("VID2TEXT_OUTPUT", &out)
        .env("VID2TEXT_ASR_MODEL", "tiny.en")
        .env("VID2TEXT_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let docs = documents(&out);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["pipeline"]["asr_model"], "tiny.en");
    let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["config"]["asr_model"], "tiny.en");
}

/// The keyframe and OCR options: fewer keyframes with a longer interval, fewer lines with a
/// higher confidence floor.
#[test]
fn keyframe_and_ocr_options_take_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let card = data_str("video/moviepy-testcard-example.mp4");
    let common = ["--asr-model", "tiny.en", "--min-words", "0"];
    let every = run_one(&card, &tmp.path().join("a"), &common);
    let sparse = run_one(
        &card,
        &tmp.path().join("b"),
        &[&common[..], &["--keyframe-interval", "5"]].concat(),
    );
    let kf = |d: &Value| d["stats"]["keyframes"].as_u64().unwrap();
    assert!(kf(&every) >= 15, "{}", every["stats"]);
    assert!(kf(&sparse) <= 5, "{}", sparse["stats"]);
    let strict = run_one(
        &card,
        &tmp.path().join("c"),
        &[&common[..], &["--ocr-min-confidence", "0.9999"]].concat(),
    );
    let lines = |d: &Value| d["screen_text"].as_array().unwrap().len();
    assert!(lines(&every) >= 1);
    assert!(
        lines(&strict) < lines(&every),
        "{} vs {}",
        strict["screen_text"],
        every["screen_text"]
    );
}

/// `--max-kept-pause`: pauses up to that long stay in the window as audio (they count as
/// speech time and Whisper hears them), and the words keep their times on the video's timeline.
#[test]
fn kept_pauses_stay_in_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    // JFK (11 s), 4 s of silence, a LibriVox sentence (7 s): one window either way. (Two
    // different texts: the same sentence twice reads as a loop to Whisper's fallback rules.)
    let two = tmp.path().join("two.wav");
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let dashwood = data_str("speech/en/librivox-pocketsphinx/ss01-0870.wav");
    let mono = "aformat=sample_rates=16000:channel_layouts=mono";
    ffmpeg(&[
        "-i",
        &jfk,
        "-f",
        "lavfi",
        "-t",
        "4",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-i",
        &dashwood,
        "-filter_complex",
        &format!("[0:a]{mono}[a];[2:a]{mono}[c];[a][1:a][c]concat=n=3:v=0:a=1"),
        two.to_str().unwrap(),
    ]);
    let two = two.to_str().unwrap();
    let common = ["--asr-model", "tiny.en", "--beam-size", "1"];
    let cut = run_one(
        two,
        &tmp.path().join("cut"),
        &[&common[..], &["--max-kept-pause", "0"]].concat(),
    );
    let kept = run_one(
        two,
        &tmp.path().join("kept"),
        &[&common[..], &["--max-kept-pause", "6"]].concat(),
    );
    let speech_s = |d: &Value| d["stats"]["speech_s"].as_f64().unwrap();
    // The 4 s pause (less VAD's padding around speech) is in the kept window's audio.
    assert!(
        speech_s(&kept) > speech_s(&cut) + 2.5,
        "kept {} cut {}",
        kept["stats"],
        cut["stats"]
    );
    for (d, pause_cut) in [(&cut, true), (&kept, false)] {
        let speech = spans(d, "speech");
        let said = |word: &str| speech.iter().find(|s| s.2.to_lowercase().contains(word));
        // Said from about 0.3 s and 15.3 s of the file. JFK's first segment runs across his
        // pause at 2-3 s, which VAD cuts: it keeps the time of its first words. With the 4 s
        // pause cut, the second sentence's segment starts in its own piece, at its words; with
        // the pause kept, its start is Whisper's own timestamp, which may lie anywhere in the
        // pause (on an AMD EPYC, tiny.en started it at JFK's last end, 10.85 s; on an Intel
        // Xeon at 15.3 s; on another AMD EPYC at 14.85 s). Either way the speech ends past
        // 20 s: the sentence's last words end at about 22 s, which a time line that lost the
        // 4 s pause would put near 18 s. (Whisper writes the sentence as one segment or two.)
        let (first, second) = (said("fellow american"), said("dashwood"));
        let last_end = speech.iter().map(|s| s.1).fold(0.0, f64::max);
        let second_ok = second.is_some_and(|&(start, _, _)| {
            if pause_cut {
                (14.0..16.5).contains(&start)
            } else {
                (10.5..16.5).contains(&start)
            }
        }) && last_end > 20.0;
        assert!(first.is_some_and(|s| s.0 < 1.0) && second_ok, "{speech:?}");
    }
}

/// Picture subtitle streams (PGS, DVD, DVB) cannot be read as text: each is named in
/// `stats.skipped_subtitle_streams`, the text streams beside it are read, and the speech is
/// transcribed as usual.
#[test]
fn picture_subtitle_streams_are_named_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    // A minimal Blu-ray (PGS) subtitle stream: two display sets of an empty composition, the
    // segments as the format defines them ("PG", PTS and DTS at 90 kHz, type, size).
    let mut sup = Vec::new();
    for t in [1.0f64, 3.0] {
        let pts = (t * 90_000.0) as u32;
        let mut segment = |kind: u8, payload: &[u8]| {
            sup.extend_from_slice(b"PG");
            sup.extend_from_slice(&pts.to_be_bytes());
            sup.extend_from_slice(&0u32.to_be_bytes());
            sup.push(kind);
            sup.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            sup.extend_from_slice(payload);
        };
        // Presentation composition: 320x240, 25 fps, number 1, epoch start, no objects.
        segment(0x16, &[1, 64, 0, 240, 0x10, 0, 1, 0x80, 0, 0, 0]);
        segment(0x80, &[]); // end of display set
    }
    let sup_path = tmp.path().join("pictures.sup");
    std::fs::write(&sup_path, sup).unwrap();
    let srt = tmp.path().join("text.srt");
    std::fs::write(
        &srt,
        "1\n00:00:01,000 --> 00:00:04,000\nA text subtitle line\n",
    )
    .unwrap();
    let video = tmp.path().join("subs.mkv");
    // Video, speech, the PGS stream copied as it is, the SRT stream as SRT (no spaces in paths).
    let args = format!(
        "-f lavfi -i testsrc=size=320x240:rate=10:duration=11 -i {} -i {} -i {} \
         -map 0:v -map 1:a -map 2:s -map 3:s -c:v libx264 -preset ultrafast -c:a aac \
         -c:s:0 copy -c:s:1 srt -t 11 {}",
        data_str("speech/en/jfk/jfk.flac"),
        sup_path.display(),
        srt.display(),
        video.display()
    );
    ffmpeg(&args.split_whitespace().collect::<Vec<_>>());
    let d = run_one(
        video.to_str().unwrap(),
        &tmp.path().join("out"),
        &["--asr-model", "tiny.en", "--no-ocr"],
    );
    assert_eq!(
        d["stats"]["skipped_subtitle_streams"],
        serde_json::json!(["hdmv_pgs_subtitle"]),
        "{}",
        d["stats"]
    );
    let text = d["text"].as_str().unwrap();
    assert!(text.contains("A text subtitle line"), "{text}");
    assert!(
        text.to_lowercase().contains("ask not what your country"),
        "{text}"
    );
}

/// The FFmpeg executables: the static pair from the model directory when setup installed it
/// (x86_64), named by `vid2text models`; `VID2TEXT_FFMPEG` / `VID2TEXT_FFPROBE` override it, and
/// a missing one fails each input at its stage, by name, while the run goes on.
#[test]
fn ffmpeg_executables_are_chosen_and_named() {
    let models = vid2text(&["models"]);
    assert_eq!(models.code, 0);
    if std::env::consts::ARCH == "x86_64" {
        assert!(
            models.stdout.contains("ffmpeg/ffmpeg, ffprobe: ")
                && models.stdout.contains("ffmpeg/ffprobe"),
            "{}",
            models.stdout
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let run_with = |var: &str, value: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_vid2text"))
            .args(["run", "-q", &data_str("speech/en/jfk/jfk.flac"), "--no-ocr"])
            .args(["--asr-model", "tiny.en", "-o"])
            .arg(tmp.path().join(out))
            .env(var, value)
            .output()
            .unwrap()
    };
    // Debian's ffmpeg on PATH, chosen by name: the run works as with the static one.
    let st = run_with("VID2TEXT_FFMPEG", "ffmpeg", "path");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let text = documents(&tmp.path().join("path"))[0]["text"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(text.contains("ask not what your country"), "{text}");
    // A missing ffprobe: the input fails at the probe stage, naming the program.
    let st = run_with("VID2TEXT_FFPROBE", "/nonexistent/ffprobe", "missing");
    assert_eq!(st.status.code(), Some(1));
    let failures = failures(&tmp.path().join("missing"));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["stage"], "probe");
    let error = failures[0]["error"].as_str().unwrap();
    assert!(error.contains("cannot run ffprobe"), "{error}");
}
