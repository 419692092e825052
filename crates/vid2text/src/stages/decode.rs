//! The decode stage: for each input, the checks (regular file, not empty), the download of a
//! URL, ffprobe, the content hash, then the audio streamed through FFmpeg and Silero VAD and cut
//! into speech windows that go to the ASR stage as they are ready. Inputs with a picture (or
//! subtitle streams) are handed to the visual stage meanwhile.
//!
//! Memory stays flat: inputs up to [`KEEP_SAMPLES`] are decoded once and kept; longer ones are
//! decoded a second time and their windows cut out as the samples go by
//! ([`vid2text_models::windows::WindowCutter`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use vid2text_core::doc::{Failure, Stage};
use vid2text_core::input::{self, Input, Location};
use vid2text_core::SAMPLE_RATE;
use vid2text_media::ReadError;
use vid2text_models::vad::{speech_spans, SileroVad, VadConfig, VadStream};
use vid2text_models::windows::{
    cut_window, plan_fixed_windows, plan_windows, WindowCutter, WindowPlan,
};

use super::clock::{self, Part};
use super::{Audio, DecodeJob, Header, InputKey, RemoveOnDrop, VisualJob};

/// Inputs up to this long (in samples: 10 min) are decoded once and kept in memory; longer ones
/// are decoded a second time to cut their windows, so memory stays flat however long they are.
pub const KEEP_SAMPLES: usize = 10 * 60 * SAMPLE_RATE;

/// Without VAD, windows of this many samples (10 min) are walked 30 s at a time.
const FIXED_WINDOW: usize = 10 * 60 * SAMPLE_RATE;

/// The decode stage's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Time limit of each ffprobe and ffmpeg child (FFmpeg's own time), and of each download.
    pub timeout: Duration,
    /// Only the first seconds of longer inputs (`--max-duration`).
    pub max_duration_s: Option<f64>,
    pub max_download_bytes: u64,
    /// Where http(s) inputs are downloaded (`OUT/downloads`).
    pub downloads: PathBuf,
    /// Speech detection; None without VAD (`--no-vad`: fixed windows).
    pub vad: Option<VadConfig>,
    /// Pauses up to this long stay inside a window as audio.
    pub max_kept_pause_s: f64,
    /// Inputs with a video stream go to the visual stage (OCR is on).
    pub ocr: bool,
}

impl Config {
    /// `duration_s` cut at `--max-duration`, when one is given.
    pub fn capped(&self, duration_s: f64) -> f64 {
        self.max_duration_s
            .map_or(duration_s, |m| duration_s.min(m))
    }
}

/// A decode worker: its settings and its own VAD session.
pub struct Decoder {
    config: Arc<Config>,
    vad: Option<SileroVad>,
}

/// Why an input's decoding stopped early.
enum Stop {
    /// The input failed: recorded, the run goes on.
    Failed(Failure),
    /// A stage downstream is gone: the run is stopping.
    Gone,
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failed(f)
    }
}

/// An input's bytes on this machine: the file itself, or the download of a URL (removed once
/// both stages are done with it).
struct Local {
    path: PathBuf,
    download: Option<Arc<RemoveOnDrop>>,
}

/// The first pass over an input's audio.
struct FirstPass {
    /// The samples, when the input is short enough to keep.
    kept: Option<Vec<f32>>,
    /// The windows to decode.
    plans: Vec<WindowPlan>,
}

impl Decoder {
    /// A worker; loads its VAD session (`vad_model` with VAD on).
    pub fn build(config: Arc<Config>, vad_model: Option<&Path>) -> anyhow::Result<Self> {
        let vad = match (&config.vad, vad_model) {
            (Some(_), Some(model)) => Some(SileroVad::load(model)?),
            _ => None,
        };
        Ok(Decoder { config, vad })
    }

    /// Decodes every input that comes until the channel closes or a stage downstream is gone.
    pub fn run(mut self, rx: Receiver<DecodeJob>, tx: Sender<Audio>, visual: Sender<VisualJob>) {
        for job in rx {
            if crate::stop::requested() {
                break; // the rest is left for the rerun
            }
            let key = job.key;
            let mut sent_visual = false;
            let stop = match self.decode(job, &tx, &visual, &mut sent_visual) {
                Ok(()) => continue,
                Err(stop) => stop,
            };
            let failed = match stop {
                Stop::Failed(failure) => Audio::Failed {
                    key,
                    failure,
                    visual: sent_visual,
                },
                Stop::Gone => break,
            };
            if tx.send(failed).is_err() {
                break;
            }
        }
    }

