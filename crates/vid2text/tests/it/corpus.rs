//! What a training corpus leaves out, and that it never leaves out real speech: Whisper's stock
//! phrases and loops, screen text that is not language, personal data.

use serde_json::Value;

use crate::util::*;

/// The reasons of the model-free filters (README, "What is left out").
const FILTERS: [&str; 3] = ["stock_phrase", "repetition", "speaking_rate"];

fn filtered(d: &Value) -> u64 {
    FILTERS
        .iter()
        .map(|r| d["stats"]["dropped"][*r].as_u64().unwrap_or(0))
        .sum()
}

/// Every real recording keeps every segment: English with tiny.en, Mandarin with base.
#[test]
fn real_speech_survives_the_filters() {
    let tmp = tempfile::tempdir().unwrap();
    for (dir, model) in [("speech/en", "tiny.en"), ("speech/zh", "base")] {
        let out = tmp.path().join(model);
        let r = run(&[&data_str(dir)], &out, &["--asr-model", model, "--no-ocr"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let docs = documents(&out);
        assert!(docs.len() >= 5, "{dir}: {} documents", docs.len());
        for d in &docs {
            assert_eq!(filtered(d), 0, "{}: {}", d["source"], d["stats"]);
            assert!(
                !d["speech"].as_array().unwrap().is_empty(),
                "{}",
                d["source"]
            );
        }
    }
}

#[test]
fn stock_phrases_on_music_and_loops_are_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let say = |name: &str, text: &str| {
        let p = dir.join(name).display().to_string();
        let ok = std::process::Command::new("espeak-ng")
            .args(["-w", &p, text])
            .status()
            .unwrap()
            .success();
        assert!(ok, "espeak-ng");
        p
    };
    let thanks = say("thanks.wav", "Thanks for watching!");
    // "Thanks for watching" over the music of a silent film, 4 s in.
    let music = dir.join("music.mp4").display().to_string();
    ffmpeg(&[
        "-i",
        &data_str("video/moviepy-chaplin.mp4"),
        "-i",
        &thanks,
        "-filter_complex",
        "[0:a]atrim=0:8,volume=0.3,aresample=16000[m];[1:a]adelay=4000:all=1,aresample=16000[s];\
         [m][s]amix=inputs=2:duration=first[a]",
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-t",
        "8",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &music,
    ]);
    // One sentence said over and over, as tiny.en writes on Mandarin speech.
    let looped = say("loop.wav", &"It's a wonderful day. ".repeat(5));
    // And real speech beside them, which stays.
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let out = dir.join("out");
    // --min-words 0: the two are empty once filtered, and are kept to show their counts.
    let r = run(
        &[&music, &looped, &jfk],
        &out,
        &["--asr-model", "tiny.en", "--no-ocr", "--min-words", "0"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    let m = doc(&docs, "music.mp4");
    assert!(
        !m["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("watching"),
        "{m}"
    );
    assert!(
        m["stats"]["dropped"]["stock_phrase"].as_u64() >= Some(1),
        "{}",
        m["stats"]
    );
    let l = doc(&docs, "loop.wav");
    assert!(!l["text"].as_str().unwrap().contains("wonderful"), "{l}");
    assert!(
        l["stats"]["dropped"]["repetition"].as_u64() >= Some(1),
        "{}",
        l["stats"]
    );
    let j = doc(&docs, "jfk.flac");
    assert!(j["text"].as_str().unwrap().contains("your country"), "{j}");
    assert_eq!(filtered(j), 0);
    // The quality signals: confident speech over most of the clip, at a speaking pace.
    let q = &j["stats"];
    assert!(q["asr_mean_logprob"].as_f64().unwrap() > -0.6, "{q}");
    assert!(q["speech_ratio"].as_f64().unwrap() > 0.8, "{q}");
    let wpm = q["words_per_minute"].as_f64().unwrap();
    assert!((90.0..200.0).contains(&wpm), "{q}");
    // Nothing of the other inputs' speech landed on the music clip.
    assert!(m["stats"].get("words_per_minute").is_none(), "{m}");
}

/// The test card's running timecode is screen text but not language: in `screen_text`, out of
/// `text`, counted; its caption line is in both.
#[test]
fn a_running_timecode_stays_out_of_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let card = data_str("video/moviepy-testcard-example.mp4");
    let d = run_one(&card, &out, &["--asr-model", "tiny.en"]);
    let screen: Vec<String> = spans(&d, "screen_text").into_iter().map(|s| s.2).collect();
    let timecode = screen
        .iter()
        .find(|t| t.starts_with("00:00:0"))
        .unwrap_or_else(|| panic!("no timecode read: {screen:?}"));
    let text = d["text"].as_str().unwrap();
    assert!(!text.contains(timecode.as_str()), "{text}");
    assert!(text.contains("1024 x 768 25 fps Photo JPEG 75%"), "{text}");
    assert!(d["stats"]["dropped"]["screen_not_language"].as_u64() >= Some(1));
}

/// An e-mail address and a phone number on screen become placeholders, counted; `--keep-pii`
/// keeps them.
#[test]
fn personal_data_on_screen_becomes_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("contact.mp4").display().to_string();
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let draw = |text: &str, y: u32| {
        format!("drawtext=fontfile={font}:text='{text}':x=60:y={y}:fontsize=44:fontcolor=black")
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:size=1280x720:rate=10:duration=4",
        "-vf",
        &format!(
            "{},{},{}",
            draw("Contact us", 120),
            draw("Email jane.doe@example.com", 260),
            draw("Phone 555-123-4567", 400)
        ),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &video,
    ]);
    let out = tmp.path().join("out");
    let d = run_one(&video, &out, &["--asr-model", "tiny.en"]);
    let text = d["text"].as_str().unwrap();
    assert!(
        text.contains("<EMAIL>") && text.contains("<PHONE>"),
        "{text}"
    );
    assert!(
        !text.contains("jane.doe") && !text.contains("4567"),
        "{text}"
    );
    assert!(text.contains("Contact us"), "{text}");
    assert_eq!(d["stats"]["pii"]["email"], 1, "{}", d["stats"]);
    assert_eq!(d["stats"]["pii"]["phone"], 1, "{}", d["stats"]);
    let kept = run_one(
        &video,
        &tmp.path().join("kept"),
        &["--asr-model", "tiny.en", "--keep-pii"],
    );
    let text = kept["text"].as_str().unwrap();
    assert!(
        text.contains("jane.doe@example.com") && text.contains("555-123-4567"),
        "{text}"
    );
    assert!(kept["stats"].get("pii").is_none());
}

/// The same video under two names is one document and one recorded duplicate; re-encoded
/// copies (other size, bitrate, container) are near duplicates, in the same run and in a later
/// one; each names the document it repeats, and no rerun does them again.
#[test]
fn one_document_per_distinct_video_in_a_run_and_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let original = data_str("video/autoeditor-example.mp4");
    let copy = dir.join("copy.mp4").display().to_string();
    std::fs::copy(&original, &copy).unwrap();
    let small = dir.join("small.mp4").display().to_string();
    ffmpeg(&[
        "-i",
        &original,
        "-vf",
        "scale=640:360",
        "-b:v",
        "300k",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-b:a",
        "48k",
        "-ar",
        "22050",
        &small,
    ]);
    let out = dir.join("out");
    let extra = ["--asr-model", "tiny.en", "--no-ocr", "--json"];
    let r = run(&[&original, &copy, &small], &out, &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        (&summary["documents"], &summary["dropped"]),
        (&1.into(), &2.into()),
        "{summary}"
    );
    let docs = documents(&out);
    assert_eq!(docs.len(), 1);
    let kept = docs[0]["source"].as_str().unwrap().to_string();
    let dropped = dropped_records(&out);
    let reasons: Vec<&str> = dropped
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"near_duplicate"), "{dropped:?}");
    for d in &dropped {
        assert_eq!(d["duplicate_of"], kept.as_str(), "{d}");
        assert!(d["similarity"].as_f64().unwrap() >= 0.7, "{d}");
    }
    // Same bytes: whichever of the two came second is a duplicate (unless the re-encoding was
    // kept, then both are near duplicates or a duplicate of one).
    if kept != small {
        assert!(reasons.contains(&"duplicate"), "{dropped:?}");
    }

    // A later run: another container and codec, at 8 kHz.
    let webm = dir.join("other.webm").display().to_string();
    ffmpeg(&[
        "-i",
        &original,
        "-vf",
        "scale=320:180",
        "-c:v",
        "libvpx",
        "-b:v",
        "200k",
        "-deadline",
        "realtime",
        "-c:a",
        "libopus",
        "-b:a",
        "24k",
        &webm,
    ]);
    let r = run(&[&original, &copy, &small, &webm], &out, &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(summary["skipped"], 3, "{summary}");
    assert_eq!(
        (&summary["documents"], &summary["dropped"]),
        (&0.into(), &1.into()),
        "{summary}"
    );
    let later = dropped_records(&out);
    let w = later
        .iter()
        .find(|d| d["uri"] == webm.as_str())
        .expect("the webm is dropped");
    assert_eq!(w["reason"], "near_duplicate", "{w}");
    assert_eq!(w["duplicate_of"], kept.as_str(), "{w}");
    assert_eq!(documents(&out).len(), 1);
    // `vid2text stats` accounts for every input.
    let st = vid2text(&["stats", &out.display().to_string(), "--json"]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    let st: Value = serde_json::from_str(st.stdout.trim()).unwrap();
    assert_eq!(st["documents"], 1);
    let left_out = &st["dropped_inputs"];
    let n = |k: &str| left_out[k].as_u64().unwrap_or(0);
    assert_eq!(n("duplicate") + n("near_duplicate"), 3, "{st}");
    assert!(n("near_duplicate") >= 2, "{st}");
    assert_eq!(st["languages"]["en"]["documents"], 1, "{st}");
    assert!(st["text"]["words"].as_u64().unwrap() > 40, "{st}");
    // --no-dedup commits every copy.
    let all = dir.join("all");
    let r = run(
        &[&original, &copy, &small],
        &all,
        &[&extra[..], &["--no-dedup"]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(documents(&all).len(), 3);
}

/// `--languages` keeps documents in those languages; the others are recorded as dropped, with
/// their language. `--min-speech-s` leaves out documents with less speech.
#[test]
fn language_and_length_filters_record_what_they_leave_out() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let zh = data_str("speech/zh/paddlespeech-zh.wav"); // 4.8 s of speech
    let en = data_str("speech/en/jfk/jfk.flac");
    let short = data_str("speech/en/misc/sr-english.wav"); // 2.7 s
    let r = run(
        &[&zh, &en, &short],
        &out,
        &[
            "--asr-model",
            "base",
            "--no-ocr",
            "--languages",
            "zh,en",
            "--min-speech-s",
            "4",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), 2, "{docs:?}");
    let dropped = dropped_records(&out);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["reason"], "too_short");
    assert!(dropped[0]["uri"]
        .as_str()
        .unwrap()
        .ends_with("sr-english.wav"));
    let out2 = tmp.path().join("zh");
    let r = run(
        &[&zh, &en],
        &out2,
        &["--asr-model", "base", "--no-ocr", "--languages", "zh"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out2);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["language"], "zh");
    let dropped = dropped_records(&out2);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(
        (&dropped[0]["reason"], &dropped[0]["language"]),
        (&"language".into(), &"en".into())
    );
    let bad = run(&[&en], &tmp.path().join("bad"), &["--languages", "zh;en"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--languages"), "{}", bad.stderr);
}

/// Equal as JSON, numbers compared as numbers (Parquet has no integer/float distinction in
/// JSON form) and an absent field equal to null.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9
        }
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).all(|k| {
            same(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
            )
        }),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Null) | (Value::Null, Value::Object(x)) => x.is_empty(),
        (Value::Array(x), Value::Null) | (Value::Null, Value::Array(x)) => x.is_empty(),
        _ => a == b,
    }
}

