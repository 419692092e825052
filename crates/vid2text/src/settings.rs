//! Validated settings of `vid2text run`: everything is checked here, before anything is loaded
//! or written, so that configuration mistakes exit with code 2 and a clear message (and never
//! fix OUT's configuration to a typo). Each stage gets its own part ([`crate::stages`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};
use vid2text_core::captions::CaptionBand;
use vid2text_core::doc::PipelineInfo;
use vid2text_core::render::TextFormat;
use vid2text_core::sidecar::SidecarFormat;
use vid2text_media::KeyframeOptions;
use vid2text_models::ocr::RAPIDOCR_DET_LIMIT;
use vid2text_models::ocr_image::DetLimit;
use vid2text_models::registry;
use vid2text_models::tokenizer::Vocab;
use vid2text_models::vad::VadConfig;
use vid2text_models::whisper::{check_compute_type, EngineConfig, EngineDevice, SearchConfig};

use crate::cli::{DeviceArg, RunArgs};
use crate::stages::visual::{BandChoice, OcrConfig};
use crate::stages::writer::assemble;
use crate::stages::writer::script::ChineseScript;
use crate::stages::{asr, decode, visual, writer};

pub struct Settings {
    pub inputs: Vec<String>,
    pub output: PathBuf,
    pub models: ModelPaths,
    pub engine: EngineConfig,
    pub decode: decode::Config,
    pub visual: visual::Config,
    pub asr: asr::Config,
    pub writer: writer::Config,
    pub decode_workers: usize,
    pub ocr_workers: usize,
    pub json: bool,
    pub quiet: bool,
    pub new_config_generation: bool,
    pub retry_failed: bool,
    /// What decides the content of documents, and its hash (`pipeline.config_hash`).
    pub config: serde_json::Value,
    pub config_hash: String,
    /// How documents are committed (`--format`).
    pub format: vid2text_core::outdir::DocFormat,
    /// `vid2text work`: the one shard of a planned job this process runs (its inputs come from
    /// the shard manifest, not from `inputs`).
    pub shard: Option<ShardWork>,
}

/// One shard of a planned job: its index and its manifest's entries.
pub struct ShardWork {
    pub index: u32,
    pub entries: Vec<vid2text_core::shards::PlanEntry>,
}

/// The models a run uses, resolved in the model directory.
pub struct ModelPaths {
    pub dir: PathBuf,
    pub asr_dir: PathBuf,
    /// The name documents carry in `pipeline.asr_model`.
    pub asr_name: String,
    /// None with `--no-vad`.
    pub vad: Option<PathBuf>,
    /// PP-OCRv4 detection and recognition; None with `--no-ocr`.
    pub ocr: Option<(PathBuf, PathBuf)>,
    /// ONNX Runtime, for OCR (the VAD runs in our code).
    pub onnxruntime: Option<PathBuf>,
}

pub fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl ModelPaths {
    fn resolve(a: &RunArgs) -> Result<Self> {
        let dir = a.models_dir.clone().unwrap_or_else(registry::models_dir);
        let asr_dir = registry::resolve_whisper(&dir, &a.asr_model)?;
        let asr_name = asr_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&a.asr_model)
            .to_string();
        let vad = match a.no_vad {
            true => None,
            false => Some(registry::silero_vad(&dir)?),
        };
        let ocr = match a.no_ocr {
            true => None,
            false => Some(registry::ocr_models(&dir)?),
        };
        let onnxruntime = match ocr.is_some() {
            true => Some(registry::onnxruntime(&dir)?),
            false => None,
        };
        Ok(ModelPaths {
            dir,
            asr_dir,
            asr_name,
            vad,
            ocr,
            onnxruntime,
        })
    }
}

