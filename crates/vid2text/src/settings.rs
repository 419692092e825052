//! Validated settings of `vid2text run`: everything is checked here, before any input is touched,
//! so that configuration mistakes exit with code 2 and a clear message.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};
use vid2text_core::render::TextFormat;
use vid2text_core::subtitles::SubtitleFormat;
use vid2text_media::KeyframeOptions;
use vid2text_models::ocr::RAPIDOCR_DET_LIMIT;
use vid2text_models::ocr_image::DetLimit;
use vid2text_models::registry;
use vid2text_models::vad::VadConfig;
use vid2text_models::whisper::{DecodeConfig, EngineConfig, EngineDevice};

use crate::cli::{DeviceArg, RunArgs};

pub struct Settings {
    pub inputs: Vec<String>,
    pub output: PathBuf,
    pub models_dir: PathBuf,
    pub asr_model_dir: PathBuf,
    /// The name documents carry in `pipeline.asr_model`.
    pub asr_model_name: String,
    pub vad_model: Option<PathBuf>,
    pub onnxruntime: Option<PathBuf>,
    pub engine: EngineConfig,
    pub decode: DecodeConfig,
    pub vad: VadConfig,
    /// PP-OCRv4 detection and recognition models; None with `--no-ocr`.
    pub ocr_models: Option<(PathBuf, PathBuf)>,
    pub keyframes: KeyframeOptions,
    pub ocr_min_confidence: f32,
    pub ocr_det_limit: DetLimit,
    pub ocr_backoff_s: f64,
    pub ocr_workers: usize,
    pub ocr_threads: usize,
    pub text_format: TextFormat,
    pub batch_size: usize,
    pub decode_workers: usize,
    pub timeout: Duration,
    pub max_duration_s: Option<f64>,
    pub max_download_bytes: u64,
    pub subtitles: Vec<SubtitleFormat>,
    pub commit_every: usize,
    pub commit_interval: Duration,
    pub json: bool,
    pub quiet: bool,
    pub new_config_generation: bool,
    pub retry_failed: bool,
    pub config_hash: String,
    pub config: serde_json::Value,
}