/// `--format parquet` commits Parquet parts whose rows, read with the `parquet` crate, equal the
/// JSONL documents of the same inputs field by field; every reader of OUT takes them.
#[test]
fn parquet_parts_hold_the_same_documents() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let tmp = tempfile::tempdir().unwrap();
    let inputs = [
        data_str("speech/en/jfk/jfk.flac"),
        data_str("video/moviepy-testcard-example.mp4"),
    ];
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let (jsonl, pq) = (tmp.path().join("jsonl"), tmp.path().join("parquet"));
    assert_eq!(run(&args, &jsonl, &["--asr-model", "tiny.en"]).code, 0);
    let r = run(
        &args,
        &pq,
        &["--asr-model", "tiny.en", "--format", "parquet"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let parts: Vec<_> = std::fs::read_dir(pq.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !parts.is_empty() && parts.iter().all(|p| p.extension().unwrap() == "parquet"),
        "{parts:?}"
    );
    let mut rows = Vec::new();
    for p in &parts {
        let reader = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let mut v = row.unwrap().to_json_value();
            if let Some(meta) = v["meta"].as_str().map(str::to_string) {
                v["meta"] = serde_json::from_str(&meta).unwrap();
            }
            rows.push(v);
        }
    }
    let docs = documents(&jsonl);
    assert_eq!(rows.len(), docs.len());
    for d in &docs {
        let row = rows
            .iter()
            .find(|r| r["source"] == d["source"])
            .unwrap_or_else(|| panic!("no row for {}", d["source"]));
        for (field, value) in d.as_object().unwrap() {
            assert!(
                same(value, &row[field]),
                "{field}: {value} vs {}",
                row[field]
            );
        }
    }
    // The readers of OUT: cat gives the same documents, a rerun skips them, stats counts them.
    assert_eq!(documents(&pq).len(), 2);
    let again = run(
        &args,
        &pq,
        &["--asr-model", "tiny.en", "--format", "parquet", "--json"],
    );
    let summary: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(summary["skipped"], 2, "{summary}");
    let st = vid2text(&["stats", &pq.display().to_string(), "--json"]);
    let st: Value = serde_json::from_str(st.stdout.trim()).unwrap();
    assert_eq!(st["documents"], 2);
}