impl Settings {
    /// Checks the arguments, resolves the models, and hands each stage its part. Long only for
    /// the one struct literal at its end (every part in view at once); the checks and the
    /// derived values are the functions below.
    pub fn from_args(a: RunArgs) -> Result<Self> {
        check_ranges(&a)?;
        check_compute_type(&a.compute_type).context("--compute-type")?;
        check_device(a.device)?;
        let models = ModelPaths::resolve(&a)?;
        let search = search_config(&a, &models)?;
        let text_format = TextFormat::parse(&a.text_format)
            .map_err(anyhow::Error::msg)
            .context("--text-format")?;
        let sidecars = a
            .subtitles
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<SidecarFormat>().map_err(anyhow::Error::msg))
            .collect::<Result<Vec<_>>>()
            .context("--subtitles")?;
        let (engine, batch_size) = engine_config(&a);
        let max_duration_s = (a.max_duration > 0.0).then_some(a.max_duration);
        let vad = (!a.no_vad).then(|| VadConfig {
            threshold: a.vad_threshold,
            ..VadConfig::default()
        });
        let keep = keep_rules(&a)?;
        let content = ContentConfig {
            asr_model: &models.asr_name,
            asr_model_bytes: std::fs::metadata(models.asr_dir.join("model.bin"))
                .map(|m| m.len())
                .unwrap_or(0),
            compute_type: &a.compute_type,
            search: &search,
            vad: vad.as_ref(),
            max_duration_s,
            ocr: (!a.no_ocr).then(|| OcrHashed::from(&a)),
            text_format,
            chinese_script: a.chinese_script,
            keep_pii: a.keep_pii,
        };
        let mut config = content.to_json();
        keep_rules_into(&keep, &mut config);
        let config_hash = config_hash(&config);
        let timeout = Duration::from_secs_f64(a.timeout);
        let band = band_choice(&a.caption_band).context("--caption-band")?;
        let ocr = (!a.no_ocr).then(|| OcrConfig {
            band,
            caption_fps: a.caption_fps,
            min_confidence: a.ocr_min_confidence,
            backoff_s: a.ocr_backoff,
            det_limit: det_limit(a.ocr_det_size),
            threads: a.ocr_threads,
        });
        let pipeline = PipelineInfo {
            version: vid2text_core::VERSION.to_string(),
            asr_model: Some(models.asr_name.clone()),
            ocr_model: models
                .ocr
                .as_ref()
                .map(|_| registry::OCR_MODEL_ID.to_string()),
            vad_model: models
                .vad
                .as_ref()
                .map(|_| registry::VAD_MODEL_ID.to_string()),
            config_hash: config_hash.clone(),
        };
        Ok(Settings {
            decode: decode::Config {
                timeout,
                max_duration_s,
                max_download_bytes: a.max_download_size,
                downloads: a.output.join("downloads"),
                vad,
                max_kept_pause_s: a.max_kept_pause,
                ocr: ocr.is_some(),
            },
            visual: visual::Config {
                timeout,
                max_duration_s,
                keyframes: KeyframeOptions {
                    interval_s: a.keyframe_interval,
                    scene_threshold: a.scene_threshold,
                    max_side: a.keyframe_size,
                    max_duration_s,
                    ..KeyframeOptions::default()
                },
                ocr,
            },
            asr: asr::Config { search, batch_size },
            writer: writer::Config {
                assemble: assemble::Config {
                    text_format,
                    chinese_script: a.chinese_script,
                    keep_pii: a.keep_pii,
                    pipeline,
                },
                sidecars,
                commit_every: a.commit_every,
                commit_interval: Duration::from_secs_f64(a.commit_interval),
                retry_failed: a.retry_failed,
                keep,
            },
            inputs: a.inputs,
            output: a.output,
            models,
            engine,
            decode_workers: a.decode_workers,
            ocr_workers: ocr_workers(a.ocr_workers, a.device),
            json: a.json,
            quiet: a.quiet,
            new_config_generation: a.new_config_generation,
            retry_failed: a.retry_failed,
            config,
            config_hash,
            format: match a.format {
                crate::cli::FormatArg::Jsonl => vid2text_core::outdir::DocFormat::Jsonl,
                crate::cli::FormatArg::Parquet => vid2text_core::outdir::DocFormat::Parquet,
            },
            shard: None,
        })
    }

    /// The content of `OUT/run.json`.
    pub fn run_json(&self) -> serde_json::Value {
        let m = &self.models;
        let path = |p: &PathBuf| p.display().to_string();
        json!({
            "vid2text_version": vid2text_core::VERSION,
            "config_hash": self.config_hash,
            "config": self.config,
            "models": {
                "dir": path(&m.dir),
                "asr": path(&m.asr_dir),
                "vad": m.vad.as_ref().map(path),
                "ocr": m.ocr.as_ref().map(|(d, r)| [path(d), path(r)]),
            },
            "shards": 1,
            "created_unix": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }
}

/// Which documents are committed (`--min-words`, `--min-speech-s`, `--languages`, dedup).
fn keep_rules(a: &RunArgs) -> Result<writer::KeepRules> {
    let languages = match &a.languages {
        None => None,
        Some(list) => {
            let codes: Vec<String> = list
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            if codes.is_empty()
                || codes
                    .iter()
                    .any(|c| !c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                bail!(
                    "--languages takes ISO codes separated by commas, such as zh,en (got `{list}`)"
                );
            }
            Some(codes)
        }
    };
    if !(a.near_duplicate_threshold > 0.0 && a.near_duplicate_threshold <= 1.0) {
        bail!("--near-duplicate-threshold must be above 0 and at most 1");
    }
    if !(a.min_speech_s.is_finite() && a.min_speech_s >= 0.0) {
        bail!("--min-speech-s must be 0 or more");
    }
    Ok(writer::KeepRules {
        min_words: a.min_words,
        min_speech_s: a.min_speech_s,
        languages,
        dedup: (!a.no_dedup).then_some((
            a.near_duplicate_threshold,
            vid2text_core::dedup::DEFAULT_MIN_TOKENS,
        )),
    })
}

/// The keep rules in the configuration (they decide which documents exist), each only when
/// it is not the default: OUTs of 0.3.0 keep their hash (since 0.4.0 they get the defaults).
fn keep_rules_into(keep: &writer::KeepRules, config: &mut serde_json::Value) {
    let default = writer::KeepRules::default();
    if keep.min_words != default.min_words {
        config["min_words"] = json!(keep.min_words);
    }
    if keep.min_speech_s != default.min_speech_s {
        config["min_speech_s"] = json!(keep.min_speech_s);
    }
    if let Some(l) = &keep.languages {
        config["languages"] = json!(l);
    }
    if keep.dedup != default.dedup {
        config["dedup"] = json!(keep
            .dedup
            .map(|(t, m)| json!({"threshold": t, "min_tokens": m})));
    }
}

/// The numeric flags, each within its range.
fn check_ranges(a: &RunArgs) -> Result<()> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let seconds = |x: f64| x.is_finite() && x >= 0.0;
    let checks: [(bool, &str); 13] = [
        (
            a.keyframe_interval.is_finite() && a.keyframe_interval >= 0.1,
            "--keyframe-interval must be at least 0.1 s",
        ),
        (
            (0.0..=1.0).contains(&a.scene_threshold),
            "--scene-threshold must be in [0, 1]",
        ),
        (
            (32..=8192).contains(&a.keyframe_size),
            "--keyframe-size must be between 32 and 8192 pixels",
        ),
        (
            (0.0..=1.0).contains(&a.ocr_min_confidence),
            "--ocr-min-confidence must be in [0, 1]",
        ),
        (
            seconds(a.ocr_backoff),
            "--ocr-backoff must be a number of seconds, 0 or more",
        ),
        (
            a.ocr_det_size == 0 || (64..=4096).contains(&a.ocr_det_size),
            "--ocr-det-size must be 0 or between 64 and 4096 pixels",
        ),
        (a.ocr_threads > 0, "--ocr-threads must be at least 1"),
        (
            a.beam_size > 0 && a.best_of > 0 && a.decode_workers > 0 && a.commit_every > 0,
            "--beam-size, --best-of, --decode-workers and --commit-every must be at least 1",
        ),
        (
            positive(a.timeout) && positive(a.commit_interval),
            "--timeout and --commit-interval must be positive, --max-duration not negative",
        ),
        (
            seconds(a.max_duration),
            "--timeout and --commit-interval must be positive, --max-duration not negative",
        ),
        (
            seconds(a.max_kept_pause),
            "--max-kept-pause must be a number of seconds, 0 or more",
        ),
        (
            (0.0..1.0).contains(&a.vad_threshold),
            "--vad-threshold must be in [0, 1)",
        ),
        (
            a.caption_fps.is_finite() && (0.5..=30.0).contains(&a.caption_fps),
            "--caption-fps must be between 0.5 and 30",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => bail!("{why}"),
        None => Ok(()),
    }
}

/// OCR workers: the user's, or by the cores. On CPU the run is bound by both Whisper and OCR,
/// and one worker leaves a core idle whenever Whisper waits for work (measured on captioned
/// short videos, 2 cores: 11.0-13.8 s wall with one worker, 10.9-13.0 s with two); on CUDA,
/// OCR has the CPU to itself.
fn ocr_workers(given: usize, device: DeviceArg) -> usize {
    match (given, device) {
        (0, DeviceArg::Cuda) => available_threads(),
        (0, _) => (available_threads() / 2).max(2),
        (n, _) => n,
    }
}

/// `--device cuda` needs a CTranslate2 with CUDA and a device it can see.
fn check_device(device: DeviceArg) -> Result<()> {
    if device != DeviceArg::Cuda {
        return Ok(());
    }
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
    Ok(())
}

/// A language as `--language` or a manifest's `language` column gives it: a code, lower case;
/// None for `auto` or nothing (detect it).
pub(crate) fn language_choice(given: &str) -> Option<String> {
    match given.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => None,
        l => Some(l.to_string()),
    }
}

