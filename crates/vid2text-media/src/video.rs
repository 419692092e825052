//! Pictures and text streams: keyframes sampled by FFmpeg (scene changes and a fixed interval,
//! scaled inside FFmpeg to a bounded size) and embedded text subtitle streams.

use std::sync::mpsc;
use std::time::Duration;

use crate::{ffmpeg_args, run_streaming, run_streaming_lines, Error, ReadError, Result};

/// How keyframes are sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyframeOptions {
    /// A frame at least this often (seconds), whatever the scene score: slides and timecodes
    /// change without a cut.
    pub interval_s: f64,
    /// FFmpeg scene-change score (0..1) above which a frame is taken at once.
    pub scene_threshold: f64,
    /// Frames are scaled (keeping their aspect) to fit in a square of this side.
    pub max_side: u32,
    /// The video is first thinned to this many frames per second, so scene scores and scaling
    /// cost little on 60 fps sources; cuts are placed to within 1/`sample_fps` s.
    pub sample_fps: f64,
    /// Only this many seconds from the start.
    pub max_duration_s: Option<f64>,
}

impl Default for KeyframeOptions {
    fn default() -> Self {
        KeyframeOptions {
            interval_s: 1.0,
            scene_threshold: 0.3,
            max_side: 1280,
            sample_fps: 4.0,
            max_duration_s: None,
        }
    }
}

/// One sampled frame: packed RGB, 3 bytes a pixel, rows top to bottom.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Seconds from the start of the media.
    pub t: f64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// How a keyframe stream ended.
#[derive(Debug, Clone, Default)]
pub struct KeyframesEnd {
    pub frames: u64,
    /// Band crops, with [`keyframes_and_band`].
    pub band_crops: u64,
    pub warnings: String,
}

/// The filters that thin, scale and select the keyframes.
fn keyframe_chain(o: &KeyframeOptions) -> String {
    let m = o.max_side.max(32);
    format!(
        "fps={fps},scale=w='min({m},iw)':h='min({m},ih)':force_original_aspect_ratio=decrease,\
         select='isnan(prev_selected_t)+gte(t-prev_selected_t,{interval})+gt(scene,{scene})'",
        fps = o.sample_fps,
        interval = o.interval_s.max(0.05) - 0.5 / o.sample_fps,
        scene = o.scene_threshold,
    )
}

fn keyframe_args(input: &str, o: &KeyframeOptions) -> Vec<String> {
    let bounded = crate::output_queue_bounded();
    frame_pipe_args(input, o.max_duration_s, &keyframe_chain(o), bounded)
}

/// An output of every frame the filters give, as binary PPM images one after the other.
const PPM_OUTPUT: [&str; 8] = [
    "-fps_mode",
    "passthrough",
    "-f",
    "image2pipe",
    "-c:v",
    "ppm",
    "-pix_fmt",
    "rgb24",
];

/// The PPM output, with its muxer's queue held to one frame where FFmpeg takes that (`bounded`,
/// see [`crate::takes_output_queue_size`]): FFmpeg then decodes no further ahead of the
/// consumer than the pipe holds.
fn ppm_output(bounded: bool) -> Vec<&'static str> {
    let mut output = PPM_OUTPUT.to_vec();
    if bounded {
        output.extend(["-thread_queue_size", "1"]);
    }
    output
}

/// FFmpeg's arguments to run the first video stream (not cover art) through the filters of
/// `chain` and write its frames as PPM images to stdout, with `showinfo`'s lines (frame times)
/// on stderr.
fn frame_pipe_args(
    input: &str,
    max_duration_s: Option<f64>,
    chain: &str,
    bounded: bool,
) -> Vec<String> {
    let filter = format!("{chain},showinfo");
    let mut after = vec!["-map", "0:V:0", "-an", "-sn", "-dn", "-vf", &filter];
    after.extend(ppm_output(bounded));
    after.push("pipe:1");
    ffmpeg_args(&FRAME_INPUT, input, max_duration_s, &after)
}

