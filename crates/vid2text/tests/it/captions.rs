//! Burnt-in captions: real speech with its known transcript burnt into a moving picture by
//! FFmpeg's `subtitles` filter (libass), landscape and portrait, English and Mandarin; and the
//! real Chinese videos with hard subtitles from `../shared/data/video/zh`.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc";

/// A caption line burnt in from `start` to `end` seconds.
struct Line<'a>(f64, f64, &'a str);

/// A clip of speech placed at `at` seconds in the video.
struct Clip<'a>(&'a str, f64);

struct Picture {
    width: u32,
    height: u32,
    /// ASS font name and size, and the caption's distance from the bottom edge (pixels).
    font: &'static str,
    size: u32,
    margin_v: u32,
    /// Extra drawtext filters (a watermark).
    overlay: Option<String>,
}

impl Picture {
    /// White captions, centred `margin_v` pixels above the bottom edge.
    fn new(width: u32, height: u32, font: &'static str, size: u32, margin_v: u32) -> Self {
        Picture {
            width,
            height,
            font,
            size,
            margin_v,
            overlay: None,
        }
    }
}

fn ass_time(t: f64) -> String {
    let cs = (t * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

/// A video of `duration` s: Big Buck Bunny (moving, scaled and cropped to the picture), the
/// clips of speech at their times, the caption lines burnt in with libass.
fn captioned(
    dir: &Path,
    name: &str,
    pic: &Picture,
    clips: &[Clip],
    lines: &[Line],
    duration: f64,
) -> String {
    assert!(
        Path::new(DEJAVU).exists() && Path::new(WQY).exists(),
        "fonts-dejavu-core and fonts-wqy-zenhei (scripts/setup.sh installs them)"
    );
    let ass = dir.join(format!("{name}.ass"));
    let mut body = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
         Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
         Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Default,{font},{size},&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,3,0,2,20,20,{mv},1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        w = pic.width,
        h = pic.height,
        font = pic.font,
        size = pic.size,
        mv = pic.margin_v,
    );
    for Line(a, b, text) in lines {
        body += &format!(
            "Dialogue: 0,{},{},Default,,0,0,0,,{text}\n",
            ass_time(*a),
            ass_time(*b)
        );
    }
    std::fs::write(&ass, body).unwrap();
    let mut args: Vec<String> = vec![
        "-stream_loop".into(),
        "-1".into(),
        "-i".into(),
        data_str("video/moviepy-big_buck_bunny_0_30.webm"),
    ];
    let mut audio = Vec::new();
    for (i, Clip(path, at)) in clips.iter().enumerate() {
        args.extend(["-i".into(), data_str(path)]);
        let ms = (at * 1000.0) as u64;
        audio.push(format!(
            "[{}:a]aresample=16000,aformat=channel_layouts=mono,adelay={ms}|{ms}[a{i}]",
            i + 1
        ));
    }
    let mix: String = (0..clips.len()).map(|i| format!("[a{i}]")).collect();
    let (w, h) = (pic.width, pic.height);
    let mut video = format!(
        "[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},fps=25,\
         subtitles={}:fontsdir=/usr/share/fonts/truetype",
        ass.display()
    );
    if let Some(o) = &pic.overlay {
        video += &format!(",{o}");
    }
    let filter = format!(
        "{video}[v];{};{mix}amix=inputs={}:normalize=0,apad[a]",
        audio.join(";"),
        clips.len()
    );
    let out = dir.join(format!("{name}.mp4"));
    args.extend(
        [
            "-filter_complex",
            &filter,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-t",
            &format!("{duration}"),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "23",
            "-c:a",
            "aac",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
    out.display().to_string()
}

/// The text with its block tags taken out.
fn plain(text: &str) -> String {
    text.lines()
        .filter(|l| !(l.starts_with('<') && l.ends_with('>')))
        .collect::<Vec<_>>()
        .join("\n")
}

fn captions(d: &Value) -> Vec<(f64, f64, String, Option<String>)> {
    d["captions"]
        .as_array()
        .unwrap_or_else(|| panic!("no captions array in {d}"))
        .iter()
        .map(|c| {
            (
                c["start"].as_f64().unwrap(),
                c["end"].as_f64().unwrap(),
                c["text"].as_str().unwrap().to_string(),
                c["language"].as_str().map(String::from),
            )
        })
        .collect()
}

fn squash(s: &str) -> String {
    vid2text_core::text::normalize(s).replace(' ', "")
}

/// The caption spans read for a burnt line: those whose text matches it (normalised).
fn read_as<'c>(
    caps: &'c [(f64, f64, String, Option<String>)],
    line: &str,
) -> Vec<&'c (f64, f64, String, Option<String>)> {
    caps.iter()
        .filter(|c| vid2text_core::text::wer(line, &c.2) <= 0.2)
        .collect()
}

/// Each burnt line is one caption span, starting within 0.5 s of when it was shown, in `lang`.
fn each_line_read_once(caps: &[(f64, f64, String, Option<String>)], lines: &[Line], lang: &str) {
    for Line(start, _, text) in lines {
        let hits = read_as(caps, text);
        assert_eq!(hits.len(), 1, "{text}: {caps:?}");
        let at = hits[0].0;
        assert!(
            (at - start).abs() <= 0.5,
            "{text} starts at {at}, shown at {start}"
        );
        assert_eq!(hits[0].3.as_deref(), Some(lang), "{text}");
    }
}

/// English speech (JFK) captioned over a moving picture with a channel name in a corner and one
/// caption shown for only 0.7 s: every line is read once, within 0.5 s of its time; the text
/// says the speech once; the watermark is not in it.
#[test]
fn english_captions_are_read_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        Line(1.0, 3.8, "And so, my fellow Americans,"),
        Line(3.8, 8.4, "ask not what your country can do for you,"),
        Line(8.4, 12.2, "ask what you can do for your country."),
        Line(13.0, 13.7, "Blink and you miss it"),
        Line(14.5, 16.0, "Thank you for watching"),
    ];
    let pic = Picture {
        width: 1280,
        height: 720,
        font: "DejaVu Sans",
        size: 44,
        margin_v: 40,
        overlay: Some(format!(
            "drawtext=fontfile={DEJAVU}:text='@vid2text_channel':x=w-tw-24:y=20:fontsize=26:fontcolor=white"
        )),
    };
    let video = captioned(
        dir.path(),
        "jfk",
        &pic,
        &[Clip("speech/en/jfk/jfk.flac", 1.0)],
        &lines,
        17.0,
    );
    let d = run_one(&video, &dir.path().join("out"), &["--asr-model", "tiny.en"]);
    let caps = captions(&d);
    each_line_read_once(&caps, &lines, "en");
    let band = d["stats"]["caption_band"]
        .as_array()
        .expect("a caption band");
    assert!(band[0].as_f64().unwrap() > 0.75, "{band:?}");
    // The speech once: every word of the reference, in a text as long as the reference.
    let reference = std::fs::read_to_string(data("speech/en/jfk/jfk.txt")).unwrap();
    let text = d["text"].as_str().unwrap();
    let spoken: String = plain(text)
        .lines()
        .filter(|l| !l.contains("Blink") && !l.contains("Thank you"))
        .collect::<Vec<_>>()
        .join(" ");
    let wer = vid2text_core::text::wer(&reference, &spoken);
    assert!(wer <= 0.1, "WER {wer:.3}: {text}");
    assert_eq!(
        text.matches("ask not what your country").count(),
        1,
        "{text}"
    );
    assert!(
        d["stats"]["caption_agreement"].as_f64().unwrap() >= 0.8,
        "{}",
        d["stats"]
    );
    for seg in d["speech"].as_array().unwrap() {
        assert!(seg["caption_agreement"].as_f64().is_some(), "{seg}");
    }
    // Captions without speech stand apart, marked.
    assert!(text.contains("<caption>\nBlink and you miss it"), "{text}");
    // The channel name in the corner: a watermark, not text.
    assert!(!text.contains("vid2text_channel"), "{text}");
    let marks: Vec<&str> = d["watermarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap())
        .collect();
    assert!(
        marks.iter().any(|m| m.contains("vid2text_channel")),
        "{marks:?}"
    );
    // The caption band was read at caption rate, but not every crop went through OCR.
    let (frames, reads) = (
        d["stats"]["caption_frames"].as_u64().unwrap(),
        d["stats"]["caption_reads"].as_u64().unwrap(),
    );
    assert!(frames >= 80 && reads < frames, "{}", d["stats"]);
}