/// Whisper's search settings, the language checked against the model's vocabulary.
fn search_config(a: &RunArgs, models: &ModelPaths) -> Result<SearchConfig> {
    let language = language_choice(&a.language);
    if let Some(lang) = &language {
        let vocab = Vocab::load(&models.asr_dir)?;
        if !vocab.is_multilingual() && lang != "en" {
            bail!(
                "--language {lang}: {} is an English-only model; give a multilingual one \
                 (--asr-model base) or --language en",
                models.asr_name
            );
        }
        if vocab.is_multilingual() {
            vocab
                .sot_sequence(lang)
                .map_err(anyhow::Error::msg)
                .context("--language")?;
        }
    }
    let mut search = SearchConfig {
        beam_size: a.beam_size,
        best_of: a.best_of,
        condition_on_previous_text: a.condition_on_previous_text,
        language,
        max_kept_pause_s: a.max_kept_pause,
        pack_inputs: !a.no_pack_inputs,
        ..SearchConfig::default()
    };
    if a.no_temperature_fallback {
        search.temperatures = vec![0.0];
    }
    Ok(search)
}

/// The engine and the batch size. `--threads` is Whisper's whole CPU budget, shared by the
/// replicas. On CPU, one single-threaded replica per thread, each with its own batches, beats one
/// replica with every thread: the decoder's many small operations leave OpenMP threads waking
/// and sleeping (a third of the CPU time in the kernel). Benchmark corpus, 2 cores, tiny.en:
/// 12.1 s against 19.6 s. Batches of 4 windows per replica on CPU: the encoder reads them one
/// at a time (its attention scores would grow with the batch) and the decoder steps through
/// them together, so its output projection (51,864 x 384 weights) is read once a step for 20
/// beams instead of 5. The four 5-minute talks of the benchmark, tiny.en beam 5: 13.3 s and
/// 605 MiB against 15.9 s and 500 MiB one window at a time; base 33.2 s and 895 MiB against
/// 39.3 s and 832 MiB. 6 windows gain 0.5 s more for 100-250 MiB more.
///
/// On CUDA, four replicas of batches of 4. CTranslate2's timestamp rules do host work for every
/// beam of every window at every decoding step on a GPU (two reductions each read back to the
/// host, and token lists built on the CPU), so one replica left an H200 waiting on one CPU
/// thread, and larger batches were slower, not faster. Eight 5-minute talks, tiny.en float16
/// beam 5 on an H200: 17.9 s with one replica of 8, 9.0 s with 2, 7.2 s with 4, 6.7 s with 8,
/// 6.2 s with 4 replicas of 4, 7.4 s with 16 of 4; 4 of 16 7.3 s (README, "GPU").
fn engine_config(a: &RunArgs) -> (EngineConfig, usize) {
    let total = match a.threads {
        0 => available_threads(),
        n => n,
    };
    let cuda = a.device == DeviceArg::Cuda;
    let replicas = match a.replicas {
        0 if cuda => total.clamp(1, 4),
        0 => total.clamp(1, 8),
        n => n.clamp(1, total.max(1)),
    };
    let batch_size = match a.batch_size {
        0 => 4,
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
    (engine, batch_size)
}

/// `--caption-band auto|off|Y0:Y1`.
fn band_choice(s: &str) -> Result<BandChoice> {
    Ok(match s.trim() {
        "auto" => BandChoice::Auto,
        "off" => BandChoice::Off,
        band => BandChoice::Fixed(CaptionBand::parse(band).map_err(anyhow::Error::msg)?),
    })
}

/// `--ocr-det-size`: 0 is RapidOCR's rule (short side up to 736).
fn det_limit(size: usize) -> DetLimit {
    match size {
        0 => RAPIDOCR_DET_LIMIT,
        n => DetLimit::Between {
            min_short: n / 2,
            max_long: n,
        },
    }
}

/// The OCR settings that change documents, as the configuration records them.
#[derive(Debug, Clone, PartialEq)]
struct OcrHashed {
    keyframe_interval_s: f64,
    scene_threshold: f64,
    keyframe_size: u32,
    min_confidence: f32,
    backoff_s: f64,
    det_size: usize,
    caption_band: String,
    caption_fps: f64,
}

impl From<&RunArgs> for OcrHashed {
    fn from(a: &RunArgs) -> Self {
        OcrHashed {
            keyframe_interval_s: a.keyframe_interval,
            scene_threshold: a.scene_threshold,
            keyframe_size: a.keyframe_size,
            min_confidence: a.ocr_min_confidence,
            backoff_s: a.ocr_backoff,
            det_size: a.ocr_det_size,
            caption_band: a.caption_band.trim().to_string(),
            caption_fps: a.caption_fps,
        }
    }
}

/// What decides the content of a document (threads, batch size and workers do not): recorded
/// in `OUT/run.json`, hashed into `pipeline.config_hash`. A rerun with another hash is refused,
/// so its JSON must not change for the same settings: field names and order are fixed (the
/// golden test below holds hashes that OUTs in the wild carry).
struct ContentConfig<'a> {
    asr_model: &'a str,
    asr_model_bytes: u64,
    compute_type: &'a str,
    search: &'a SearchConfig,
    vad: Option<&'a VadConfig>,
    max_duration_s: Option<f64>,
    ocr: Option<OcrHashed>,
    text_format: TextFormat,
    chinese_script: ChineseScript,
    keep_pii: bool,
}