/// How the runs that give frames start: quiet but for `showinfo`'s lines, one decoding thread,
/// and the frames decoded without H.264's and HEVC's deblocking filter, a fifth of the decode of
/// what platforms serve (x264 `medium`: 1.5 CPU s against 1.85 for a 40 s 720p video). It smooths
/// block edges, which matter to nobody reading text: on the captions benchmark's videos
/// re-encoded with x264 `medium`, and on the real Chinese videos and the shared-data ones, OCR
/// read the same text with it and without it. Codecs without the filter take the option and
/// ignore it.
const FRAME_INPUT: [&str; 7] = [
    "-nostats",
    "-loglevel",
    "info",
    "-threads",
    "1",
    "-skip_loop_filter",
    "all",
];

/// How the caption band is sampled: a strip of the frame, often.
#[derive(Debug, Clone, PartialEq)]
pub struct BandOptions {
    /// The strip, in fractions of the frame height.
    pub y0: f64,
    pub y1: f64,
    /// Frames per second read (a caption shown for 0.7 s is on 3 frames at 5 fps).
    pub fps: f64,
    /// The strip is scaled (keeping its aspect) to at most this width.
    pub max_width: u32,
    /// Only this many seconds from the start.
    pub max_duration_s: Option<f64>,
}

/// The strip `y0..y1` as the band's crop takes it: its top and height in fractions of the frame,
/// at least a hundredth of it high.
fn band_extent(y0: f64, y1: f64) -> (f64, f64) {
    (y0.clamp(0.0, 0.99), (y1 - y0).clamp(0.01, 1.0))
}

/// The pixel rows of a frame `height` rows high that the band's crop keeps ([`band_chain`]'s
/// crop, before any scaling): its first row and how many.
pub fn band_rows(y0: f64, y1: f64, height: usize) -> (usize, usize) {
    let (top, h) = band_extent(y0, y1);
    let even = |f: f64| (height as f64 * f / 2.0).trunc() as usize * 2;
    (even(top), even(h).max(2))
}

/// The filters that sample and crop the band: on even pixel rows (chroma subsampling), at least
/// two, then scaled down (the band of a 4K video is no larger than that of a 720p one once it
/// reaches us). [`band_rows`] says the same rows in Rust.
fn band_chain(o: &BandOptions) -> String {
    let (y0, h) = band_extent(o.y0, o.y1);
    format!(
        "fps={fps},crop=w=iw:h='max(2,trunc(ih*{h}/2)*2)':x=0:y=trunc(ih*{y0}/2)*2,\
         scale=w='min({w},iw)':h=-2",
        fps = o.fps,
        w = o.max_width.max(32),
    )
}

fn band_args(input: &str, o: &BandOptions) -> Vec<String> {
    let bounded = crate::output_queue_bounded();
    frame_pipe_args(input, o.max_duration_s, &band_chain(o), bounded)
}

/// The `pts_time` of a `showinfo` frame line.
fn showinfo_time(line: &str) -> Option<f64> {
    showinfo_time_of(line, "Parsed_showinfo")
}

/// The `pts_time` of a frame line of the `showinfo` instance whose log lines contain `tag`.
fn showinfo_time_of(line: &str, tag: &str) -> Option<f64> {
    if !line.contains(tag) || !line.contains(" n:") {
        return None;
    }
    let rest = &line[line.find("pts_time:")? + "pts_time:".len()..];
    let value = rest.split_whitespace().next()?;
    value.parse::<f64>().ok().filter(|t| t.is_finite())
}

/// A binary PPM (P6) stream cut into frames as bytes arrive.
#[derive(Default)]
struct PpmStream {
    buf: Vec<u8>,
}

impl PpmStream {
    /// Appends bytes; returns the complete frames (width, height, RGB).
    fn push(&mut self, data: &[u8]) -> Result<Vec<(u32, u32, Vec<u8>)>> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some((w, h, header)) = parse_ppm_header(&self.buf)? {
            let size = w as usize * h as usize * 3;
            if self.buf.len() < header + size {
                break;
            }
            let rgb = self.buf[header..header + size].to_vec();
            self.buf.drain(..header + size);
            frames.push((w, h, rgb));
        }
        Ok(frames)
    }
}

