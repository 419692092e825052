//! Sidecar subtitle files written from speech segments (`--subtitles srt,vtt`): SRT and WebVTT.
//! (Subtitle streams embedded in the input are read by vid2text-media and land in the
//! document's `subtitles` field.)

use crate::doc::SpeechSegment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarFormat {
    Srt,
    Vtt,
}

impl SidecarFormat {
    pub fn extension(self) -> &'static str {
        match self {
            SidecarFormat::Srt => "srt",
            SidecarFormat::Vtt => "vtt",
        }
    }
}

impl std::str::FromStr for SidecarFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "srt" => Ok(SidecarFormat::Srt),
            "vtt" | "webvtt" => Ok(SidecarFormat::Vtt),
            other => Err(format!(
                "unknown subtitle format `{other}` (expected srt or vtt)"
            )),
        }
    }
}

fn timestamp(seconds: f64, decimal: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        decimal,
        ms % 1000
    )
}

/// A cue's text: no blank or whitespace-only line (it would end the cue), no "-->" (it would
/// read as a timing line), lines trimmed.
fn cue_text(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.split(['\n', '\r']) {
        let mut line = line.trim().to_string();
        while line.contains("-->") {
            line = line.replace("-->", "->");
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines.join("\n")
}

/// Renders segments as a subtitle file.
pub fn render(format: SidecarFormat, segments: &[SpeechSegment]) -> String {
    let mut out = String::new();
    if format == SidecarFormat::Vtt {
        out.push_str("WEBVTT\n\n");
    }
    let mut n = 0;
    for s in segments {
        let text = cue_text(&s.text);
        if text.is_empty() {
            continue;
        }
        n += 1;
        match format {
            SidecarFormat::Srt => {
                out.push_str(&format!(
                    "{n}\n{} --> {}\n{text}\n\n",
                    timestamp(s.start, ','),
                    timestamp(s.end, ',')
                ));
            }
            SidecarFormat::Vtt => {
                out.push_str(&format!(
                    "{} --> {}\n{text}\n\n",
                    timestamp(s.start, '.'),
                    timestamp(s.end, '.')
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_and_vtt() {
        let segs = [
            SpeechSegment::plain(0.2, 4.1, " Hello there."),
            SpeechSegment::plain(3661.5, 3662.0, "Bye ---> now\n \n\r\nagain"),
            SpeechSegment::plain(3663.0, 3664.0, " \n "),
        ];
        assert_eq!(
            render(SidecarFormat::Srt, &segs),
            "1\n00:00:00,200 --> 00:00:04,100\nHello there.\n\n2\n01:01:01,500 --> 01:01:02,000\nBye -> now\nagain\n\n"
        );
        assert_eq!(
            render(SidecarFormat::Vtt, &segs[..1]),
            "WEBVTT\n\n00:00:00.200 --> 00:00:04.100\nHello there.\n\n"
        );
    }
}
