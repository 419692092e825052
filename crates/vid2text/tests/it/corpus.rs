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
    let r = run(
        &[&music, &looped, &jfk],
        &out,
        &["--asr-model", "tiny.en", "--no-ocr"],
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