/// Silent and tone-only videos have no words: nothing Whisper might say on them reaches a
/// document, and each is recorded as left out (`too_short`, 0 words).
#[test]
fn silent_and_tone_only_videos_give_no_words() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, audio: &str| {
        let p = tmp.path().join(name).display().to_string();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:size=320x240:rate=10:duration=12",
            "-f",
            "lavfi",
            "-i",
            audio,
            "-t",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            &p,
        ]);
        p
    };
    let silent = make("silent.mp4", "anullsrc=r=16000:cl=mono");
    let tone = make("tone.mp4", "sine=frequency=440:sample_rate=16000");
    let beeps = make(
        "beeps.mp4",
        "sine=frequency=1000:sample_rate=16000,volume='if(lt(mod(t,1),0.3),1,0)':eval=frame",
    );
    let out = tmp.path().join("out");
    let r = run(
        &[&silent, &tone, &beeps],
        &out,
        &["--asr-model", "tiny.en", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(documents(&out).is_empty(), "{:?}", documents(&out));
    let dropped = dropped_records(&out);
    assert_eq!(dropped.len(), 3, "{dropped:?}");
    for d in &dropped {
        assert_eq!(
            (&d["reason"], &d["words"]),
            (&"too_short".into(), &0.into()),
            "{d}"
        );
    }
}
