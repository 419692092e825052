//! What was said: transcripts against references.

use vid2text_core::text::{normalize, units, wer};

use crate::util::*;

fn segments(doc: &serde_json::Value) -> Vec<(f64, f64, String)> {
    spans(doc, "speech")
}

#[test]
fn jfk_every_word_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[&data_str("speech/en/jfk/jfk.flac")],
        dir.path(),
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(dir.path());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    let reference = std::fs::read_to_string(data("speech/en/jfk/jfk.txt")).unwrap();
    let hyp = normalize(d["text"].as_str().unwrap());
    let mut hyp_words = hyp.split(' ');
    for word in normalize(&reference).split(' ') {
        assert!(
            hyp_words.any(|h| h == word),
            "`{word}` missing or out of order in: {hyp}"
        );
    }
    assert_eq!(d["language"], "en");
    assert!((d["duration_s"].as_f64().unwrap() - 11.0).abs() < 0.1);
    // 44.1 kHz stereo in, 16 kHz mono decoded.
    assert_eq!(d["stats"]["audio"]["channels"], 2);
    assert_eq!(d["stats"]["audio"]["sample_rate"], 44100);
    for (start, end, _) in segments(d) {
        assert!(
            0.0 <= start && start <= end && end <= 11.0,
            "{start}..{end}"
        );
    }
    assert_eq!(d["pipeline"]["asr_model"], "tiny.en");
    assert_eq!(d["id"].as_str().unwrap().len(), 64);
}