/// Captions that start late: the keyframes find the band at about 19 s, and the decode that
/// follows reads the band from the start and the keyframes after 19 s (those before are not
/// read or counted twice); every line is read once, at its time.
#[test]
fn captions_that_start_late_are_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        Line(16.0, 18.8, "And so, my fellow Americans,"),
        Line(18.8, 23.4, "ask not what your country can do for you,"),
        Line(23.4, 27.2, "ask what you can do for your country."),
    ];
    let pic = Picture::new(1280, 720, "DejaVu Sans", 44, 40);
    let clips = [Clip("speech/en/jfk/jfk.flac", 16.0)];
    let video = captioned(dir.path(), "late", &pic, &clips, &lines, 28.0);
    let out = dir.path().join("out");
    let r = run(&[&video], &out, &["--asr-model", "tiny.en", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = documents(&out).remove(0);
    let caps = captions(&d);
    each_line_read_once(&caps, &lines, "en");
    // The band was read from the start: 5 crops a second of the 28 s; each keyframe once.
    let frames = d["stats"]["caption_frames"].as_u64().unwrap();
    assert!(frames >= 135, "{}", d["stats"]);
    let keyframes = d["stats"]["keyframes"].as_u64().unwrap();
    assert!((28..=36).contains(&keyframes), "{}", d["stats"]);
    // The summary says where the visual time went: the detector ran once on each band crop
    // read and at least once on each keyframe read, the recognizer on every caption line at
    // least, all within the visual workers' time.
    let summary: Value = serde_json::from_str(&r.stdout).expect("a JSON summary");
    let stages = &summary["stages"];
    let count = |k: &str| {
        stages[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {stages}"))
    };
    let secs = |k: &str| {
        stages[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k}: {stages}"))
    };
    assert_eq!(
        count("ocr_bands_detected"),
        d["stats"]["caption_reads"].as_u64().unwrap(),
        "{stages}"
    );
    assert!(
        count("ocr_frames_detected") >= d["stats"]["ocr_frames"].as_u64().unwrap(),
        "{stages}"
    );
    assert!(count("ocr_lines_recognized") >= 3, "{stages}");
    let ocr = ["ocr_frame_detect_s", "ocr_band_detect_s", "ocr_recognize_s"].map(secs);
    assert!(ocr.iter().all(|&s| s > 0.0), "{stages}");
    assert!(
        ocr.iter().sum::<f64>() <= secs("visual_s") + 0.01,
        "{stages}"
    );
}

/// Captions that move: the first two at the bottom, where the band is first found, the next
/// four higher up. The keyframes end with the band where most captions were, which the first
/// decode did not read, so it is read again there: every line of it once, at its time.
#[test]
fn a_band_that_moves_is_read_again_where_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let up = "{\\pos(640,530)}";
    let later = [
        (6.0, 8.0, "ask not what your country"),
        (8.0, 10.0, "can do for you, ask what"),
        (10.0, 12.0, "you can do for your country."),
        (12.0, 14.0, "Thank you for watching"),
    ];
    let texts: Vec<String> = later.iter().map(|l| format!("{up}{}", l.2)).collect();
    let mut lines = vec![
        Line(1.0, 3.0, "And so, my fellow"),
        Line(3.0, 5.0, "Americans, listen"),
    ];
    lines.extend(later.iter().zip(&texts).map(|(l, t)| Line(l.0, l.1, t)));
    let pic = Picture::new(1280, 720, "DejaVu Sans", 44, 40);
    let clips = [Clip("speech/en/jfk/jfk.flac", 1.0)];
    let video = captioned(dir.path(), "moves", &pic, &clips, &lines, 15.0);
    let d = run_one(&video, &dir.path().join("out"), &["--asr-model", "tiny.en"]);
    let band = d["stats"]["caption_band"].as_array().unwrap();
    let (y0, y1) = (band[0].as_f64().unwrap(), band[1].as_f64().unwrap());
    assert!(y0 > 0.6 && y1 < 0.8, "the upper band: {band:?}");
    let caps = captions(&d);
    let moved: Vec<Line> = later.iter().map(|l| Line(l.0, l.1, l.2)).collect();
    each_line_read_once(&caps, &moved, "en");
}

/// Mandarin speech captioned in a portrait video at 70 % of its height: the captions are read,
/// the band is found there, and the text holds the transcript once, in the captions' Simplified
/// characters.
#[test]
fn mandarin_portrait_captions() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        Line(0.5, 6.0, "欢迎大家来体验达摩院推出的语音识别模型"),
        Line(7.0, 12.0, "我认为跑步最重要的就是给我带来了身体健康"),
        Line(13.0, 17.0, "近几年，不但我用书给女儿压岁，"),
        Line(17.0, 21.5, "也劝说亲朋不要给女儿压岁钱，而改送压岁书。"),
    ];
    let clips = [
        Clip("speech/zh/funasr-asr_example_zh.wav", 0.5),
        Clip("speech/zh/paddlespeech-zh.wav", 7.0),
        Clip("speech/zh/yeyupiaoling-test.wav", 13.0),
    ];
    let pic = Picture::new(720, 1280, "WenQuanYi Zen Hei", 40, 384);
    let video = captioned(dir.path(), "zh", &pic, &clips, &lines, 22.0);
    let d = run_one(&video, &dir.path().join("out"), &["--asr-model", "base"]);
    let caps = captions(&d);
    each_line_read_once(&caps, &lines, "zh");
    let band: Vec<f64> = d["stats"]["caption_band"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        band[0] > 0.55 && band[1] < 0.8,
        "portrait band at 70 %: {band:?}"
    );
    let reference: String = lines.iter().map(|l| l.2).collect();
    let text = d["text"].as_str().unwrap();
    let cer = vid2text_core::text::wer(&reference, &plain(text));
    assert!(cer <= 0.1, "CER {cer:.3}: {text}");
    assert_eq!(text.matches("身体健康").count(), 1, "{text}");
    assert_eq!(d["language"], "zh");
    assert!(
        d["stats"]["caption_agreement"].as_f64().unwrap() >= 0.5,
        "{}",
        d["stats"]
    );
}

