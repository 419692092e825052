//! vid2text-media: FFmpeg as subprocesses. `ffprobe` tells what an input holds; `ffmpeg` decodes
//! its first audio stream to 16 kHz mono PCM. Arguments are passed as a vector (never through a
//! shell), every child runs under a time limit, and a hostile file can at worst kill its child.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use wait_timeout::ChildExt;

/// Sample rate of the decoded audio, the one Whisper and Silero VAD expect.
pub const SAMPLE_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {program}: {source} (is FFmpeg installed? scripts/setup.sh installs it)")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} timed out after {secs:.0} s")]
    Timeout { program: &'static str, secs: f64 },
    #[error("{program} exited with {code}: {message}")]
    Failed {
        program: &'static str,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What ffprobe reports of an input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    /// Container duration in seconds (0 when unknown).
    pub duration_s: f64,
    pub format: String,
    pub audio: Vec<AudioStream>,
    pub video: Vec<VideoStream>,
    /// Subtitle streams: codec names.
    pub subtitles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    pub index: u32,
    /// Stream duration in seconds, when the container states it.
    pub duration_s: Option<f64>,
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub index: u32,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Cover art and thumbnails are video streams too; they are flagged here.
    pub attached_pic: bool,
}

impl MediaInfo {
    /// Duration of the first audio stream (the container's when the stream does not say).
    pub fn audio_duration_s(&self) -> f64 {
        self.audio
            .first()
            .and_then(|a| a.duration_s)
            .filter(|&d| d > 0.0)
            .unwrap_or(self.duration_s)
    }

    pub fn has_audio(&self) -> bool {
        !self.audio.is_empty()
    }

    pub fn has_video(&self) -> bool {
        self.video.iter().any(|v| !v.attached_pic)
    }
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, i64>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

/// Runs a child to completion under a time limit, collecting its stdout (all) and the tail of
/// its stderr.
fn run_limited(program: &'static str, args: &[&str], limit: Duration) -> Result<(Vec<u8>, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { program, source })?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || tail_of(&mut stderr, 8192));
    let status = match child.wait_timeout(limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = out_reader.join();
            let _ = err_reader.join();
            return Err(Error::Timeout {
                program,
                secs: limit.as_secs_f64(),
            });
        }
        Err(source) => return Err(Error::Spawn { program, source }),
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(Error::Failed {
            program,
            code: status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into()),
            message: last_lines(&err),
        });
    }
    let warnings = if err.is_empty() {
        String::new()
    } else {
        last_lines(&err)
    };
    Ok((out, warnings))
}

/// Reads a stream to its end, keeping only its last `keep` bytes.
fn tail_of(r: &mut impl Read, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * keep {
            tail.drain(..tail.len() - keep);
        }
    }
    tail
}

/// The last meaningful lines of FFmpeg's stderr, joined into one line.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            // Drop the `[mov,mp4,... @ 0x55c2f88d2180] ` prefix.
            let l = l.trim();
            match (l.starts_with('['), l.find("] ")) {
                (true, Some(i)) if l[..i].contains(" @ 0x") => l[i + 2..].trim(),
                _ => l,
            }
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "no message".into();
    }
    let start = lines.len().saturating_sub(2);
    lines[start..].join("; ")
}

fn parse_f64(s: &Option<String>) -> Option<f64> {
    s.as_deref()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite())
}

/// Probes an input (path or URL) with ffprobe.
pub fn probe(input: &str, limit: Duration) -> Result<MediaInfo> {
    let (out, _) = run_limited(
        "ffprobe",
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "--",
            input,
        ],
        limit,
    )?;
    let json: ProbeJson = serde_json::from_slice(&out)
        .map_err(|e| Error::Invalid(format!("unreadable ffprobe output: {e}")))?;
    let format = json
        .format
        .ok_or_else(|| Error::Invalid("ffprobe found no container format".into()))?;
    let mut info = MediaInfo {
        duration_s: parse_f64(&format.duration).unwrap_or(0.0),
        format: format.format_name.unwrap_or_default(),
        ..Default::default()
    };
    let mut longest_stream: f64 = 0.0;
    for s in json.streams {
        longest_stream = longest_stream.max(parse_f64(&s.duration).unwrap_or(0.0));
        let codec = s.codec_name.unwrap_or_else(|| "unknown".into());
        match s.codec_type.as_deref() {
            Some("audio") => info.audio.push(AudioStream {
                index: s.index,
                duration_s: parse_f64(&s.duration),
                codec,
                channels: s.channels.unwrap_or(0),
                sample_rate: s.sample_rate.and_then(|r| r.parse().ok()).unwrap_or(0),
            }),
            Some("video") => info.video.push(VideoStream {
                index: s.index,
                codec,
                width: s.width.unwrap_or(0),
                height: s.height.unwrap_or(0),
                attached_pic: s.disposition.get("attached_pic").copied().unwrap_or(0) != 0,
            }),
            Some("subtitle") => info.subtitles.push(codec),
            _ => {}
        }
    }
    if info.duration_s <= 0.0 {
        info.duration_s = longest_stream;
    }
    if info.audio.is_empty() && !info.has_video() {
        return Err(Error::Invalid(format!(
            "no audio or video stream (format {})",
            if info.format.is_empty() {
                "unknown"
            } else {
                &info.format
            }
        )));
    }
    Ok(info)
}