impl PpmStream {
    /// [`Self::push`], each frame given its time from `times` (`showinfo` logs a frame before
    /// the encoder writes it); `what` names the output in errors.
    fn push_timed(
        &mut self,
        data: &[u8],
        times: &mpsc::Receiver<f64>,
        what: &str,
    ) -> Result<Vec<Frame>> {
        self.push(data)?
            .into_iter()
            .map(|(width, height, rgb)| {
                let t = times.recv_timeout(Duration::from_secs(30)).map_err(|_| {
                    Error::Invalid(format!("{what}: no timestamp from FFmpeg for a frame"))
                })?;
                Ok(Frame {
                    t,
                    width,
                    height,
                    rgb,
                })
            })
            .collect()
    }

    /// An error when FFmpeg's output ended inside a frame.
    fn finish(&self, what: &str) -> Result<()> {
        match self.buf.is_empty() {
            true => Ok(()),
            false => Err(Error::Invalid(format!(
                "{what}: FFmpeg output ended inside a frame ({} bytes)",
                self.buf.len()
            ))),
        }
    }
}

/// `Some((width, height, header length))` once a whole header is in `buf`.
fn parse_ppm_header(buf: &[u8]) -> Result<Option<(u32, u32, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if &buf[..2] != b"P6" {
        return Err(Error::Invalid("keyframes: FFmpeg did not write PPM".into()));
    }
    let mut fields = [0u64; 3];
    let mut pos = 2;
    for field in &mut fields {
        while pos < buf.len() && buf[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let start = pos;
        while pos < buf.len() && buf[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == buf.len() {
            return Ok(None);
        }
        if pos == start || pos - start > 9 {
            return Err(Error::Invalid("keyframes: malformed PPM header".into()));
        }
        *field = std::str::from_utf8(&buf[start..pos])
            .expect("digits")
            .parse()
            .expect("digits");
    }
    // One whitespace byte ends the header.
    let [w, h, max] = fields;
    if max != 255 || w == 0 || h == 0 || w * h > 64 << 20 {
        return Err(Error::Invalid(format!(
            "keyframes: unexpected PPM frame {w}x{h}, maxval {max}"
        )));
    }
    Ok(Some((w as u32, h as u32, pos + 1)))
}

/// Samples keyframes of an input's first video stream and hands them to `on_frame` in time
/// order. FFmpeg thins the video to `sample_fps`, scales it to fit `max_side`, and keeps a frame
/// when the scene changes or `interval_s` has passed since the last one kept. An error from
/// `on_frame` stops FFmpeg and comes back as [`ReadError::Consumer`]; the time limit covers
/// FFmpeg's own time.
pub fn keyframes<E>(
    input: &str,
    options: &KeyframeOptions,
    limit: Duration,
    on_frame: &mut dyn FnMut(Frame) -> Result<(), E>,
) -> Result<KeyframesEnd, ReadError<E>> {
    frames(&keyframe_args(input, options), limit, on_frame)
}

/// Samples a horizontal band of an input's first video stream (the caption band) at a fixed
/// rate, cropped and scaled inside FFmpeg, and hands the crops to `on_frame` in time order with
/// their presentation times. Errors as for [`keyframes`].
pub fn band_frames<E>(
    input: &str,
    options: &BandOptions,
    limit: Duration,
    on_frame: &mut dyn FnMut(Frame) -> Result<(), E>,
) -> Result<KeyframesEnd, ReadError<E>> {
    frames(&band_args(input, options), limit, on_frame)
}

/// Runs FFmpeg writing PPM frames and `showinfo` lines, and hands each frame with its time to
/// `on_frame`.
fn frames<E>(
    args: &[String],
    limit: Duration,
    on_frame: &mut dyn FnMut(Frame) -> Result<(), E>,
) -> Result<KeyframesEnd, ReadError<E>> {
    let (tx, rx) = mpsc::channel::<f64>();
    let on_stderr = Box::new(move |line: &str| match showinfo_time(line) {
        Some(t) => {
            let _ = tx.send(t);
            true
        }
        // showinfo's second line per frame, and FFmpeg's stream listing at `info` level.
        None => line.contains("Parsed_showinfo") || is_listing(line),
    });
    let mut ppm = PpmStream::default();
    let mut frames = 0u64;
    let warnings = run_streaming_lines(
        "ffmpeg",
        args,
        limit,
        &mut |data| {
            for frame in ppm.push_timed(data, &rx, "keyframes")? {
                frames += 1;
                on_frame(frame).map_err(ReadError::Consumer)?;
            }
            Ok(())
        },
        Some(on_stderr),
    )?;
    ppm.finish("keyframes")?;
    Ok(KeyframesEnd {
        frames,
        band_crops: 0,
        warnings,
    })
}

/// FFmpeg's stream listing at `info` level: not a warning.
fn is_listing(line: &str) -> bool {
    line.starts_with("  ")
        || line.starts_with("Input #")
        || line.starts_with("Output #")
        || line.starts_with("Stream mapping")
        || line.starts_with("Press [q]")
}

/// A frame of [`keyframes_and_band`].
#[derive(Debug, Clone)]
pub enum Sampled {
    Keyframe(Frame),
    Band(Frame),
}

/// The arguments of [`keyframes_and_band`]: one decode `split` into the keyframe chain and the
/// band chain of [`keyframe_args`] and [`band_args`], each with its own named `showinfo`
/// (logged as `[v2t_keys @ 0x…]` by FFmpeg 6, `[showinfo@v2t_keys @ 0x…]` by 5).
fn dual_args(input: &str, k: &KeyframeOptions, b: &BandOptions) -> Vec<String> {
    let graph = format!(
        "[0:V:0]split=2[a][b];[a]{},showinfo@v2t_keys[k];[b]{},showinfo@v2t_band[s]",
        keyframe_chain(k),
        band_chain(b),
    );
    let mut before = FRAME_INPUT.to_vec();
    before.extend(["-filter_complex_threads", "1"]);
    let mut args = ffmpeg_args(&before, input, None, &["-filter_complex", &graph]);
    // Each output its own time limit (`-t` is an output option), threads and pipe: keyframes
    // on stdout, the band on the child's stdin (a pipe opened for writing).
    for (label, max, pipe) in [
        ("[k]", k.max_duration_s, "pipe:1"),
        ("[s]", b.max_duration_s, "pipe:0"),
    ] {
        if let Some(max) = max {
            args.extend(["-t".to_string(), format!("{max:.3}")]);
        }
        args.extend(["-map", label, "-threads", "1"].map(String::from));
        args.extend(
            ppm_output(crate::output_queue_bounded())
                .into_iter()
                .map(String::from),
        );
        args.push(pipe.to_string());
    }
    args
}

/// Output of [`keyframes_and_band`]'s FFmpeg, as read from one pipe or the other.
enum Chunk {
    Keys(Vec<u8>),
    Band(Vec<u8>),
}

/// Reads (of up to 64 KiB) of [`keyframes_and_band`]'s two pipes not yet taken: FFmpeg waits
/// beyond this (16 MiB, a few frames).
const CHUNK_QUEUE: usize = 256;

/// [`keyframes`] and [`band_frames`] from one decode of the video. Both kinds go to `on_frame`
/// on this thread in the order FFmpeg writes them (each kind in time order). Two threads read
/// FFmpeg's two pipes into one short queue of bytes, so FFmpeg runs ahead of `on_frame` by a
/// few frames at most, whichever output it is writing, and frames are made on this thread.
/// Errors as for [`keyframes`]; the end counts keyframes and band crops.
pub fn keyframes_and_band<E>(
    input: &str,
    keyframes: &KeyframeOptions,
    band: &BandOptions,
    limit: Duration,
    on_frame: &mut dyn FnMut(Sampled) -> Result<(), E>,
) -> Result<KeyframesEnd, ReadError<E>> {
    let (key_tx, key_rx) = mpsc::channel::<f64>();
    let (band_tx, band_rx) = mpsc::channel::<f64>();
    let on_stderr = Box::new(move |line: &str| {
        if let Some(t) = showinfo_time_of(line, "v2t_keys @ ") {
            let _ = key_tx.send(t);
            return true;
        }
        if let Some(t) = showinfo_time_of(line, "v2t_band @ ") {
            let _ = band_tx.send(t);
            return true;
        }
        line.contains("v2t_keys @ ") || line.contains("v2t_band @ ") || is_listing(line)
    });
    let (mut reader, writer) =
        std::io::pipe().map_err(|e| Error::Invalid(format!("band pipe: {e}")))?;
    let (tx, rx) = mpsc::sync_channel::<Chunk>(CHUNK_QUEUE);
    let clock = crate::SharedClock::default();
    // The band, from the child's stdin.
    let band_sender = tx.clone();
    let band_clock = std::sync::Arc::clone(&clock);
    let band_reader = std::thread::spawn(move || -> Result<()> {
        let mut buf = vec![0u8; 65536];
        loop {
            let got = match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => return Ok(()),
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Invalid(format!("reading the band: {e}"))),
            };
            // Waiting on the consumer is not FFmpeg's time (its time limit).
            band_clock.lock().expect("clock").enter();
            let sent = band_sender.send(Chunk::Band(buf[..got].to_vec()));
            band_clock.lock().expect("clock").leave();
            if sent.is_err() {
                return Ok(()); // the consumer stopped
            }
        }
    });
    // The keyframes, from its stdout, with the child's time limit and warnings.
    let args = dual_args(input, keyframes, band);
    let key_reader = std::thread::spawn(move || -> Result<String, ReadError<()>> {
        crate::run_streaming_with_stdin(
            "ffmpeg",
            &args,
            limit,
            &mut |data| {
                tx.send(Chunk::Keys(data.to_vec()))
                    .map_err(|_| ReadError::Consumer(()))
            },
            Some(on_stderr),
            writer.into(),
            clock,
        )
    });
    let (mut keys, mut crops) = (PpmStream::default(), PpmStream::default());
    let mut end = KeyframesEnd::default();
    let mut take = |chunk: Chunk| -> Result<(), ReadError<E>> {
        match chunk {
            Chunk::Keys(data) => {
                for frame in keys.push_timed(&data, &key_rx, "keyframes")? {
                    end.frames += 1;
                    on_frame(Sampled::Keyframe(frame)).map_err(ReadError::Consumer)?;
                }
            }
            Chunk::Band(data) => {
                for frame in crops.push_timed(&data, &band_rx, "caption band")? {
                    end.band_crops += 1;
                    on_frame(Sampled::Band(frame)).map_err(ReadError::Consumer)?;
                }
            }
        }
        Ok(())
    };
    let mut taken = Ok(());
    for chunk in rx.iter() {
        taken = take(chunk);
        if taken.is_err() {
            break;
        }
    }
    drop(rx); // a stopped consumer stops both readers, and FFmpeg with them
    let run = key_reader.join().expect("keyframe reader");
    let band_read = band_reader.join().expect("band reader");
    taken?;
    // A band that could not be read broke FFmpeg's second output: its error says why.
    end.warnings = match run {
        Ok(warnings) => warnings,
        Err(ReadError::Media(e)) => {
            band_read?;
            return Err(ReadError::Media(e));
        }
        // Only when this thread stopped reading, which it returned from above.
        Err(ReadError::Consumer(())) => {
            return Err(Error::Invalid("keyframes: stopped".into()).into())
        }
    };
    band_read?;
    keys.finish("keyframes")?;
    crops.finish("caption band")?;
    Ok(end)
}