/// Bilingual captions, a Chinese line over its English translation: two lines, each with its
/// language; the Chinese one stands in for the speech, the English one stands apart.
#[test]
fn bilingual_captions_are_two_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        Line(0.5, 3.2, "我认为跑步最重要的就是\\NI think that in running"),
        Line(
            3.2,
            6.0,
            "给我带来了身体健康\\Nthe main thing is good health",
        ),
    ];
    let pic = Picture::new(1280, 720, "WenQuanYi Zen Hei", 40, 30);
    let clips = [Clip("speech/zh/paddlespeech-zh.wav", 0.5)];
    let video = captioned(dir.path(), "bi", &pic, &clips, &lines, 7.0);
    let d = run_one(&video, &dir.path().join("out"), &["--asr-model", "base"]);
    let caps = captions(&d);
    let lang = |l: &str| -> Vec<_> { caps.iter().filter(|c| c.3.as_deref() == Some(l)).collect() };
    let (zh, en) = (lang("zh"), lang("en"));
    assert_eq!((zh.len(), en.len()), (2, 2), "{caps:?}");
    assert!(squash(&zh[1].2).contains("身体健康"), "{caps:?}");
    assert!(en[1].2.contains("good health"), "{caps:?}");
    assert!(
        zh[0].0 == en[0].0 && zh[1].0 == en[1].0,
        "rows of one caption: {caps:?}"
    );
    let text = d["text"].as_str().unwrap();
    assert_eq!(text.matches("身体健康").count(), 1, "{text}");
    assert!(
        text.contains("<caption>\nI think that in running"),
        "{text}"
    );
}