    fn decode(
        &mut self,
        job: DecodeJob,
        tx: &Sender<Audio>,
        visual: &Sender<VisualJob>,
        sent_visual: &mut bool,
    ) -> Result<(), Stop> {
        let c = Arc::clone(&self.config);
        let DecodeJob { key, input } = job;
        let probe_began = Instant::now();
        let local = self.local_bytes(&input)?;
        let target = local.path.display().to_string();
        let fail = |stage: Stage, e: &dyn std::fmt::Display| Failure::new(&input.uri, stage, e);
        let info = vid2text_media::probe(&target, c.timeout).map_err(|e| fail(Stage::Probe, &e))?;
        let id = input::document_id(&input, &local.path)
            .map_err(|e| fail(Stage::Input, &input::io_message(&e)))?;
        clock::add(Part::Probe, probe_began);
        let truncated_s = c.max_duration_s.filter(|&m| info.duration_s > m);
        // Screen text and subtitle streams are read by the visual stage meanwhile.
        if (c.ocr && info.has_video()) || !info.subtitles.is_empty() {
            let job = VisualJob {
                key,
                uri: input.uri.clone(),
                target: target.clone(),
                info: info.clone(),
                download: local.download.clone(),
            };
            visual.send(job).map_err(|_| Stop::Gone)?;
            *sent_visual = true;
        }
        let has_audio = info.has_audio();
        let audio_s = c.capped(info.audio_duration_s());
        let header = Box::new(Header {
            input,
            id,
            info,
            truncated_s,
        });
        let uri = header.input.uri.clone();
        let first = match has_audio {
            true => Some(self.first_pass(&uri, &target, audio_s)?),
            false => None,
        };
        let begin = Audio::Begin {
            key,
            header,
            visual: *sent_visual,
        };
        send(tx, begin)?;
        let Some(first) = first else {
            return send(tx, Audio::End(key)); // no audio: a document without speech
        };
        match first.kept {
            Some(audio) => {
                for plan in first.plans {
                    let samples = cut_window(&audio, &plan);
                    send(tx, window(key, plan, samples))?;
                }
            }
            None => self.second_pass(key, &uri, &target, first.plans, tx)?,
        }
        send(tx, Audio::End(key))
    }

    /// Checks a file input before it is opened (a FIFO would block; a directory is not media),
    /// or downloads a URL into `OUT/downloads`.
    fn local_bytes(&self, input: &Input) -> Result<Local, Failure> {
        let fail = |stage: Stage, e: &dyn std::fmt::Display| Failure::new(&input.uri, stage, e);
        match &input.location {
            Location::File(p) => {
                let why = match std::fs::metadata(p) {
                    Err(e) => Some(input::io_message(&e)),
                    Ok(m) if m.is_dir() => Some("is a directory".into()),
                    Ok(m) if !m.is_file() => {
                        Some("not a regular file (fifo, socket or device)".into())
                    }
                    Ok(m) if m.len() == 0 => Some("empty file (0 bytes)".into()),
                    Ok(_) => std::fs::File::open(p).err().map(|e| input::io_message(&e)),
                };
                match why {
                    Some(why) => Err(fail(Stage::Input, &why)),
                    None => Ok(Local {
                        path: p.clone(),
                        download: None,
                    }),
                }
            }
            Location::Url(u) => {
                let c = &self.config;
                let digest = <sha2::Sha256 as sha2::Digest>::digest(u.as_bytes());
                let dest = c
                    .downloads
                    .join(format!("{}.download", &input::to_hex(&digest)[..24]));
                let limits = vid2text_media::DownloadLimits {
                    max_bytes: c.max_download_bytes,
                    total: c.timeout,
                    stall: c.timeout.min(Duration::from_secs(60)),
                };
                vid2text_media::download(u, &dest, limits)
                    .map_err(|e| fail(Stage::Download, &e))?;
                Ok(Local {
                    download: Some(Arc::new(RemoveOnDrop(dest.clone()))),
                    path: dest,
                })
            }
        }
    }