/// One subtitle cue: times in seconds, text with markup removed (lines joined by `\n`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Reads one embedded text subtitle stream (by its container index) as cues, through FFmpeg's
/// SRT encoder: every text format FFmpeg reads (mov_text, SubRip, WebVTT, ASS/SSA, ...) works.
pub fn read_subtitle_stream(
    input: &str,
    stream_index: u32,
    max_duration_s: Option<f64>,
    limit: Duration,
) -> Result<Vec<Cue>> {
    let map = format!("0:{stream_index}");
    let args = ffmpeg_args(
        &["-loglevel", "error"],
        input,
        max_duration_s,
        &["-map", &map, "-f", "srt", "pipe:1"],
    );
    let mut out = Vec::new();
    run_streaming("ffmpeg", &args, limit, &mut |b| {
        if out.len() + b.len() > 64 << 20 {
            return Err(Error::Invalid("subtitle stream over 64 MiB".into()).into());
        }
        out.extend_from_slice(b);
        Ok::<_, ReadError<std::convert::Infallible>>(())
    })
    .map_err(ReadError::media)?;
    Ok(parse_srt(&String::from_utf8_lossy(&out)))
}

/// Parses SubRip text as FFmpeg writes it; cues without text are dropped.
pub fn parse_srt(srt: &str) -> Vec<Cue> {
    let srt = srt.replace("\r\n", "\n");
    let mut cues = Vec::new();
    for block in srt.split("\n\n") {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some(timing) = lines.next() else { continue };
        let mut parts = timing.split("-->");
        let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Some(start), Some(end)) = (
            srt_time(a),
            srt_time(b.split_whitespace().next().unwrap_or("")),
        ) else {
            continue;
        };
        let text: Vec<String> = lines
            .map(strip_markup)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if !text.is_empty() {
            cues.push(Cue {
                start,
                end: end.max(start),
                text: text.join("\n"),
            });
        }
    }
    cues
}