/// Whether FFmpeg can open a file as media (for directory entries with an unknown extension).
pub fn is_media(path: &Path) -> bool {
    match path.to_str() {
        Some(p) => {
            probe(p, Duration::from_secs(10)).is_ok_and(|i| i.has_audio() || i.duration_s > 0.0)
        }
        None => false,
    }
}

/// Decoded audio: 16 kHz mono samples in [-1, 1].
#[derive(Debug, Clone, Default)]
pub struct Audio {
    pub samples: Vec<f32>,
    /// What FFmpeg said on stderr while still succeeding (e.g. `partial file`), one line.
    pub warnings: String,
}

impl Audio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}

/// Decodes the first audio stream of an input to 16 kHz mono (FFmpeg downmixes every channel
/// layout and resamples every rate). `max_duration_s` truncates the decode.
pub fn decode_audio(input: &str, limit: Duration, max_duration_s: Option<f64>) -> Result<Audio> {
    let mut args: Vec<String> = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-threads",
        "1",
        "-i",
        input,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(max) = max_duration_s {
        args.extend(["-t".to_string(), format!("{max:.3}")]);
    }
    args.extend(
        [
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            "pipe:1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (raw, warnings) = run_limited("ffmpeg", &argv, limit)?;
    let samples = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect();
    Ok(Audio { samples, warnings })
}

/// Limits of an HTTP(S) download.
#[derive(Debug, Clone, Copy)]
pub struct DownloadLimits {
    /// Bytes at most; a larger body is refused.
    pub max_bytes: u64,
    /// The whole download.
    pub total: Duration,
    /// Without a byte for this long, the server is taken as stalled.
    pub stall: Duration,
}

/// Downloads an http(s) URL into `dest` (written as `dest`, removed again on any error).
/// Returns the number of bytes.
pub fn download(url: &str, dest: &Path, limits: DownloadLimits) -> Result<u64> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(limits.total))
        .timeout_connect(Some(limits.stall))
        .timeout_per_read(Some(limits.stall))
        .max_redirects(10)
        .build()
        .into();
    let fail = |e: &dyn std::fmt::Display| {
        let _ = std::fs::remove_file(dest);
        Error::Invalid(e.to_string())
    };
    let response = agent.get(url).call().map_err(|e| fail(&e))?;
    if let Some(n) = response.body().content_length() {
        if n > limits.max_bytes {
            return Err(fail(&format!(
                "{n} bytes is over the limit of {} bytes",
                limits.max_bytes
            )));
        }
    }
    let mut reader = response
        .into_body()
        .into_with_config()
        .limit(limits.max_bytes)
        .reader();
    let mut file = std::fs::File::create(dest).map_err(|e| fail(&e))?;
    let n = std::io::copy(&mut reader, &mut file).map_err(|e| {
        if e.to_string().contains("limit") {
            fail(&format!(
                "body is over the limit of {} bytes",
                limits.max_bytes
            ))
        } else {
            fail(&e)
        }
    })?;
    file.sync_all().map_err(|e| fail(&e))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_is_one_line() {
        assert_eq!(last_lines(b"a\n\n  b  \nc\n"), "b; c");
        assert_eq!(
            last_lines(b"[mov,mp4 @ 0x55c2f88d2180] moov atom not found\nx.mp4: Invalid data\n"),
            "moov atom not found; x.mp4: Invalid data"
        );
        assert_eq!(last_lines(b""), "no message");
    }

    #[test]
    fn tail_keeps_the_end() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let t = tail_of(&mut &data[..], 100);
        assert!(t.len() >= 100 && t.ends_with(&data[data.len() - 100..]));
    }
}
