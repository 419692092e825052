//! One input's document, assembled once from its three parts: the header (what the decode stage
//! learned), the transcript (what Whisper heard) and what the visual stage read, with captions
//! and subtitle cues fused with the speech they repeat ([`vid2text_core::fusion`]). Pure.

use std::collections::BTreeMap;

use vid2text_core::doc::{AudioInfo, Document, PipelineInfo, ScreenText, SpeechSegment, Stats};
use vid2text_core::filters;
use vid2text_core::fusion::{fuse, plain_units};
use vid2text_core::render::{self, TextFormat};
use vid2text_core::round;
use vid2text_models::whisper::Transcript;

use super::script::{self, ChineseScript};
use crate::stages::{Header, Visual};

/// What every document of a run shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What `text` is made of.
    pub text_format: TextFormat,
    /// The script of Chinese text (`--chinese-script`).
    pub chinese_script: ChineseScript,
    /// Leave e-mail addresses, phone numbers, IP addresses and ID numbers as they are
    /// (`--keep-pii`); by default they are replaced by typed placeholders.
    pub keep_pii: bool,
    /// Version, model ids and configuration hash: the document's `pipeline`.
    pub pipeline: PipelineInfo,
}

/// The document of one input; `visual` is None when the input went nowhere near the visual
/// stage (audio only, or OCR off and no subtitle streams).
pub fn assemble(
    config: &Config,
    header: Header,
    transcript: Transcript,
    visual: Option<Visual>,
) -> Document {
    let mut visual = visual.unwrap_or_default();
    let mut speech = transcript.segments;
    one_script(
        config.chinese_script,
        transcript.language.as_deref(),
        &mut speech,
        &mut visual,
    );
    let mut dropped: BTreeMap<String, u64> = transcript.dropped;
    drop_hallucinations(&mut speech, &mut dropped);
    let mut pii = BTreeMap::new();
    if !config.keep_pii {
        scrub(&mut speech, &mut visual, &mut pii);
    }
    let fusion = fuse(
        config.text_format,
        &speech,
        &visual.captions,
        &visual.subtitles,
        &fusion_units,
    );
    let mut parts = fusion.parts;
    // Screen text that is not language (timecodes, counters, stray letters) stays in
    // `screen_text` and out of `text`.
    let screen_for_text: Vec<ScreenText>;
    if config.text_format.screen {
        screen_for_text = visual
            .screen_text
            .iter()
            .filter(|s| !filters::screen_not_language(&s.text))
            .cloned()
            .collect();
        let left_out = visual.screen_text.len() - screen_for_text.len();
        if left_out > 0 {
            *dropped.entry("screen_not_language".into()).or_default() += left_out as u64;
        }
        parts.screen = &screen_for_text;
    }
    let text = render::render_parts(&parts);
    let (agreement, caption_agreement) = (fusion.agreement, fusion.document);
    for (seg, a) in speech.iter_mut().zip(agreement) {
        seg.caption_agreement = a;
    }
    dropped.retain(|_, v| *v > 0);
    let audio = header.info.audio.first().map(|a| AudioInfo {
        codec: a.codec.clone(),
        channels: a.channels,
        sample_rate: a.sample_rate,
    });
    let mut meta = header.input.meta;
    if let Some(t) = header.truncated_s {
        meta.insert("truncated_at_s".into(), serde_json::json!(t));
    }
    let said = !speech.is_empty();
    let quality = Quality::of(&speech, transcript.speech_s, header.info.duration_s);
    let mut doc = Document {
        id: header.id,
        source: header.input.uri,
        duration_s: round(header.info.duration_s, 3),
        language: if said { transcript.language } else { None },
        stats: Stats {
            speech_s: round(transcript.speech_s, 3),
            words: render::words(&text),
            dropped,
            asr_windows: transcript.windows as u64,
            asr_passes: transcript.passes as u64,
            asr_packed_windows: transcript.packed_windows as u64,
            language_probability: transcript
                .language_probability
                .filter(|_| said)
                .map(|p| round(p, 4)),
            audio,
            has_video: header.info.has_video(),
            keyframes: visual.keyframes,
            ocr_frames: visual.ocr_frames,
            skipped_subtitle_streams: visual.skipped_subtitle_streams,
            caption_band: visual
                .caption_band
                .map(|b| [round(b.y0, 3), round(b.y1, 3)]),
            caption_frames: visual.caption_frames,
            caption_reads: visual.caption_reads,
            caption_agreement,
            asr_mean_logprob: quality.mean_logprob,
            speech_ratio: quality.speech_ratio,
            words_per_minute: quality.words_per_minute,
            source_languages: BTreeMap::new(),
            pii,
        },
        text,
        speech,
        screen_text: visual.screen_text,
        captions: visual.captions,
        watermarks: visual.watermarks,
        subtitles: visual.subtitles,
        pipeline: config.pipeline.clone(),
        meta,
    };
    doc.stats.source_languages = vid2text_core::captions::source_languages(&doc);
    doc
}