/// `HH:MM:SS,mmm` (or with a dot) in seconds.
fn srt_time(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    let mut total = 0.0;
    for part in s.split(':') {
        let v: f64 = part.parse().ok()?;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        total = total * 60.0 + v;
    }
    Some(total)
}

/// Removes HTML-like tags (`<i>`, `<font ...>`) and ASS override blocks (`{\an8}`).
fn strip_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth: Option<char> = None;
    for c in line.chars() {
        match (depth, c) {
            (None, '<') => depth = Some('>'),
            (None, '{') => depth = Some('}'),
            (Some(close), c) if c == close => depth = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out.replace("\\N", " ").replace("\\h", " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// The FFmpeg vid2text starts: the static build `scripts/setup.sh` unpacks into the model
    /// directory (FFmpeg 6), else the one on `PATH`.
    fn production_ffmpeg() -> std::path::PathBuf {
        let models = std::env::var_os("VID2TEXT_MODELS")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_default();
                std::path::Path::new(&home).join(".cache/vid2text/models")
            });
        let bundled = models.join("ffmpeg/ffmpeg");
        match bundled.is_file() {
            true => bundled,
            false => "ffmpeg".into(),
        }
    }

    /// FFmpeg's `testsrc2` for `secs` seconds (320 x 240, 25 fps, x264) in `dir`.
    fn testsrc_video(dir: &std::path::Path, secs: u32) -> std::path::PathBuf {
        let video = dir.join("v.mp4");
        let st = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi"])
            .arg("-i")
            .arg(format!("testsrc2=size=320x240:rate=25:duration={secs}"))
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&video)
            .status()
            .expect("ffmpeg");
        assert!(st.success());
        video
    }

    /// The band read in the keyframes' decode is the band pass's crop, pixel for pixel and time
    /// for time; the keyframes are those of the keyframe pass.
    #[test]
    fn one_decode_gives_the_keyframes_and_the_band_pass_crops() {
        let dir = tempfile::tempdir().unwrap();
        let video = testsrc_video(dir.path(), 3);
        let input = video.to_str().unwrap();
        let limit = Duration::from_secs(60);
        let keys = KeyframeOptions::default();
        let band = BandOptions {
            y0: 0.7,
            y1: 0.9,
            fps: 5.0,
            max_width: 1280,
            max_duration_s: None,
        };
        let mut crops = Vec::new();
        band_frames(input, &band, limit, &mut |f| {
            crops.push((f.t, f.width, f.height, f.rgb));
            Ok::<_, ()>(())
        })
        .unwrap();
        let mut alone = Vec::new();
        keyframes(input, &keys, limit, &mut |f| {
            alone.push((f.t, f.rgb));
            Ok::<_, ()>(())
        })
        .unwrap();
        let (mut one_crops, mut one_keyframes) = (Vec::new(), Vec::new());
        let end = keyframes_and_band(input, &keys, &band, limit, &mut |s| {
            match s {
                Sampled::Keyframe(f) => one_keyframes.push((f.t, f.rgb)),
                Sampled::Band(f) => one_crops.push((f.t, f.width, f.height, f.rgb)),
            }
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(crops.len(), 15);
        // band_rows names the rows FFmpeg's crop keeps: the first crop is those rows of the
        // first keyframe (the same frame, at its size).
        let (y, n) = band_rows(band.y0, band.y1, 240);
        assert_eq!((crops[0].1, crops[0].2), (320, n as u32));
        // The pictures differ a little (the two chains convert to RGB apart, the keyframes'
        // through their scaler), so the rows are those whose pixels are closest to the crop's.
        let mean_diff = |y: usize| {
            let rows = &alone[0].1[y * 320 * 3..(y + n) * 320 * 3];
            let sum: u64 = crops[0]
                .3
                .iter()
                .zip(rows)
                .map(|(a, b)| a.abs_diff(*b) as u64)
                .sum();
            sum as f64 / rows.len() as f64
        };
        let at = mean_diff(y);
        assert!(
            at < 8.0 && at < mean_diff(y - 2) && at < mean_diff(y + 2),
            "the crop is not rows {y}..{} of the frame",
            y + n
        );
        assert_eq!((end.frames, end.band_crops), (alone.len() as u64, 15));
        assert!(one_keyframes == alone, "the keyframes differ");
        for (a, b) in crops.iter().zip(&one_crops) {
            assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2));
            assert!(a.3 == b.3, "the crop at {} s differs", a.0);
        }
    }

    /// A consumer that stops after the first keyframe (the run that looks for the caption band)
    /// finds FFmpeg a few keyframes further at most: FFmpeg 6's muxer thread, left at its
    /// default queue, decodes ten seconds of this video ahead of a consumer that waits.
    #[test]
    fn a_keyframe_run_stopped_early_has_decoded_little_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let video = testsrc_video(dir.path(), 30);
        let ffmpeg = production_ffmpeg();
        let bounded = crate::takes_output_queue_size(&ffmpeg);
        let chain = keyframe_chain(&KeyframeOptions::default());
        let args = frame_pipe_args(video.to_str().unwrap(), None, &chain, bounded);
        let mut child = Command::new(&ffmpeg)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        // Part of the first keyframe (a 320 x 240 frame is 230 KB), then a consumer at work.
        let mut first = vec![0u8; 65536];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        let _ = child.kill();
        let _ = child.wait();
        drop(stdout);
        let shown = log
            .join()
            .unwrap()
            .lines()
            .filter(|l| showinfo_time(l).is_some())
            .count();
        assert!(
            shown <= 5,
            "{} (output queue bounded: {bounded}) sent {shown} keyframes through its filters \
             while the consumer held the first",
            ffmpeg.display()
        );
    }

    #[test]
    fn ppm_frames_split_across_reads() {
        let mut data = Vec::new();
        for v in [7u8, 9] {
            data.extend_from_slice(b"P6\n2 1\n255\n");
            data.extend_from_slice(&[v; 6]);
        }
        let mut s = PpmStream::default();
        let mut got = Vec::new();
        for b in data.chunks(3) {
            got.extend(s.push(b).unwrap());
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (2, 1, vec![7; 6]));
        assert_eq!(got[1], (2, 1, vec![9; 6]));
        assert!(s.buf.is_empty());
        assert!(PpmStream::default().push(b"GIF89a").is_err());
        assert!(PpmStream::default().push(b"P6\n2 1\n65535\n").is_err());
    }

    #[test]
    fn showinfo_lines() {
        let l = "[Parsed_showinfo_3 @ 0x55d0c] n:   4 pts:     40 pts_time:10      duration:1 fmt:rgb24";
        assert_eq!(showinfo_time(l), Some(10.0));
        assert_eq!(
            showinfo_time("[Parsed_showinfo_3 @ 0x55] n:   0 pts: 3 pts_time:0.75 x"),
            Some(0.75)
        );
        assert_eq!(
            showinfo_time("[Parsed_showinfo_3 @ 0x55]   side data - display matrix"),
            None
        );
    }

    #[test]
    fn srt_is_parsed_without_markup() {
        let srt = "1\r\n00:00:00,000 --> 00:00:01,000\r\noop\r\n\r\n2\n00:00:01,000 --> 00:00:02,500\n<i>boop</i> {\\an8}beep\nline two\n\n3\n00:01:00,000 --> 00:01:01,000\n<b></b>\n\n";
        let cues = parse_srt(srt);
        assert_eq!(
            cues,
            vec![
                Cue {
                    start: 0.0,
                    end: 1.0,
                    text: "oop".into()
                },
                Cue {
                    start: 1.0,
                    end: 2.5,
                    text: "boop beep\nline two".into()
                },
            ]
        );
        assert!(parse_srt("garbage\n\n-->\n\n").is_empty());
    }
}