/// English captions over Mandarin speech (a translation): both stay, the captions marked.
#[test]
fn a_translation_keeps_speech_and_captions() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        Line(0.5, 3.0, "I think the most important thing about running"),
        Line(3.0, 6.0, "is that it brings me good health."),
    ];
    let pic = Picture::new(1280, 720, "DejaVu Sans", 40, 40);
    let video = captioned(
        dir.path(),
        "tr",
        &pic,
        &[Clip("speech/zh/paddlespeech-zh.wav", 0.5)],
        &lines,
        7.0,
    );
    let d = run_one(&video, &dir.path().join("out"), &["--asr-model", "base"]);
    let text = d["text"].as_str().unwrap();
    assert!(
        text.contains("<caption>\nI think the most important thing about running"),
        "{text}"
    );
    assert!(text.contains("good health"), "{text}");
    let cjk = text
        .chars()
        .filter(|&c| vid2text_core::text::is_cjk(c))
        .count();
    assert!(cjk >= 10, "the Mandarin speech stays: {text}");
    assert!(
        d["stats"]["caption_agreement"].as_f64().unwrap() < 0.2,
        "{}",
        d["stats"]
    );
    // Each source its own language: Mandarin speech, English captions.
    let langs = &d["stats"]["source_languages"];
    assert_eq!(
        (&langs["speech"], &langs["captions"]),
        (&"zh".into(), &"en".into()),
        "{langs}"
    );
}

