//! vid2text-media: FFmpeg as subprocesses. `ffprobe` tells what an input holds; `ffmpeg` decodes
//! its first audio stream to 16 kHz mono PCM. Arguments are passed as a vector (never through a
//! shell), every child runs under a time limit, and a hostile file can at worst kill its child.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use wait_timeout::ChildExt;

mod video;
pub use video::{
    band_frames, band_rows, keyframes, keyframes_and_band, read_subtitle_stream, BandOptions, Cue,
    Frame, KeyframeOptions, KeyframesEnd, Sampled,
};

/// Sample rate of the decoded audio, the one Whisper and Silero VAD expect.
pub use vid2text_core::SAMPLE_RATE;

/// The `ffmpeg` and `ffprobe` executables that children are started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub ffmpeg: std::path::PathBuf,
    pub ffprobe: std::path::PathBuf,
}

static TOOLS: std::sync::OnceLock<Tools> = std::sync::OnceLock::new();

/// Chooses the executables for the whole process, once, before the first child starts (later
/// calls are ignored and return false). Without a call, `ffmpeg` and `ffprobe` are looked up on
/// `PATH`.
pub fn set_tools(tools: Tools) -> bool {
    TOOLS.set(tools).is_ok()
}

/// The executables in use.
pub fn tools() -> &'static Tools {
    TOOLS.get_or_init(|| Tools {
        ffmpeg: "ffmpeg".into(),
        ffprobe: "ffprobe".into(),
    })
}

/// The executable to start for `program` ("ffmpeg" or "ffprobe").
fn executable(program: &str) -> &'static Path {
    match program {
        "ffprobe" => &tools().ffprobe,
        _ => &tools().ffmpeg,
    }
}

/// Whether the FFmpeg in use takes `-thread_queue_size` as an output option (asked once a
/// process, see [`takes_output_queue_size`]).
pub(crate) fn output_queue_bounded() -> bool {
    static TAKES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TAKES.get_or_init(|| takes_output_queue_size(executable("ffmpeg")))
}

/// Whether `ffmpeg` takes `-thread_queue_size` for an output. FFmpeg 6 and later run each muxer
/// in a thread of its own behind a queue of packets (8 by default); where frames go out through
/// a pipe to a consumer slower than the decoder, as keyframes to OCR do, FFmpeg then decodes
/// that many frames ahead of it, and a consumer that stops early (the keyframe run that looks
/// for the caption band) has paid for them: on a 12 s video stopped after its first keyframe,
/// FFmpeg 6.0 had sent 11 keyframes through its filters, 4 with a queue of 1. FFmpeg 5 has no
/// such thread (nor the option, which it refuses for an output): the pipe bounds it already.
/// Asked by running it on one generated frame; any failure (an FFmpeg without `lavfi`) answers
/// no, and the outputs keep FFmpeg's default.
pub(crate) fn takes_output_queue_size(ffmpeg: &Path) -> bool {
    let args = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=16x16:d=0.04",
        "-thread_queue_size",
        "1",
        "-f",
        "null",
        "-",
    ];
    let Ok(mut child) = Command::new(ffmpeg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    match child.wait_timeout(Duration::from_secs(10)) {
        Ok(Some(status)) => status.success(),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            false
        }
    }
}