impl ContentConfig<'_> {
    fn to_json(&self) -> serde_json::Value {
        let mut config = json!({
            "asr_model": self.asr_model,
            "asr_model_bytes": self.asr_model_bytes,
            "compute_type": self.compute_type,
            // "decode": Whisper's search settings, under the name the first versions gave them.
            "decode": self.search,
            "vad": self.vad,
            "max_duration_s": self.max_duration_s,
        });
        // Added only when they differ from what versions before OCR did, so that an OUT they
        // started keeps its hash under `--no-ocr --text-format speech`.
        if let Some(o) = &self.ocr {
            config["ocr"] = json!({
                "model": registry::OCR_MODEL_ID,
                "keyframe_interval_s": o.keyframe_interval_s,
                "scene_threshold": o.scene_threshold,
                "keyframe_size": o.keyframe_size,
                "min_confidence": o.min_confidence,
                "backoff_s": o.backoff_s,
                "det_size": o.det_size,
                // Since 0.2.0: captions read apart from screen text (their band, their rate).
                "captions": {"band": o.caption_band, "fps": o.caption_fps},
            });
        }
        if self.text_format != TextFormat::SPEECH {
            config["text_format"] = json!(self.text_format);
        }
        // Since 0.3.0 Chinese text is Simplified unless asked otherwise; recorded only when
        // otherwise, so that OUTs of 0.2.0 resume (their later documents come out Simplified).
        // Since 0.4.0 (like the filters, which are always on): only when not the default.
        if self.keep_pii {
            config["keep_pii"] = json!(true);
        }
        if self.chinese_script != ChineseScript::Simplified {
            config["chinese_script"] = json!(self.chinese_script);
        }
        config
    }
}

