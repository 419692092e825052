//! What is written in the video: PP-OCR of keyframes and embedded subtitle streams.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{data, data_str, doc, documents, ffmpeg, run, run_one, spans};

fn image_size(path: &str) -> (u32, u32) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0", path])
        .output()
        .expect("ffprobe");
    let dims = String::from_utf8(out.stdout).unwrap();
    let mut it = dims.trim().split(',').map(|v| v.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn screen_texts(d: &Value) -> Vec<(f64, f64, String)> {
    spans(d, "screen_text")
}

/// Lower case, no spaces, full-width forms as ASCII (`：` is `:`): what a reader would not
/// tell apart.
fn squash(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The RapidOCR test images, each shown as a 3-second still (transparent ones laid over the
/// background their text needs): their expected first lines are read, once per still.
#[test]
fn rapidocr_images_as_video_stills() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = std::fs::read_to_string(data("ocr/rapidocr/expected.tsv")).unwrap();
    let mut cases = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[1]);
        let background = if file.starts_with("white") {
            "black"
        } else {
            "white"
        };
        let video = dir.path().join(format!("{file}.mp4"));
        let img = data_str(&format!("ocr/rapidocr/{file}"));
        let (w, h) = image_size(&img);
        let size = format!("{}x{}", w.div_ceil(2) * 2, h.div_ceil(2) * 2);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("color={background}:s={size}:d=3:r=25"),
            "-loop",
            "1",
            "-i",
            &img,
            "-filter_complex",
            "[0][1]overlay=shortest=1:format=auto,format=yuv420p",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            video.to_str().unwrap(),
        ]);
        cases.push((file.to_string(), expected.to_string(), video));
    }
    let out = dir.path().join("out");
    let inputs: Vec<String> = cases.iter().map(|c| c.2.display().to_string()).collect();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let r = run(&inputs, &out, &["--asr-model", "tiny.en"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), cases.len());
    for (file, expected, _) in &cases {
        let d = doc(&docs, &format!("{file}.mp4"));
        let spans = screen_texts(d);
        let read: String = spans
            .iter()
            .map(|s| s.2.as_str())
            .collect::<Vec<_>>()
            .join("");
        // What RapidOCR's own tests assert of these two: the first line, exactly (in reading
        // order: the spans of one keyframe keep it).
        let first = spans.first().map(|s| s.2.as_str());
        let want = match file.as_str() {
            "return_word_debug.jpg" => "3F1",
            "en.jpg" => {
                assert_eq!(first, Some("3"), "{file}: {spans:?}");
                "MovieShots"
            }
            "ch_en_num.jpg" => {
                assert_eq!(first, Some("正品促销"), "{file}: {spans:?}");
                assert!(spans.len() >= 12, "{file}: {spans:?}");
                "大桶装更划算"
            }
            _ => expected.as_str(),
        };
        assert!(
            squash(&read).contains(&squash(want)),
            "{file}: want {want:?}, read {spans:?}"
        );
        // A still is read once, however many keyframes it gives, and each line is one span.
        assert!(
            d["stats"]["keyframes"].as_u64().unwrap() >= 3,
            "{file}: {}",
            d["stats"]
        );
        assert_eq!(d["stats"]["ocr_frames"], 1, "{file}: {}", d["stats"]);
        for (start, end, text) in &spans {
            assert!(*start < 0.1 && *end > 2.9, "{file}: {text} {start}-{end}");
        }
        assert!(d["text"].as_str().unwrap().starts_with("<screen>\n"));
        assert_eq!(d["pipeline"]["ocr_model"], "PP-OCRv4");
    }
}

/// A video's first reads try a smaller detector input, and keep it only where one shows a
/// caption-like line. Two pictures of small print (RapidOCR's `return_word_debug.jpg`, then
/// `en.jpg`, 2 s each) show none: both are read again at full size, the first once the second
/// has decided, and the first picture's lines are what RapidOCR's own test asserts (at the
/// smaller size, "3F1" is lost in the line beside it).
#[test]
fn small_print_on_the_first_pictures_is_read_at_full_size() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("small-print.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=white:s=500x286:d=4:r=25",
        "-i",
        &data_str("ocr/rapidocr/return_word_debug.jpg"),
        "-i",
        &data_str("ocr/rapidocr/en.jpg"),
        "-filter_complex",
        "[0][1]overlay=0:0:enable='lt(t,2)'[a];[a][2]overlay=0:0:enable='gte(t,2)',format=yuv420p",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        video.to_str().unwrap(),
    ]);
    let out = dir.path().join("out");
    let d = run_one(video.to_str().unwrap(), &out, &["--asr-model", "tiny.en"]);
    let spans = screen_texts(&d);
    let first: Vec<&str> = spans
        .iter()
        .filter(|s| s.0 < 1.0)
        .map(|s| s.2.as_str())
        .collect();
    assert_eq!(first.first(), Some(&"3F1"), "{spans:?}");
    assert!(first.contains(&"027-88852022"), "{spans:?}");
    let second: String = spans
        .iter()
        .filter(|s| s.0 >= 1.5)
        .map(|s| squash(&s.2))
        .collect();
    assert!(second.contains("movieshots"), "{spans:?}");
    assert!(
        d["captions"].as_array().is_none_or(|c| c.is_empty()),
        "{}",
        d["captions"]
    );
}