/// `program` could not be started (or waited for): names the executable that was tried.
fn spawn_error(program: &'static str, source: std::io::Error) -> Error {
    Error::Spawn {
        program,
        path: executable(program).to_path_buf(),
        source,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {program} ({}): {source} (is FFmpeg installed? scripts/setup.sh installs it)", path.display())]
    Spawn {
        program: &'static str,
        path: std::path::PathBuf,
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

/// Why a streaming read (decoded audio, keyframes) stopped early: FFmpeg or the stream failed,
/// or the consumer of the data returned an error of its own, which comes back as itself.
#[derive(Debug)]
pub enum ReadError<E> {
    Media(Error),
    Consumer(E),
}

impl<E> From<Error> for ReadError<E> {
    fn from(e: Error) -> Self {
        ReadError::Media(e)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Media(e) => e.fmt(f),
            ReadError::Consumer(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ReadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Media(e) => e.source(),
            ReadError::Consumer(e) => e.source(),
        }
    }
}

impl ReadError<std::convert::Infallible> {
    /// The media error of a read whose consumer cannot fail.
    fn media(self) -> Error {
        match self {
            ReadError::Media(e) => e,
            ReadError::Consumer(never) => match never {},
        }
    }
}

/// What ffprobe reports of an input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    /// Container duration in seconds (0 when unknown).
    pub duration_s: f64,
    pub format: String,
    pub audio: Vec<AudioStream>,
    pub video: Vec<VideoStream>,
    pub subtitles: Vec<SubtitleStream>,
}

/// A subtitle stream of the container.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleStream {
    pub index: u32,
    pub codec: String,
    /// The stream's `language` tag, when it has one (ISO 639-2 in most containers).
    pub language: Option<String>,
}

impl SubtitleStream {
    /// Whether FFmpeg can turn the stream into text: bitmap subtitles (PGS, DVD, DVB, XSUB)
    /// are pictures and would need OCR.
    pub fn is_text(&self) -> bool {
        !matches!(
            self.codec.as_str(),
            "hdmv_pgs_subtitle" | "dvd_subtitle" | "dvb_subtitle" | "xsub" | "dvb_teletext"
        )
    }
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
    /// Stream duration in seconds, when the container states it.
    pub duration_s: Option<f64>,
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

    /// Duration of the first video stream that is not cover art (the container's when the
    /// stream does not say).
    pub fn video_duration_s(&self) -> f64 {
        self.video
            .iter()
            .find(|v| !v.attached_pic)
            .and_then(|v| v.duration_s)
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
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

/// Runs a child to completion, collecting its stdout (all) and its warnings (the tail of its
/// stderr, one line).
fn run_limited(program: &'static str, args: &[&str], limit: Duration) -> Result<(Vec<u8>, String)> {
    let mut out = Vec::new();
    let warnings = run_streaming(program, args, limit, &mut |bytes| {
        out.extend_from_slice(bytes);
        Ok::<_, ReadError<std::convert::Infallible>>(())
    })
    .map_err(ReadError::media)?;
    Ok((out, warnings))
}

/// The consumer of a child's stdout: takes each piece as it arrives.
type OnBytes<'a, E> = &'a mut dyn FnMut(&[u8]) -> Result<(), ReadError<E>>;

/// Runs a child, handing its stdout to `on_bytes` as it arrives; returns its warnings (the tail
/// of its stderr, one line). A watchdog kills the child once its own time (wall time less the
/// time spent in `on_bytes`, so a consumer applying backpressure does not count) passes `limit`.
/// An error from `on_bytes` stops the child (broken pipe) and is returned.
fn run_streaming<S: AsRef<std::ffi::OsStr>, E>(
    program: &'static str,
    args: &[S],
    limit: Duration,
    on_bytes: OnBytes<E>,
) -> Result<String, ReadError<E>> {
    run_streaming_lines(program, args, limit, on_bytes, None)
}

/// Takes each stderr line of a child; true when the line is data (kept out of the warnings).
pub(crate) type StderrLines = Box<dyn FnMut(&str) -> bool + Send>;

/// [`run_streaming`], with every stderr line also offered to `on_stderr` as it arrives. One
/// piece: the child, its stderr reader, its watchdog and the read loop share the clock that
/// keeps the consumer's time out of the limit.
pub(crate) fn run_streaming_lines<S: AsRef<std::ffi::OsStr>, E>(
    program: &'static str,
    args: &[S],
    limit: Duration,
    on_bytes: OnBytes<E>,
    on_stderr: Option<StderrLines>,
) -> Result<String, ReadError<E>> {
    let clock = SharedClock::default();
    run_streaming_with_stdin(
        program,
        args,
        limit,
        on_bytes,
        on_stderr,
        Stdio::null(),
        clock,
    )
}

/// [`run_streaming_lines`] with the child's standard input given (FFmpeg writes a second output
/// to it, `pipe:0`, where two outputs come from one decode) and the consumer's clock shared
/// with that output's reader, whose time waiting on the consumer is not the child's either.
pub(crate) fn run_streaming_with_stdin<S: AsRef<std::ffi::OsStr>, E>(
    program: &'static str,
    args: &[S],
    limit: Duration,
    on_bytes: OnBytes<E>,
    on_stderr: Option<StderrLines>,
    stdin: Stdio,
    clock: SharedClock,
) -> Result<String, ReadError<E>> {
    let mut child = Command::new(executable(program))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| spawn_error(program, source))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let on_stderr = on_stderr.unwrap_or_else(|| Box::new(|_| false));
    let err_reader = std::thread::spawn(move || lines_tail(&mut stderr, 8192, on_stderr));
    let watch = std::sync::Arc::clone(&clock);
    let started = std::time::Instant::now();
    let watchdog = std::thread::spawn(move || loop {
        match child.wait_timeout(Duration::from_millis(50)) {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {
                let own = started
                    .elapsed()
                    .saturating_sub(watch.lock().expect("clock").consumer_time());
                if own > limit {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::Timeout {
                        program,
                        secs: limit.as_secs_f64(),
                    });
                }
            }
            Err(source) => return Err(spawn_error(program, source)),
        }
    });
    let mut buf = vec![0u8; 65536];
    let mut outcome = Ok(());
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let e = Error::Invalid(format!("reading {program} output: {e}"));
                outcome = Err(ReadError::Media(e));
                break;
            }
        };
        clock.lock().expect("clock").enter();
        let consumed = on_bytes(&buf[..n]);
        clock.lock().expect("clock").leave();
        if let Err(e) = consumed {
            outcome = Err(e);
            break;
        }
    }
    drop(stdout); // a stopped consumer ends the child with a broken pipe
    let status = watchdog.join().expect("watchdog thread");
    let err = err_reader.join().unwrap_or_default();
    outcome?;
    let status = status?;
    if !status.success() {
        return Err(ReadError::Media(Error::Failed {
            program,
            code: status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into()),
            message: last_lines(&err),
        }));
    }
    Ok(if err.is_empty() {
        String::new()
    } else {
        last_lines(&err)
    })
}