    /// Pass 1: decodes the audio, feeds VAD, keeps the samples of short inputs; checks that
    /// the audio is as long as stated (`audio_s`) and plans the windows.
    fn first_pass(&mut self, uri: &str, target: &str, audio_s: f64) -> Result<FirstPass, Failure> {
        let c = &self.config;
        let mut stream = VadStream::new();
        let mut kept = Some(Vec::new());
        let vad = &mut self.vad;
        let began = Instant::now();
        let mut vad_s = Duration::ZERO;
        let end = vid2text_media::decode_audio_stream(
            target,
            c.timeout,
            c.max_duration_s,
            &mut |chunk| {
                if let Some(v) = vad.as_mut() {
                    let t = Instant::now();
                    stream.push(v, chunk)?;
                    vad_s += t.elapsed();
                }
                if let Some(k) = &mut kept {
                    if k.len() + chunk.len() > KEEP_SAMPLES {
                        kept = None;
                    } else {
                        k.extend_from_slice(chunk);
                    }
                }
                Ok::<_, vid2text_models::Error>(())
            },
        );
        // The read loop's time less VAD's inside it.
        clock::add_duration(Part::Audio, began.elapsed().saturating_sub(vad_s));
        let end = end.map_err(|e| match e {
            ReadError::Consumer(vad) => Failure::from_error(uri, Stage::Vad, &vad),
            ReadError::Media(e) => Failure::new(uri, Stage::Decode, e),
        })?;
        let total = end.samples as usize;
        // FFmpeg decodes what it can of a damaged file and exits 0: a file whose audio ends well
        // before its stated duration is truncated or corrupt, not a short document.
        let got = total as f64 / SAMPLE_RATE as f64;
        if audio_s > 0.0 && got < audio_s * 0.9 - 0.5 {
            let mut msg =
                format!("truncated or corrupt: decoded {got:.1} s of {audio_s:.1} s of audio");
            if !end.warnings.is_empty() {
                msg += &format!(" (ffmpeg: {})", end.warnings);
            }
            return Err(Failure::new(uri, Stage::Decode, msg));
        }
        let plans = match self.vad.as_mut() {
            Some(v) => {
                let t = Instant::now();
                let probs = stream.finish(v);
                clock::add_duration(Part::Vad, vad_s + t.elapsed());
                let probs = probs.map_err(|e| Failure::from_error(uri, Stage::Vad, &e))?;
                let vad = c.vad.as_ref().expect("a VAD session has its config");
                let spans = speech_spans(&probs, total, vad);
                let max_gap = (c.max_kept_pause_s * SAMPLE_RATE as f64) as usize;
                plan_windows(&spans, max_gap)
            }
            None => plan_fixed_windows(total, FIXED_WINDOW),
        };
        Ok(FirstPass { kept, plans })
    }

    /// Pass 2: decodes again and cuts the windows out as the samples go by, sending each once
    /// its last range is complete.
    fn second_pass(
        &self,
        key: InputKey,
        uri: &str,
        target: &str,
        plans: Vec<WindowPlan>,
        tx: &Sender<Audio>,
    ) -> Result<(), Stop> {
        let c = &self.config;
        let mut cutter = WindowCutter::new(plans);
        // Time waiting for the ASR stage to take a window is not decoding time.
        let waited = std::cell::Cell::new(Duration::ZERO);
        let mut send_window = |plan: WindowPlan, samples: Vec<f32>| {
            let t = Instant::now();
            let sent = send(tx, window(key, plan, samples));
            waited.set(waited.get() + t.elapsed());
            sent
        };
        let began = Instant::now();
        let second = vid2text_media::decode_audio_stream(
            target,
            c.timeout,
            c.max_duration_s,
            &mut |chunk| cutter.push(chunk, &mut send_window),
        );
        clock::add_duration(Part::Audio, began.elapsed().saturating_sub(waited.get()));
        match second {
            Ok(_) => {}
            Err(ReadError::Consumer(stop)) => return Err(stop),
            Err(ReadError::Media(e)) => {
                let f = Failure::new(uri, Stage::Decode, format!("second pass: {e}"));
                return Err(Stop::Failed(f));
            }
        }
        // Audio shorter on the second pass than the first: what is there is sent.
        cutter.finish(&mut send_window)
    }
}

fn window(key: InputKey, plan: WindowPlan, audio: Vec<f32>) -> Audio {
    Audio::Window {
        key,
        ranges: plan.ranges,
        audio,
        speech_starts: plan.speech_starts,
    }
}

fn send(tx: &Sender<Audio>, msg: Audio) -> Result<(), Stop> {
    if crate::stop::requested() {
        return Err(Stop::Gone); // an input in flight at a stop is left for the rerun
    }
    tx.send(msg).map_err(|_| Stop::Gone)
}