pub fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Settings {
    /// `duration_s` cut at `--max-duration`, when one is given.
    pub fn capped(&self, duration_s: f64) -> f64 {
        self.max_duration_s
            .map_or(duration_s, |m| duration_s.min(m))
    }

    pub fn from_args(a: RunArgs) -> Result<Self> {
        let models_dir = a.models_dir.clone().unwrap_or_else(registry::models_dir);
        let asr_model_dir = registry::resolve_whisper(&models_dir, &a.asr_model)?;
        let asr_model_name = asr_model_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&a.asr_model)
            .to_string();
        let vad_model = if a.no_vad {
            None
        } else {
            Some(registry::silero_vad(&models_dir)?)
        };
        let ocr_models = if a.no_ocr {
            None
        } else {
            Some(registry::ocr_models(&models_dir)?)
        };
        let onnxruntime = if vad_model.is_some() || ocr_models.is_some() {
            Some(registry::onnxruntime(&models_dir)?)
        } else {
            None
        };
        let text_format = TextFormat::parse(&a.text_format)
            .map_err(anyhow::Error::msg)
            .context("--text-format")?;
        if !(a.keyframe_interval.is_finite() && a.keyframe_interval >= 0.1) {
            bail!("--keyframe-interval must be at least 0.1 s");
        }
        if !(0.0..=1.0).contains(&a.scene_threshold) {
            bail!("--scene-threshold must be in [0, 1]");
        }
        if !(32..=8192).contains(&a.keyframe_size) {
            bail!("--keyframe-size must be between 32 and 8192 pixels");
        }
        if !(0.0..=1.0).contains(&a.ocr_min_confidence) {
            bail!("--ocr-min-confidence must be in [0, 1]");
        }
        if !(a.ocr_backoff.is_finite() && a.ocr_backoff >= 0.0) {
            bail!("--ocr-backoff must be a number of seconds, 0 or more");
        }
        if a.ocr_det_size != 0 && !(64..=4096).contains(&a.ocr_det_size) {
            bail!("--ocr-det-size must be 0 or between 64 and 4096 pixels");
        }
        if a.ocr_workers == 0 || a.ocr_threads == 0 {
            bail!("--ocr-workers and --ocr-threads must be at least 1");
        }
        if a.device == DeviceArg::Cuda {
            let engine = vid2text_models::engine::engine_info();
            if !engine.cuda_compiled {
                bail!(
                    "--device cuda: this vid2text's CTranslate2 has no CUDA ({}); see README, GPU",
                    engine.describe()
                );
            }
            if vid2text_models::engine::cuda_devices() == 0 {
                bail!(
                    "--device cuda: CTranslate2 sees no CUDA device (it needs the NVIDIA driver's \
                     libcuda.so.1 and a GPU; `scripts/setup.sh --gpu` installs cuBLAS 12; see README, GPU)"
                );
            }
        }
        if a.beam_size == 0 || a.best_of == 0 || a.decode_workers == 0 || a.commit_every == 0 {
            bail!("--beam-size, --best-of, --decode-workers and --commit-every must be at least 1");
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let valid = positive(a.timeout)
            && positive(a.commit_interval)
            && a.max_duration.is_finite()
            && a.max_duration >= 0.0;
        if !valid {
            bail!("--timeout and --commit-interval must be positive, --max-duration not negative");
        }
        if !(a.max_kept_pause.is_finite() && a.max_kept_pause >= 0.0) {
            bail!("--max-kept-pause must be a number of seconds, 0 or more");
        }
        if !(0.0..1.0).contains(&a.vad_threshold) {
            bail!("--vad-threshold must be in [0, 1)");
        }
        let language = match a.language.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => None,
            l if l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic() || c == '_') => {
                Some(l.to_string())
            }
            l => bail!("--language: `{l}` is not a language code (en, zh, ...) nor auto"),
        };
        let subtitles = a
            .subtitles
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<SubtitleFormat>().map_err(anyhow::Error::msg))
            .collect::<Result<Vec<_>>>()
            .context("--subtitles")?;
        let mut decode = DecodeConfig {
            beam_size: a.beam_size,
            best_of: a.best_of,
            condition_on_previous_text: a.condition_on_previous_text,
            language,
            max_kept_pause_s: a.max_kept_pause,
            ..DecodeConfig::default()
        };
        if a.no_temperature_fallback {
            decode.temperatures = vec![0.0];
        }
        let vad = VadConfig {
            threshold: a.vad_threshold,
            ..VadConfig::default()
        };
        // --threads is Whisper's whole CPU budget, shared by the replicas. On CPU, one
        // single-threaded replica per thread, each with its own batches, beats one replica with
        // every thread: the decoder's many small operations leave OpenMP threads waking and
        // sleeping (a third of the CPU time in the kernel). Benchmark corpus, 2 cores, tiny.en:
        // 12.1 s against 19.6 s. Batches of one window per replica: 540 MiB peak RSS and 11.3 s,
        // against 770 MiB and 10.6 s with 2 (the encoder's attention scores grow with the batch).
        let total = if a.threads == 0 {
            available_threads()
        } else {
            a.threads
        };
        let cuda = a.device == DeviceArg::Cuda;
        let replicas = match a.replicas {
            0 if cuda => 1,
            0 => total.clamp(1, 8),
            n => n.clamp(1, total.max(1)),
        };
        let batch_size = match a.batch_size {
            0 if cuda => 8,
            0 => 1,
            n => n,
        };
        let engine = EngineConfig {
            device: match a.device {
                DeviceArg::Cpu => EngineDevice::Cpu,
                DeviceArg::Cuda => EngineDevice::Cuda,
            },
            compute_type: a.compute_type.clone(),
            threads: (total / replicas).max(1),
            replicas,
        };
        let max_duration_s = (a.max_duration > 0.0).then_some(a.max_duration);
        let keyframes = KeyframeOptions {
            interval_s: a.keyframe_interval,
            scene_threshold: a.scene_threshold,
            max_side: a.keyframe_size,
            max_duration_s,
            ..KeyframeOptions::default()
        };
        // What decides the content of a document; threads, batch size and workers do not.
        let model_size = std::fs::metadata(asr_model_dir.join("model.bin"))
            .map(|m| m.len())
            .unwrap_or(0);
        let config = json!({
            "asr_model": asr_model_name,
            "asr_model_bytes": model_size,
            "compute_type": a.compute_type,
            "decode": decode,
            "vad": if a.no_vad { serde_json::Value::Null } else { serde_json::to_value(&vad)? },
            "max_duration_s": max_duration_s,
        });
        // Added only when they differ from what versions before OCR did, so that an OUT they
        // started keeps its hash under `--no-ocr --text-format speech`.
        let mut config = config;
        if ocr_models.is_some() {
            config["ocr"] = json!({
                "model": "PP-OCRv4",
                "keyframe_interval_s": a.keyframe_interval,
                "scene_threshold": a.scene_threshold,
                "keyframe_size": a.keyframe_size,
                "min_confidence": a.ocr_min_confidence,
                "backoff_s": a.ocr_backoff,
                "det_size": a.ocr_det_size,
            });
        }
        if text_format != TextFormat::SPEECH {
            config["text_format"] = serde_json::to_value(text_format)?;
        }
        let config_hash =
            vid2text_core::input::to_hex(&Sha256::digest(config.to_string().as_bytes()))[..16]
                .to_string();
        Ok(Settings {
            inputs: a.inputs,
            output: a.output,
            models_dir,
            asr_model_dir,
            asr_model_name,
            vad_model,
            onnxruntime,
            engine,
            decode,
            vad,
            ocr_models,
            keyframes,
            ocr_min_confidence: a.ocr_min_confidence,
            ocr_det_limit: if a.ocr_det_size == 0 {
                RAPIDOCR_DET_LIMIT
            } else {
                DetLimit::Between {
                    min_short: a.ocr_det_size / 2,
                    max_long: a.ocr_det_size,
                }
            },
            ocr_backoff_s: a.ocr_backoff,
            ocr_workers: a.ocr_workers,
            ocr_threads: a.ocr_threads,
            text_format,
            batch_size,
            decode_workers: a.decode_workers,
            timeout: Duration::from_secs_f64(a.timeout),
            max_duration_s,
            max_download_bytes: a.max_download_size,
            subtitles,
            commit_every: a.commit_every,
            commit_interval: Duration::from_secs_f64(a.commit_interval),
            json: a.json,
            quiet: a.quiet,
            new_config_generation: a.new_config_generation,
            retry_failed: a.retry_failed,
            config_hash,
            config,
        })
    }

    /// The content of `OUT/run.json`.
    pub fn run_json(&self) -> serde_json::Value {
        json!({
            "vid2text_version": vid2text_core::VERSION,
            "config_hash": self.config_hash,
            "config": self.config,
            "models": {
                "dir": self.models_dir.display().to_string(),
                "asr": self.asr_model_dir.display().to_string(),
                "vad": self.vad_model.as_ref().map(|p| p.display().to_string()),
                "ocr": self.ocr_models.as_ref().map(|(d, r)| [d.display().to_string(), r.display().to_string()]),
            },
            "shards": 1,
            "created_unix": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }
}