/// Reads a stream line by line, offering each line to `on_line`; keeps the last `keep` bytes of
/// the lines it does not take.
fn lines_tail(r: &mut impl Read, keep: usize, mut on_line: StderrLines) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut reader = std::io::BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !on_line(&String::from_utf8_lossy(&line)) {
            tail.extend_from_slice(&line);
            if tail.len() > 2 * keep {
                tail.drain(..tail.len() - keep);
            }
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
                duration_s: parse_f64(&s.duration),
                codec,
                width: s.width.unwrap_or(0),
                height: s.height.unwrap_or(0),
                attached_pic: s.disposition.get("attached_pic").copied().unwrap_or(0) != 0,
            }),
            Some("subtitle") => info.subtitles.push(SubtitleStream {
                index: s.index,
                codec,
                language: s.tags.get("language").cloned().filter(|l| l != "und"),
            }),
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

/// FFmpeg's argument vector: `-nostdin -hide_banner`, the options `before` the input, the input,
/// `-t` when the duration is limited, then the output options `after`.
pub(crate) fn ffmpeg_args(
    before: &[&str],
    input: &str,
    max_duration_s: Option<f64>,
    after: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["-nostdin", "-hide_banner"]
        .iter()
        .chain(before)
        .chain(&["-i", input])
        .map(|s| s.to_string())
        .collect();
    if let Some(max) = max_duration_s {
        args.extend(["-t".to_string(), format!("{max:.3}")]);
    }
    args.extend(after.iter().map(|s| s.to_string()));
    args
}

/// [`SAMPLE_RATE`] as FFmpeg's `-ar` takes it.
const SAMPLE_RATE_ARG: &str = "16000";
const _: () = assert!(SAMPLE_RATE == 16_000, "SAMPLE_RATE_ARG says 16000");

fn decode_args(input: &str, max_duration_s: Option<f64>) -> Vec<String> {
    ffmpeg_args(
        &["-loglevel", "error", "-threads", "1"],
        input,
        max_duration_s,
        &[
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-ac",
            "1",
            "-ar",
            SAMPLE_RATE_ARG,
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            "pipe:1",
        ],
    )
}