/// The test card's caption is one span for the whole 16 s, not one per frame, although its
/// running timecode makes every keyframe different (scene detection alone picks none).
#[test]
fn testcard_caption_is_one_span() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let card = data_str("video/moviepy-testcard-example.mp4");
    let r = run(&[&card], &out, &["--asr-model", "tiny.en"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    let d = doc(&docs, "moviepy-testcard-example.mp4");
    let caption = "1024 x 768 25 fps Photo JPEG 75%";
    let spans = screen_texts(d);
    let hits: Vec<_> = spans.iter().filter(|s| s.2 == caption).collect();
    assert_eq!(hits.len(), 1, "{spans:?}");
    assert!(hits[0].0 < 0.5 && hits[0].1 > 15.0, "{hits:?}");
    assert!(d["stats"]["keyframes"].as_u64().unwrap() >= 15);
    // Every keyframe differs (the timecode runs) but nothing new is read after the first: OCR
    // backs off instead of reading all 16.
    assert!(
        d["stats"]["ocr_frames"].as_u64().unwrap() <= 9,
        "{}",
        d["stats"]
    );
    let text = d["text"].as_str().unwrap();
    assert_eq!(text.matches(caption).count(), 1, "{text}");
    // `--no-ocr` reads nothing on screen; `--text-format speech` keeps it out of `text`.
    let out2 = dir.path().join("out2");
    // --min-words 0: with nothing read, the document is empty (and would be left out).
    let empty = ["--asr-model", "tiny.en", "--min-words", "0"];
    assert_eq!(
        run(&[&card], &out2, &[&empty[..], &["--no-ocr"]].concat()).code,
        0
    );
    let d2 = &documents(&out2)[0];
    assert!(d2["screen_text"].as_array().unwrap().is_empty());
    assert_eq!(d2["stats"]["keyframes"], 0);
    let out3 = dir.path().join("out3");
    let r3 = run(
        &[&card],
        &out3,
        &[&empty[..], &["--text-format", "speech"]].concat(),
    );
    assert_eq!(r3.code, 0);
    let d3 = &documents(&out3)[0];
    assert_eq!(d3["text"], "");
    assert_eq!(
        screen_texts(d3).iter().filter(|s| s.2 == caption).count(),
        1
    );
}

/// mov_text subtitles become `subtitles` cues with their times, and are in `text`.
#[test]
fn mov_text_subtitles_with_their_times() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = data_str("video/autoeditor-mov_text.mp4");
    let d = &run_one(&input, &out, &["--asr-model", "tiny.en", "--no-ocr"]);
    let cues: Vec<(f64, f64, &str)> = d["subtitles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["start"].as_f64().unwrap(),
                c["end"].as_f64().unwrap(),
                c["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(cues.len(), 2, "{cues:?}");
    assert_eq!(cues[0].2, "oop");
    assert_eq!(cues[1].2, "boop");
    for ((start, end, _), (ws, we)) in cues.iter().zip([(0.523, 1.016), (1.523, 1.916)]) {
        assert!(
            (start - ws).abs() < 0.1 && (end - we).abs() < 0.1,
            "{cues:?}"
        );
    }
    assert_eq!(d["text"], "<subtitle>\noop\nboop\n</subtitle>");
}

/// A talk: four slides drawn by FFmpeg, changing every 10 s, with synthesised speech under them.
/// Every slide's text is found once, in order, starting within 2 s of when it appeared, and the
/// speech is there too.
#[test]
fn generated_talk_slides_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slides = [
        ("Vectors and matrices", "Lecture 1"),
        ("Gradient descent", "Step size matters"),
        ("Backpropagation", "Chain rule in practice"),
        ("Attention layers", "Queries keys and values"),
    ];
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    assert!(
        Path::new(font).exists(),
        "fonts-dejavu-core (scripts/setup.sh installs it)"
    );
    let mut filters = Vec::new();
    for (i, (title, sub)) in slides.iter().enumerate() {
        let (a, b) = (i * 10, i * 10 + 10);
        for (text, y, size) in [(title, 180, 56), (sub, 300, 40)] {
            filters.push(format!(
                "drawtext=fontfile={font}:text='{text}':x=(w-text_w)/2:y={y}:fontsize={size}:\
                 fontcolor=black:enable='gte(t,{a})*lt(t,{b})'"
            ));
        }
    }
    let speech = d.join("speech.wav");
    let st = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "140", "-w", speech.to_str().unwrap()])
        .arg("Welcome to the course. Today we look at how neural networks learn from data.")
        .status()
        .expect("espeak-ng (scripts/setup.sh installs it)");
    assert!(st.success());
    let video = d.join("talk.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=white:s=1280x720:r=25:d=40",
        "-i",
        speech.to_str().unwrap(),
        "-filter_complex",
        &format!("[0]{}[v];[1]adelay=3000|3000,apad[a]", filters.join(",")),
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-t",
        "40",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        video.to_str().unwrap(),
    ]);
    let out = d.join("out");
    let doc = &run_one(video.to_str().unwrap(), &out, &["--asr-model", "tiny.en"]);
    let spans = screen_texts(doc);
    let mut last_start = -1.0;
    for (i, (title, sub)) in slides.iter().enumerate() {
        for want in [title, sub] {
            let hits: Vec<_> = spans
                .iter()
                .filter(|s| squash(&s.2) == squash(want))
                .collect();
            assert_eq!(hits.len(), 1, "{want}: {spans:?}");
            let (start, end, _) = hits[0];
            let truth = (i * 10) as f64;
            assert!(
                (start - truth).abs() <= 2.0,
                "{want} starts at {start}, shown at {truth}"
            );
            assert!((end - (truth + 10.0)).abs() <= 2.0, "{want} ends at {end}");
            assert!(*start >= last_start, "{want} out of order: {spans:?}");
        }
        last_start = (i * 10) as f64 - 2.0;
    }
    // Four slides: a few OCR passes, not one per keyframe.
    let stats = &doc["stats"];
    assert!(stats["ocr_frames"].as_u64().unwrap() <= 8, "{stats}");
    assert!(stats["keyframes"].as_u64().unwrap() >= 38, "{stats}");
    let text = doc["text"].as_str().unwrap();
    let lower = text.to_lowercase();
    for w in ["welcome", "neural networks", "data"] {
        assert!(lower.contains(w), "{w} not in {text}");
    }
    // Screen blocks and speech in time order: slide 1, the speech (from 3 s), slide 2...
    let first = text.find("Vectors and matrices").unwrap();
    let spoken = lower.find("welcome").unwrap();
    let second = text.find("Gradient descent").unwrap();
    assert!(first < spoken && spoken < second, "{text}");
}