#[test]
fn librivox_wer_with_tiny_en() {
    let dir = tempfile::tempdir().unwrap();
    let clips = data("speech/en/librivox-pocketsphinx");
    let r = run(
        &[&clips.display().to_string()],
        dir.path(),
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(dir.path());
    assert_eq!(docs.len(), 5, "one document per clip");
    let refs = std::fs::read_to_string(clips.join("trans.txt")).unwrap();
    let (mut edits, mut words) = (0.0, 0usize);
    for line in refs.lines().filter(|l| !l.trim().is_empty()) {
        let (name, reference) = line.split_once(char::is_whitespace).unwrap();
        let d = doc(&docs, &format!("{name}.wav"));
        let n = units(&normalize(reference)).len();
        let w = wer(reference, d["text"].as_str().unwrap());
        eprintln!("{name}: WER {:.1} %  {}", 100.0 * w, d["text"]);
        edits += w * n as f64;
        words += n;
    }
    let total = edits / words as f64;
    eprintln!(
        "LibriVox tiny.en WER: {:.2} % over {words} words",
        100.0 * total
    );
    assert!(total <= 0.10, "WER {:.1} % > 10 %", 100.0 * total);
}

#[test]
fn speech_only_where_spoken_in_autoeditor_example() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[&data_str("video/autoeditor-example.mp4")],
        dir.path(),
        &["--asr-model", "tiny.en"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = &documents(dir.path())[0];
    let segs = segments(d);
    // Speech at 0.2-17.4 s; the track is silent from 18 s to 39 s (a spoken "banana" follows at
    // about 40 s, as the speaker announces).
    let early: Vec<_> = segs.iter().filter(|s| s.1 <= 18.0).collect();
    assert!(early.len() >= 2, "{segs:?}");
    for (start, end, text) in &segs {
        assert!(
            *end <= 18.0 || *start >= 39.0,
            "segment {start}..{end} `{text}` in the silent stretch"
        );
    }
    let text = normalize(d["text"].as_str().unwrap());
    for w in ["example", "video", "commercial", "bottom", "right"] {
        assert!(text.contains(w), "`{w}` missing: {text}");
    }
    assert_eq!(d["stats"]["has_video"], true);
}

#[test]
fn music_and_animation_give_no_speech() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        data_str("video/moviepy-chaplin.mp4"),
        data_str("video/moviepy-big_buck_bunny_0_30.webm"),
        data_str("video/lhotse-big_buck_bunny_small.mp4"),
    ];
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let r = run(&args, dir.path(), &["--asr-model", "tiny.en"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No speech and, with the default confidence threshold, no OCR noise from the pictures:
    // only the real credits of Big Buck Bunny (at 20.75-23 s) are text. The two videos with
    // no words at all are left out as empty (`--min-words 1`), recorded in dropped/.
    let docs = documents(dir.path());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert!(d["speech"].as_array().unwrap().is_empty(), "{d}");
    assert!(d["language"].is_null());
    assert_eq!(
        d["text"],
        "<screen>\nTHE PEACH OPEN MOVIE PROJECT\nPRESENTS\n</screen>"
    );
    let dropped = dropped_records(dir.path());
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    for name in ["moviepy-chaplin.mp4", "lhotse-big_buck_bunny_small.mp4"] {
        let r = dropped
            .iter()
            .find(|r| r["uri"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not dropped: {dropped:?}"));
        assert_eq!(
            (&r["reason"], &r["words"]),
            (&"too_short".into(), &0.into()),
            "{r}"
        );
    }
    // With --min-words 0 the empty documents are committed, with no speech.
    let all = dir.path().join("all");
    let r = run(&args, &all, &["--asr-model", "tiny.en", "--min-words", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&all);
    assert_eq!(docs.len(), 3);
    for d in &docs {
        assert!(
            d["speech"].as_array().unwrap().is_empty(),
            "{}",
            d["source"]
        );
    }
    assert_eq!(doc(&docs, "moviepy-chaplin.mp4")["text"], "");
    // The 6-channel AAC of the small Big Buck Bunny decodes.
    assert_eq!(
        doc(&docs, "lhotse-big_buck_bunny_small.mp4")["stats"]["audio"]["channels"],
        6
    );
}

#[test]
fn chinese_with_multilingual_base() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[&data_str("speech/zh/sr-chinese.flac")],
        dir.path(),
        &["--asr-model", "base"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = &documents(dir.path())[0];
    assert_eq!(d["language"], "zh", "{d}");
    let text = d["text"].as_str().unwrap();
    assert!(
        text.chars()
            .filter(|&c| vid2text_core::text::is_cjk(c))
            .count()
            >= 3,
        "{text}"
    );
    // Reference 砸自己的脚: at least 自己的脚 must be there, in simplified or traditional
    // characters (Whisper writes Mandarin in either; this CPU's numerics give 腳).
    assert!(
        text.contains("自己的脚") || text.contains("自己的腳"),
        "{text}"
    );
    assert!(d["stats"]["language_probability"].as_f64().unwrap() > 0.5);
}

/// One window at a time, and batches of up to 8 run on two model replicas at once (each
/// single-threaded in both runs), give the same documents: greedy, and at beam 5 with the
/// temperature fallback on (the defaults).
#[test]
fn batching_does_not_change_results() {
    let inputs = [
        data_str("speech/en/jfk/jfk.flac"),
        data_str("speech/en/librivox-pocketsphinx"),
        data_str("video/autoeditor-example.mp4"),
    ];
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    for beam in ["1", "5"] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // Packing depends on the order inputs are ready (see packing.rs); batching must not.
        let common = [
            "--no-pack-inputs",
            "--asr-model",
            "tiny.en",
            "--beam-size",
            beam,
            "--decode-workers",
            "1",
            "--threads",
            "2",
            "--replicas",
            "2",
        ];
        let one = run(
            &args,
            a.path(),
            &[&common[..], &["--batch-size", "1"]].concat(),
        );
        let many = run(
            &args,
            b.path(),
            &[&common[..], &["--batch-size", "8"]].concat(),
        );
        assert_eq!((one.code, many.code), (0, 0));
        let key = |docs: Vec<serde_json::Value>| {
            let mut v: Vec<(String, serde_json::Value)> = docs
                .into_iter()
                .map(|d| {
                    (
                        d["source"].as_str().unwrap().to_string(),
                        d["speech"].clone(),
                    )
                })
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        let (x, y) = (key(documents(a.path())), key(documents(b.path())));
        assert_eq!(x.len(), 7, "beam {beam}: every input is a document");
        assert_eq!(
            x.iter().map(|d| &d.0).collect::<Vec<_>>(),
            y.iter().map(|d| &d.0).collect::<Vec<_>>(),
            "beam {beam}: the same documents"
        );
        for (p, q) in x.iter().zip(&y) {
            assert!(
                !p.1.as_array().unwrap().is_empty(),
                "beam {beam}: {} has speech",
                p.0
            );
            assert_eq!(p, q, "beam {beam}: batched result differs for {}", p.0);
        }
    }
}

#[test]
fn conditioning_on_previous_text_still_transcribes() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[
            &data_str("video/autoeditor-example.mp4"),
            &data_str("speech/en/jfk/jfk.flac"),
        ],
        dir.path(),
        &[
            "--asr-model",
            "tiny.en",
            "--condition-on-previous-text",
            "--batch-size",
            "2",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(dir.path());
    assert!(normalize(doc(&docs, "jfk.flac")["text"].as_str().unwrap())
        .contains("ask not what your country"));
    assert!(normalize(
        doc(&docs, "autoeditor-example.mp4")["text"]
            .as_str()
            .unwrap()
    )
    .contains("example video"));
}

#[test]
fn speech_after_a_pause_in_the_same_window_is_not_skipped() {
    // JFK, a 1.6 s pause, then another speaker: one window (pauses up to 3 s stay inside).
    // Whisper tends to end the window after JFK, predicting no more speech; VAD knows better.
    let tmp = tempfile::tempdir().unwrap();
    let joined = tmp.path().join("joined.wav");
    ffmpeg(&[
        "-i",
        &data_str("speech/en/jfk/jfk.flac"),
        "-f",
        "lavfi",
        "-t",
        "1.6",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-i",
        &data_str("speech/en/librivox-pocketsphinx/ss01-0930.wav"),
        "-filter_complex",
        "[0:a]aresample=16000,aformat=channel_layouts=mono[a];[2:a]aformat=channel_layouts=mono[c];[a][1:a][c]concat=n=3:v=0:a=1[o]",
        "-map",
        "[o]",
        joined.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let d = &run_one(
        joined.to_str().unwrap(),
        &out,
        &["--asr-model", "tiny.en", "--beam-size", "1"],
    );
    assert_eq!(d["stats"]["asr_windows"], 1, "one window: {d}");
    let text = normalize(d["text"].as_str().unwrap());
    assert!(text.contains("your country"), "{text}");
    assert!(text.contains("made amiable himself"), "{text}");
    let last = d["speech"].as_array().unwrap().last().unwrap();
    assert!(last["start"].as_f64().unwrap() > 10.0, "{last}");
}

/// Whisper base writes this clip in Traditional characters on this CPU; documents carry one
/// script: Simplified by default, Traditional on request.
#[test]
fn mandarin_comes_out_in_simplified_by_default() {
    let clip = data_str("speech/zh/paddlespeech-zh.wav");
    let text = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &[&clip],
            dir.path(),
            &[&["--asr-model", "base"][..], extra].concat(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        documents(dir.path())[0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // 我认为跑步最重要的就是给我带来了身体健康
    let simplified = text(&[]);
    assert!(simplified.contains("身体"), "{simplified}");
    assert!(
        !simplified.chars().any(|c| "認為給帶來體".contains(c)),
        "Traditional characters left: {simplified}"
    );
    let traditional = text(&["--chinese-script", "traditional"]);
    assert!(traditional.contains("身體"), "{traditional}");
    assert!(!traditional.contains("身体"), "{traditional}");
}

/// Two replicas decoding at once, with the process started as a user starts it and not
/// re-executed for huge pages: the engine must come up with the backend vid2text chooses before
/// the library loads (`CT2_USE_MKL=0`). On an Intel Xeon the wheel's MKL, CTranslate2's own
/// choice there, died of SIGFPE in its first int8 GEMMs this way.
#[test]
fn two_replicas_run_on_the_backend_chosen_before_the_engine_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vid2text"))
        .args(["run", "-q", &data_str("speech/en/jfk/jfk.flac"), "-o"])
        .arg(dir.path())
        .args([
            "--asr-model",
            "tiny.en",
            "--threads",
            "2",
            "--replicas",
            "2",
        ])
        .env_remove("CT2_USE_MKL")
        .env("VID2TEXT_HUGEPAGES", "0")
        .output()
        .expect("run vid2text");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{:?}: {stderr}", out.status);
    let docs = documents(dir.path());
    assert_eq!(docs.len(), 1);
    let text = normalize(docs[0]["text"].as_str().unwrap());
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
}