/// How a streamed decode ended.
#[derive(Debug, Clone, Default)]
pub struct StreamEnd {
    /// Samples delivered.
    pub samples: u64,
    /// What FFmpeg said on stderr while still succeeding, one line.
    pub warnings: String,
}

/// Decodes the first audio stream of an input to 16 kHz mono (FFmpeg downmixes every channel
/// layout and resamples every rate; `max_duration_s` truncates) and hands the samples to
/// `on_chunk` as they arrive (chunks of at most 32768 samples), so that memory does not grow with
/// the input's length. An error from `on_chunk` stops the decode and comes back as
/// [`ReadError::Consumer`]. The time limit covers FFmpeg's own time: time spent inside
/// `on_chunk` (a consumer applying backpressure) does not count.
pub fn decode_audio_stream<E>(
    input: &str,
    limit: Duration,
    max_duration_s: Option<f64>,
    on_chunk: &mut dyn FnMut(&[f32]) -> Result<(), E>,
) -> Result<StreamEnd, ReadError<E>> {
    let mut carry: Option<u8> = None;
    let mut samples = Vec::with_capacity(32768);
    let mut total = 0u64;
    let warnings = run_streaming(
        "ffmpeg",
        &decode_args(input, max_duration_s),
        limit,
        &mut |mut data| {
            // s16le: a sample may be split across two reads.
            samples.clear();
            if let Some(lo) = carry.take() {
                samples.push(i16::from_le_bytes([lo, data[0]]) as f32 / 32768.0);
                data = &data[1..];
            }
            let pairs = data.chunks_exact(2);
            if let [last] = pairs.remainder() {
                carry = Some(*last);
            }
            samples.extend(pairs.map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0));
            total += samples.len() as u64;
            on_chunk(&samples).map_err(ReadError::Consumer)
        },
    )?;
    Ok(StreamEnd {
        samples: total,
        warnings,
    })
}

/// Time spent by the consumer of a streamed decode.
#[derive(Default)]
pub(crate) struct ConsumerClock {
    total: Duration,
    since: Option<std::time::Instant>,
    /// Readers inside the consumer now: spans of several readers that overlap count once.
    inside: u32,
}

/// A [`ConsumerClock`] shared by the readers of one child's outputs.
pub(crate) type SharedClock = std::sync::Arc<std::sync::Mutex<ConsumerClock>>;

impl ConsumerClock {
    pub(crate) fn enter(&mut self) {
        if self.inside == 0 {
            self.since = Some(std::time::Instant::now());
        }
        self.inside += 1;
    }

    pub(crate) fn leave(&mut self) {
        self.inside = self.inside.saturating_sub(1);
        if self.inside == 0 {
            if let Some(t) = self.since.take() {
                self.total += t.elapsed();
            }
        }
    }

    fn consumer_time(&self) -> Duration {
        self.total + self.since.map_or(Duration::ZERO, |t| t.elapsed())
    }
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
    // Which limit a timeout was, in the words of the options that set it.
    let timed_out = |e: &ureq::Error| match e {
        ureq::Error::Timeout(ureq::Timeout::Global) => Some(format!(
            "gave up after {:.0} s, the time limit (--timeout)",
            limits.total.as_secs_f64()
        )),
        ureq::Error::Timeout(_) => Some(format!(
            "stalled: no data for {:.0} s (--timeout, at most 60 s)",
            limits.stall.as_secs_f64()
        )),
        _ => None,
    };
    let response = agent
        .get(url)
        .call()
        .map_err(|e| fail(&timed_out(&e).unwrap_or_else(|| e.to_string())))?;
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
        let inner = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>());
        let over = inner.is_some_and(|u| matches!(u, ureq::Error::BodyExceedsLimit(_)));
        if let Some(message) = inner.and_then(timed_out) {
            fail(&message)
        } else if over {
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
        let t = lines_tail(&mut &data[..], 100, Box::new(|_| false));
        assert!(t.len() >= 100 && t.ends_with(&data[data.len() - 100..]));
    }
}
