//! What a run did: the summary line on stderr and the `--json` object.

use vid2text_core::round;
use vid2text_models::whisper::ModelTimes;

/// What a run did, printed as its last line (and as JSON with `--json`).
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    /// Documents committed by this run.
    pub documents: usize,
    /// Inputs that failed in this run.
    pub failed: usize,
    /// Inputs left out whole by this run (OUT/dropped/: duplicates, languages, too short).
    pub dropped: usize,
    /// Inputs already committed by an earlier run (documents or failures), not redone.
    pub skipped: usize,
    /// Skipped inputs that an earlier run recorded as failed.
    pub failed_before: usize,
    pub media_s: f64,
    pub speech_s: f64,
    /// Keyframes sampled and keyframes read by OCR (the rest were near-identical), over the
    /// documents of this run.
    pub keyframes: u64,
    pub ocr_frames: u64,
    /// Seconds the visual workers spent (keyframe decoding, OCR, subtitle streams), summed.
    pub visual_s: f64,
    pub wall_s: f64,
    /// Peak resident memory of the process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Where the time went, stage by stage.
    pub stages: StageSeconds,
    pub output: String,
    /// The signal that stopped the run early (`SIGTERM`, `SIGINT`); absent when it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Inputs left for the rerun by the stop: in flight when it came, or failed after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_for_rerun: Option<usize>,
}

/// Seconds each stage spent working, summed over its workers (a stage with two workers busy
/// for the whole run counts twice the wall time), with the CPU time of the process and of its
/// FFmpeg children. Waiting on another stage is not counted.
#[derive(Debug, Default, serde::Serialize)]
pub struct StageSeconds {
    /// ffprobe, the content hash and downloads.
    pub probe_s: f64,
    /// Reading the audio FFmpeg decodes (FFmpeg's own work is in `ffmpeg_cpu_s`).
    pub audio_s: f64,
    /// Silero VAD.
    pub vad_s: f64,
    /// Whisper's log-mel features.
    pub mel_s: f64,
    /// Whisper's encoder, and the windows it read (packs count once; seeks and fallbacks again).
    pub encoder_s: f64,
    pub windows_encoded: u64,
    /// Whisper's decoder (the search over tokens, beam or sampling).
    pub decoder_s: f64,
    /// Keyframes, OCR, caption bands and subtitle streams (as `visual_s` above).
    pub visual_s: f64,
    /// Of `visual_s`: OCR's text detector on whole keyframes and on caption band crops, and its
    /// recognizer, with how many frames, crops and lines each read (the image work around each
    /// model included). The rest is the video decode's pipes, prints and bookkeeping.
    pub ocr_frame_detect_s: f64,
    pub ocr_frames_detected: u64,
    pub ocr_band_detect_s: f64,
    pub ocr_bands_detected: u64,
    pub ocr_recognize_s: f64,
    pub ocr_lines_recognized: u64,
    /// Assembling, filtering and committing documents.
    pub writer_s: f64,
    /// CPU time (user + system) of this process, and of the FFmpeg and ffprobe children.
    pub cpu_s: f64,
    pub ffmpeg_cpu_s: f64,
}

impl StageSeconds {
    /// The counters now, at the end of a run.
    pub fn now(model: &ModelTimes, visual_s: f64) -> Self {
        use crate::stages::clock::{cpu_seconds, seconds, Part};
        let (cpu_s, children_s) = cpu_seconds();
        let r = |v: f64| round(v, 3);
        let ocr = crate::stages::clock::ocr();
        StageSeconds {
            probe_s: r(seconds(Part::Probe)),
            audio_s: r(seconds(Part::Audio)),
            vad_s: r(seconds(Part::Vad)),
            mel_s: r(model.mel_s),
            encoder_s: r(model.encoder_s),
            windows_encoded: model.windows_encoded,
            decoder_s: r(model.decoder_s),
            visual_s,
            ocr_frame_detect_s: r(ocr.frame_detect.as_secs_f64()),
            ocr_frames_detected: ocr.frames_detected,
            ocr_band_detect_s: r(ocr.band_detect.as_secs_f64()),
            ocr_bands_detected: ocr.bands_detected,
            ocr_recognize_s: r(ocr.recognize.as_secs_f64()),
            ocr_lines_recognized: ocr.lines_recognized,
            writer_s: r(seconds(Part::Writer)),
            cpu_s: r(cpu_s),
            ffmpeg_cpu_s: r(children_s),
        }
    }
}

impl Summary {
    pub fn line(&self) -> String {
        let speed = if self.wall_s > 0.0 {
            self.media_s / self.wall_s
        } else {
            0.0
        };
        let mut s = format!(
            "{} inputs: {} new documents, {} failed",
            self.inputs, self.documents, self.failed
        );
        if self.dropped > 0 {
            s += &format!(", {} left out (OUT/dropped)", self.dropped);
        }
        if self.skipped > 0 {
            s += &format!(
                ", {} already committed ({} as failures)",
                self.skipped, self.failed_before
            );
        }
        if let Some(sig) = &self.stopped {
            s = format!(
                "stopped by {sig}: {s}; the rest left for the rerun (run the same command again)"
            );
        }
        s += &format!(
            "; {} of media in {} ({speed:.1}x real time, peak memory {:.0} MiB) -> {}",
            human_duration(self.media_s),
            human_duration(self.wall_s),
            self.peak_rss_mib,
            self.output
        );
        s
    }

    /// Whether any input of the job is recorded as failed (now or by an earlier run).
    pub fn any_failed(&self) -> bool {
        self.failed + self.failed_before > 0
    }
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| round(kb / 1024.0, 1))
        .unwrap_or(0.0)
}

fn human_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.2} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}