/// SubRip and ASS streams in Matroska: both read, markup removed, each cue with its stream and
/// language, in time order across streams.
#[test]
fn srt_and_ass_streams_with_languages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let srt = d.join("en.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:01,500\n<i>Hello</i> there\n\n2\n00:00:03,000 --> 00:00:04,000\nSecond line\n",
    )
    .unwrap();
    let srt_de = d.join("de.srt");
    std::fs::write(
        &srt_de,
        "1\n00:00:02,000 --> 00:00:02,800\n{\\an8}Guten Tag\n",
    )
    .unwrap();
    let video = d.join("subs.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=gray:s=160x120:r=5:d=5",
        "-i",
        srt.to_str().unwrap(),
        "-i",
        srt_de.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "1",
        "-map",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:s:0",
        "srt",
        "-c:s:1",
        "ass",
        "-metadata:s:s:0",
        "language=eng",
        "-metadata:s:s:1",
        "language=ger",
        video.to_str().unwrap(),
    ]);
    let out = d.join("out");
    let doc = &run_one(video.to_str().unwrap(), &out, &["--asr-model", "tiny.en"]);
    let cues: Vec<(f64, &str, u64, &str)> = doc["subtitles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["start"].as_f64().unwrap(),
                c["text"].as_str().unwrap(),
                c["stream"].as_u64().unwrap(),
                c["language"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cues,
        vec![
            (0.5, "Hello there", 1, "eng"),
            (2.0, "Guten Tag", 2, "ger"),
            (3.0, "Second line", 1, "eng"),
        ]
    );
    assert_eq!(
        doc["text"],
        "<subtitle>\nHello there\nGuten Tag\nSecond line\n</subtitle>"
    );
}