/// Chinese speech, captions, screen text and subtitle cues in one script (see [`super::script`]);
/// nothing in a document whose speech is Japanese or Korean, nor lines or cues in those.
fn one_script(
    script: ChineseScript,
    language: Option<&str>,
    speech: &mut [vid2text_core::SpeechSegment],
    visual: &mut Visual,
) {
    let cjk_not_chinese = |l: Option<&str>| {
        l.is_some_and(|l| ["ja", "jpn", "ko", "kor"].iter().any(|x| l.starts_with(x)))
    };
    if script == ChineseScript::Keep || cjk_not_chinese(language) {
        return;
    }
    for s in speech.iter_mut() {
        s.text = script.convert(&s.text);
    }
    for c in visual.captions.iter_mut() {
        if !cjk_not_chinese(c.language.as_deref()) {
            c.text = script.convert(&c.text);
        }
    }
    for s in visual.screen_text.iter_mut() {
        s.text = script.convert(&s.text);
    }
    for c in visual.subtitles.iter_mut() {
        if !cjk_not_chinese(c.language.as_deref()) {
            c.text = script.convert(&c.text);
        }
    }
}

/// The document's quality signals (see [`Stats`]); None each when nothing was said.
struct Quality {
    mean_logprob: Option<f64>,
    speech_ratio: Option<f64>,
    words_per_minute: Option<f64>,
}

impl Quality {
    fn of(speech: &[SpeechSegment], speech_s: f64, duration_s: f64) -> Self {
        if speech.is_empty() {
            return Quality {
                mean_logprob: None,
                speech_ratio: None,
                words_per_minute: None,
            };
        }
        let weight = |s: &SpeechSegment| (s.end - s.start).max(0.01);
        let total: f64 = speech.iter().map(weight).sum();
        let mean = speech
            .iter()
            .map(|s| s.avg_logprob * weight(s))
            .sum::<f64>()
            / total;
        let words: u64 = speech.iter().map(|s| render::words(&s.text)).sum();
        Quality {
            mean_logprob: Some(round(mean, 4)),
            speech_ratio: (duration_s > 0.0).then(|| round((speech_s / duration_s).min(1.0), 4)),
            words_per_minute: (speech_s > 0.0).then(|| round(words as f64 * 60.0 / speech_s, 1)),
        }
    }
}

/// Drops the speech segments that are Whisper's stock phrases, repetition loops or faster than
/// speech ([`filters::hallucination`]), and the third and later of identical segments in a
/// row, counting each by reason.
fn drop_hallucinations(speech: &mut Vec<SpeechSegment>, dropped: &mut BTreeMap<String, u64>) {
    let texts: Vec<&str> = speech.iter().map(|s| s.text.as_str()).collect();
    let repeated = filters::repeated_segments(&texts);
    let mut i = 0;
    speech.retain(|s| {
        let reason = match repeated[i] {
            true => Some("repetition"),
            false => filters::hallucination(&s.text, s.start, s.end),
        };
        i += 1;
        if let Some(r) = reason {
            *dropped.entry(r.into()).or_default() += 1;
        }
        reason.is_none()
    });
}