fn config_hash(config: &serde_json::Value) -> String {
    vid2text_core::input::to_hex(&Sha256::digest(config.to_string().as_bytes()))[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The run arguments of a command line (models are not resolved).
    fn args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["vid2text", "run", "in.mp4", "-o", "out"];
        argv.extend_from_slice(extra);
        let cli =
            crate::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        match cli.command {
            crate::cli::Command::Run(a) => *a,
            _ => unreachable!("a run command"),
        }
    }

    fn hash_of(a: &RunArgs, asr_model: &str, asr_model_bytes: u64) -> String {
        let mut search = SearchConfig {
            beam_size: a.beam_size,
            best_of: a.best_of,
            language: match a.language.as_str() {
                "auto" => None,
                l => Some(l.into()),
            },
            max_kept_pause_s: a.max_kept_pause,
            condition_on_previous_text: a.condition_on_previous_text,
            pack_inputs: !a.no_pack_inputs,
            ..SearchConfig::default()
        };
        if a.no_temperature_fallback {
            search.temperatures = vec![0.0];
        }
        let vad = VadConfig {
            threshold: a.vad_threshold,
            ..VadConfig::default()
        };
        let content = ContentConfig {
            asr_model,
            asr_model_bytes,
            compute_type: &a.compute_type,
            search: &search,
            vad: (!a.no_vad).then_some(&vad),
            max_duration_s: (a.max_duration > 0.0).then_some(a.max_duration),
            ocr: (!a.no_ocr).then(|| OcrHashed::from(a)),
            text_format: TextFormat::parse(&a.text_format).unwrap(),
            chinese_script: a.chinese_script,
            keep_pii: a.keep_pii,
        };
        config_hash(&content.to_json())
    }

    /// The configuration hashes of this version for fixed settings, and those vid2text 0.1.0
    /// wrote into `run.json` (tests/it/fixtures hold those files). Renaming or reordering a
    /// field would make every OUT refuse to resume; if this fails, the change needs a migration
    /// note. 0.2.0 changed the documents of OCR runs (captions read apart, fused with speech), so
    /// their hashes moved on purpose; a speech-only configuration kept its hash.
    #[test]
    fn config_hashes_are_stable() {
        let base = 145_217_532; // the base model.bin that scripts/setup.sh installs
        let tiny = 75_537_502; // tiny.en's
        let default = hash_of(&args(&[]), "base", base);
        assert_eq!(default, "a8be6a47b9a7604a");
        assert_ne!(default, "672ad85bcb2af299", "0.1.0's, before captions");
        let speech = args(&["--no-ocr", "--text-format", "speech"]);
        assert_eq!(
            hash_of(&speech, "tiny.en", tiny),
            "575218ff86d0b508",
            "as 0.1.0"
        );
        let custom = args(&[
            "--beam-size",
            "2",
            "--language",
            "en",
            "--no-vad",
            "--max-duration",
            "60",
            "--keyframe-interval",
            "2",
            "--ocr-det-size",
            "960",
            "--text-format",
            "speech,screen",
        ]);
        let custom = hash_of(&custom, "tiny.en", tiny);
        assert_eq!(custom, "9c7fea3d73392e15");
        assert_ne!(custom, "57c2c74837497c2b", "0.1.0's, before captions");
        // Threads, batches and workers do not change documents, nor the hash.
        let busy = args(&[
            "--threads",
            "7",
            "--batch-size",
            "4",
            "--decode-workers",
            "3",
        ]);
        assert_eq!(hash_of(&busy, "base", base), default);
    }

    #[test]
    fn bad_values_are_refused_before_anything_runs() {
        let refused = |extra: &[&str], why: &str| {
            let e = check_ranges(&args(extra))
                .and_then(|_| check_compute_type(&args(extra).compute_type).map_err(Into::into))
                .unwrap_err();
            assert!(e.to_string().contains(why), "{extra:?}: {e}");
        };
        refused(&["--vad-threshold", "1.5"], "--vad-threshold");
        refused(&["--keyframe-size", "8"], "--keyframe-size");
        refused(&["--ocr-det-size", "10"], "--ocr-det-size");
        refused(&["--beam-size", "0"], "--beam-size");
        refused(&["--max-duration=-1"], "--max-duration");
        refused(&["--compute-type", "int4"], "unknown compute type `int4`");
        check_ranges(&args(&[])).unwrap();
    }

    #[test]
    fn engine_defaults_follow_the_device() {
        let (cpu, batch) = engine_config(&args(&["--threads", "4"]));
        assert_eq!((cpu.replicas, cpu.threads, batch), (4, 1, 4));
        let (cuda, batch) = engine_config(&args(&["--threads", "4", "--device", "cuda"]));
        assert_eq!((cuda.replicas, cuda.threads, batch), (4, 1, 4));
        let (cuda, batch) = engine_config(&args(&["--threads", "16", "--device", "cuda"]));
        assert_eq!((cuda.replicas, cuda.threads, batch), (4, 4, 4));
        let (cuda, _) = engine_config(&args(&["--threads", "2", "--device", "cuda"]));
        assert_eq!((cuda.replicas, cuda.threads), (2, 1));
        let (two, _) = engine_config(&args(&["--threads", "4", "--replicas", "2"]));
        assert_eq!((two.replicas, two.threads), (2, 2));
    }

    #[test]
    fn ocr_workers_follow_the_cores_unless_given() {
        let cores = available_threads();
        assert_eq!(ocr_workers(0, DeviceArg::Cpu), (cores / 2).max(2));
        assert_eq!(ocr_workers(0, DeviceArg::Cuda), cores);
        assert_eq!(ocr_workers(3, DeviceArg::Cuda), 3);
        assert_eq!(ocr_workers(1, DeviceArg::Cpu), 1);
    }
}