/// The real Chinese videos with hard subtitles (SWHL/RapidVideOCR's test assets): the lines
/// the source states are in `captions`, each once, in order; the corner logo is a watermark.
#[test]
fn rapidvideocr_videos() {
    let dir = tempfile::tempdir().unwrap();
    let two = data_str("video/zh/rapidvideocr-2.mp4");
    let a = data_str("video/zh/rapidvideocr-test_a.mp4");
    let out = dir.path().join("out");
    let r = run(&[&two, &a], &out, &["--asr-model", "base"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&out);
    let d = doc(&docs, "rapidvideocr-2.mp4");
    let caps = captions(d);
    let want = ["空间里面他绝对赢不了的", "我进去帮他", "你们接着善后"];
    let mut last = -1.0;
    for w in want {
        let hits: Vec<_> = caps.iter().filter(|c| squash(&c.2) == squash(w)).collect();
        assert_eq!(hits.len(), 1, "{w}: {caps:?}");
        assert!(hits[0].0 > last, "{w} out of order: {caps:?}");
        last = hits[0].0;
    }
    assert!(
        caps.last().unwrap().1 >= 2.4,
        "the last line lasts to 2.54 s: {caps:?}"
    );
    let text = d["text"].as_str().unwrap();
    assert_eq!(text.matches("我进去帮他").count(), 1, "{text}");
    let d = doc(&docs, "rapidvideocr-test_a.mp4");
    let marks: Vec<&str> = d["watermarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap())
        .collect();
    assert!(marks.iter().any(|m| m.contains("好看视频")), "{marks:?}");
    assert!(!d["text"].as_str().unwrap().contains("好看视频"));
    let caps = captions(d);
    for w in ["这句话当时也是红遍网络", "到现在依然经久不息"] {
        let hits: Vec<_> = caps
            .iter()
            .filter(|c| squash(&c.2).contains(&squash(w)))
            .collect();
        assert_eq!(hits.len(), 1, "{w}: {caps:?}");
    }
}