/// Personal data in every text of the document replaced by typed placeholders, counted by kind.
fn scrub(speech: &mut [SpeechSegment], visual: &mut Visual, pii: &mut BTreeMap<String, u64>) {
    for s in speech.iter_mut() {
        s.text = filters::scrub_pii(&s.text, pii);
    }
    for c in visual.captions.iter_mut() {
        c.text = filters::scrub_pii(&c.text, pii);
    }
    for s in visual.screen_text.iter_mut() {
        s.text = filters::scrub_pii(&s.text, pii);
    }
    for c in visual.subtitles.iter_mut() {
        c.text = filters::scrub_pii(&c.text, pii);
    }
}

/// Texts as fusion compares them: Traditional Chinese as Simplified (Whisper writes Mandarin in
/// either; captions are mostly Simplified), then words and CJK characters in lower case.
fn fusion_units(text: &str) -> Vec<String> {
    let has_han = text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    match has_han {
        true => plain_units(&script::to_simplified(text)),
        false => plain_units(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vid2text_core::doc::{ScreenText, SpeechSegment, SubtitleCue};
    use vid2text_core::input::{Input, Location};
    use vid2text_media::{AudioStream, MediaInfo, VideoStream};

    fn header() -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("title".into(), "a talk".into());
        Header {
            input: Input {
                uri: "talks/a.mp4".into(),
                location: Location::File("talks/a.mp4".into()),
                id: None,
                meta,
            },
            id: "abc".into(),
            info: MediaInfo {
                duration_s: 12.34567,
                format: "mov,mp4".into(),
                audio: vec![AudioStream {
                    index: 1,
                    duration_s: Some(12.3),
                    codec: "aac".into(),
                    channels: 2,
                    sample_rate: 44_100,
                }],
                video: vec![VideoStream {
                    index: 0,
                    duration_s: Some(12.3),
                    codec: "h264".into(),
                    width: 640,
                    height: 360,
                    attached_pic: false,
                }],
                subtitles: vec![],
            },
            truncated_s: Some(10.0),
        }
    }

    fn segment(start: f64, end: f64, text: &str) -> SpeechSegment {
        SpeechSegment {
            start,
            end,
            text: text.into(),
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            compression_ratio: 1.1,
            temperature: 0.0,
            caption_agreement: None,
        }
    }

    fn config(text_format: TextFormat) -> Config {
        Config {
            text_format,
            chinese_script: ChineseScript::Simplified,
            keep_pii: false,
            pipeline: PipelineInfo {
                version: "0.1.0".into(),
                asr_model: Some("base".into()),
                ocr_model: Some("PP-OCRv4".into()),
                vad_model: Some("silero_vad-6.2.3".into()),
                config_hash: "0123456789abcdef".into(),
            },
        }
    }

    #[test]
    fn chinese_comes_out_in_one_script() {
        let transcript = |lang: &str, text: &str| Transcript {
            language: Some(lang.into()),
            segments: vec![segment(0.5, 3.0, text)],
            ..Transcript::default()
        };
        let visual = || Visual {
            screen_text: vec![ScreenText {
                start: 0.0,
                end: 5.0,
                text: "頭髮乾燥".into(),
                confidence: 0.9,
            }],
            ..Visual::default()
        };
        let zh = transcript("zh", "我認為跑步最重要");
        let doc = assemble(
            &config(TextFormat::ALL),
            header(),
            zh.clone(),
            Some(visual()),
        );
        assert_eq!(doc.speech[0].text, "我认为跑步最重要");
        assert_eq!(doc.screen_text[0].text, "头发干燥");
        assert!(
            doc.text.contains("我认为") && doc.text.contains("头发干燥"),
            "{}",
            doc.text
        );
        let mut keep = config(TextFormat::ALL);
        keep.chinese_script = ChineseScript::Keep;
        let doc = assemble(&keep, header(), zh, Some(visual()));
        assert_eq!(doc.speech[0].text, "我認為跑步最重要");
        // Japanese speech: its kanji are not Chinese to convert, nor is anything on its screen.
        let ja = transcript("ja", "頭髮");
        let doc = assemble(&config(TextFormat::ALL), header(), ja, Some(visual()));
        assert_eq!(doc.speech[0].text, "頭髮");
        assert_eq!(doc.screen_text[0].text, "頭髮乾燥");
    }

    #[test]
    fn a_document_from_its_three_parts() {
        let transcript = Transcript {
            language: Some("en".into()),
            language_probability: Some(0.987654),
            segments: vec![
                segment(0.5, 2.0, "Welcome to the talk."),
                segment(6.0, 8.0, "Next slide."),
            ],
            speech_s: 7.5,
            windows: 1,
            packed_windows: 0,
            passes: 2,
            dropped: [
                ("hallucination".to_string(), 1),
                ("no_speech".to_string(), 0),
            ]
            .into_iter()
            .collect(),
        };
        let visual = Visual {
            screen_text: vec![ScreenText {
                start: 0.0,
                end: 5.0,
                text: "Gradient descent".into(),
                confidence: 0.97,
            }],
            subtitles: vec![SubtitleCue {
                start: 6.1,
                end: 7.0,
                text: "Next slide.".into(),
                stream: 2,
                language: Some("eng".into()),
            }],
            keyframes: 12,
            ocr_frames: 3,
            skipped_subtitle_streams: vec!["hdmv_pgs_subtitle".into()],
            ..Visual::default()
        };
        let doc = assemble(
            &config(TextFormat::ALL),
            header(),
            transcript.clone(),
            Some(visual),
        );
        // The cue says what was said: it stands in for the speech, once.
        insta::assert_snapshot!(doc.text, @r"
        <screen>
        Gradient descent
        </screen>

        Welcome to the talk.

        Next slide.
        ");
        assert_eq!(doc.stats.words, 8);
        assert_eq!(doc.stats.caption_agreement, Some(0.333)); // 2 of 6 words
        assert_eq!(doc.speech[1].caption_agreement, Some(1.0));
        assert_eq!(
            (doc.id.as_str(), doc.source.as_str()),
            ("abc", "talks/a.mp4")
        );
        assert_eq!(doc.duration_s, 12.346);
        assert_eq!(doc.language.as_deref(), Some("en"));
        assert_eq!(doc.stats.language_probability, Some(0.9877));
        assert_eq!(doc.stats.dropped.len(), 1, "zero counts are left out");
        assert_eq!((doc.stats.keyframes, doc.stats.ocr_frames), (12, 3));
        assert_eq!(doc.stats.audio.as_ref().unwrap().sample_rate, 44_100);
        assert!(doc.stats.has_video);
        assert_eq!(doc.meta["truncated_at_s"], 10.0);
        assert_eq!(doc.meta["title"], "a talk");
        // Speech only: the spans are all kept, the text has speech alone.
        let speech = assemble(&config(TextFormat::SPEECH), header(), transcript, None);
        assert_eq!(speech.text, "Welcome to the talk.\n\nNext slide.");
        assert!(speech.screen_text.is_empty() && speech.stats.keyframes == 0);
    }

    #[test]
    fn nothing_said_has_no_language() {
        let transcript = Transcript {
            language: Some("en".into()),
            language_probability: Some(0.5),
            ..Transcript::default()
        };
        let doc = assemble(&config(TextFormat::ALL), header(), transcript, None);
        assert_eq!(doc.language, None);
        assert_eq!(doc.stats.language_probability, None);
        assert_eq!((doc.text.as_str(), doc.stats.words), ("", 0));
    }
}
