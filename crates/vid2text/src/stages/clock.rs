//! Where a run's time goes: each stage adds the time it spends working (not waiting on a
//! channel) to one process-wide counter, summed over its workers. The run's summary reports
//! them next to the process's CPU time and its FFmpeg children's, so the benchmark can say
//! which stage bounds a run without a profiler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vid2text_models::ocr::OcrTimes;

/// A stage's counter.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// ffprobe, the content hash and downloads.
    Probe,
    /// Reading FFmpeg's decoded audio (its decoding runs in the child meanwhile).
    Audio,
    /// Silero VAD.
    Vad,
    /// Assembling, filtering and committing documents.
    Writer,
}

static NANOS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Adds the time since `began` to `part`.
pub fn add(part: Part, began: Instant) {
    add_duration(part, began.elapsed());
}

/// Adds `d` to `part`.
pub fn add_duration(part: Part, d: Duration) {
    NANOS[part as usize].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
}

/// Runs `f`, adding its time to `part`.
pub fn timed<T>(part: Part, f: impl FnOnce() -> T) -> T {
    let began = Instant::now();
    let out = f();
    add(part, began);
    out
}

/// OCR's time, summed over the visual workers (each adds its engine's after each input).
static OCR: std::sync::Mutex<OcrTimes> = std::sync::Mutex::new(OcrTimes {
    frame_detect: Duration::ZERO,
    frames_detected: 0,
    band_detect: Duration::ZERO,
    bands_detected: 0,
    recognize: Duration::ZERO,
    lines_recognized: 0,
});

/// Adds an OCR engine's times.
pub fn add_ocr(t: OcrTimes) {
    *OCR.lock().unwrap_or_else(|e| e.into_inner()) += t;
}

/// OCR's times so far.
pub fn ocr() -> OcrTimes {
    *OCR.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seconds counted for `part` so far.
pub fn seconds(part: Part) -> f64 {
    NANOS[part as usize].load(Ordering::Relaxed) as f64 / 1e9
}

/// CPU seconds (user + system) of this process and of its children that have been waited
/// for (FFmpeg, ffprobe), from `/proc/self/stat`; zeros where that is not readable.
pub fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // The fields after the command name (which may hold spaces) start at the state, field 3.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17: 11-14 after the state. Linux reports
    // them in USER_HZ, 100 on every architecture it runs on.
    let tick = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (tick(11) + tick(12), tick(13) + tick(14))
}
