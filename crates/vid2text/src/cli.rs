//! Command-line interface (clap derive). Raw arguments become one validated [`crate::settings::Settings`]
//! before any work starts.

use std::path::PathBuf;

use crate::stages::writer::script::ChineseScript;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Parser, Debug)]
#[command(
    name = "vid2text",
    version,
    about = "Turn videos into clean text for training language models",
    long_about = "Turn videos into clean text for training language models: what is said (Whisper speech \
recognition), what is written on screen (PP-OCR of keyframes) and embedded subtitles, in every \
video of a directory or manifest, one JSON document per video, committed atomically into an \
output directory that a rerun resumes.",
    rename_all = "kebab-case"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Transcribe inputs into documents under OUT/docs (resumable: a rerun skips what is committed).
    Run(Box<RunArgs>),
    /// List the models installed in the model directory.
    Models(ModelsArgs),
    /// Print the committed documents of an output directory (JSON lines, or only their text).
    Cat(CatArgs),
    /// Split a job into N fixed shards balanced by media duration: JOB/run.json and
    /// JOB/shards/SSSSS.manifest (README, "Running on a cluster"). Takes every option of `run`.
    Plan(Box<PlanArgs>),
    /// Run one shard of a planned job (a Slurm array task, a Kubernetes Indexed Job pod).
    Work(WorkArgs),
    /// Where each shard of a planned job stands; exit 0 only when every shard is done.
    Status(StatusArgs),
    /// Write (and with --submit, submit) a Slurm job array: one task per shard.
    Slurm(SlurmArgs),
    /// Write a Kubernetes Indexed Job manifest: one completion index per shard.
    K8s(K8sArgs),
    /// Mark documents that repeat an earlier one (same bytes, or near-identical text: a
    /// re-encoded copy) across every shard, in OUT/dedup/, without rewriting committed parts.
    Dedup(DedupArgs),
    /// What an output directory holds: documents, hours, words and CJK characters per language
    /// and source, what was left out by reason, personal data replaced, failures by stage.
    Stats(StatsArgs),
}

/// The options of `vid2text run` (also those a plan records in `run.json` for its workers, hence
/// serde).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[command(rename_all = "kebab-case")]
pub struct RunArgs {
    /// Videos or audio files, directories (walked recursively) and manifests (.txt: one path or
    /// URL a line; .jsonl/.csv: a `uri` column, other columns are kept in the document's `meta`).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Output directory: documents, failures and run state.
    #[arg(short, long, value_name = "OUT", env = "VID2TEXT_OUTPUT")]
    pub output: PathBuf,

    /// Whisper model: an installed name (tiny.en, base, ...) or a CTranslate2 model directory.
    #[arg(long, default_value = "base", env = "VID2TEXT_ASR_MODEL")]
    pub asr_model: String,

    /// Spoken language (ISO code such as en, zh, de) or `auto` to detect it per video from several
    /// speech windows. English-only models (*.en) take only en; a code the model does not know
    /// is refused before anything runs. A manifest's `language` column names it per input
    /// instead. A known language lets short inputs share Whisper windows (packing)
    #[arg(long, default_value = "auto")]
    pub language: String,

    /// Beam size for decoding at temperature 0 (1 = greedy).
    #[arg(long, default_value_t = 5)]
    pub beam_size: usize,

    /// Candidates sampled at each fallback temperature.
    #[arg(long, default_value_t = 5)]
    pub best_of: usize,

    /// Do not retry at higher temperatures when the output looks repetitive or improbable.
    #[arg(long)]
    pub no_temperature_fallback: bool,

    /// Prompt each speech window with the text before it (as Whisper's sequential decoding does).
    /// Windows of a video are then decoded one after another instead of in parallel batches.
    #[arg(long)]
    pub condition_on_previous_text: bool,

    /// Do not pack the short speech windows of several inputs into one Whisper window (packing
    /// saves encoder passes on short videos; see README, "Packing short inputs"). Off anyway
    /// with --condition-on-previous-text.
    #[arg(long)]
    pub no_pack_inputs: bool,

    /// Skip voice activity detection: send all audio to Whisper (slower; silence may hallucinate).
    #[arg(long)]
    pub no_vad: bool,

    /// Pauses between speech up to this long are kept as audio inside a speech window; longer
    /// ones are cut out, and the speech on both sides still shares the window (windows hold up
    /// to 30 s of speech, as faster-whisper packs them). 0 cuts every pause.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub max_kept_pause: f64,

    /// Speech probability threshold of the voice activity detector.
    #[arg(long, default_value_t = 0.5)]
    pub vad_threshold: f32,

    /// Where the engine runs.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu, env = "VID2TEXT_DEVICE")]
    pub device: DeviceArg,

    /// CTranslate2 compute type (int8, int8_float32, int8_float16, int8_bfloat16, int16, float16,
    /// bfloat16, float32, auto, default).
    #[arg(long, default_value = "int8")]
    pub compute_type: String,

    /// Threads for Whisper (0 = all cores).
    #[arg(long, default_value_t = 0, env = "VID2TEXT_THREADS")]
    pub threads: usize,

    /// Whisper model replicas sharing --threads, each running its own batches in parallel with
    /// the others (0 = one single-threaded replica per thread, at most 8, on CPU; 4 on CUDA, where
    /// each replica's decoding steps also keep a CPU thread busy).
    #[arg(long, default_value_t = 0)]
    pub replicas: usize,

    /// Speech windows decoded together in one Whisper call, across videos (0 = 4 per replica; on
    /// CPU results are the same as one at a time and the encoder still reads one window at a
    /// time; float16 on CUDA can round a batch differently from a single window).
    #[arg(long, default_value_t = 0)]
    pub batch_size: usize,

    /// Inputs decoded (FFmpeg + VAD) in parallel ahead of speech recognition.
    #[arg(long, default_value_t = 2)]
    pub decode_workers: usize,

    /// Do not read text on screen (keyframe OCR). Embedded subtitle streams are still read.
    #[arg(long)]
    pub no_ocr: bool,

    /// Which sources make up each document's `text`: `all` (speech, <screen>, <caption> and
    /// <subtitle> blocks in time order; captions and cues that repeat the speech stand in for it,
    /// once), `speech`, or a comma-separated list of speech, screen, captions, subtitles. The
    /// spans themselves are always in the document.
    #[arg(long, default_value = "all", value_name = "SOURCES")]
    pub text_format: String,

    /// The script of Chinese text in documents: speech, captions, screen text and subtitles that
    /// are Chinese are converted with OpenCC's phrase tables (Whisper writes Mandarin in either).
    #[arg(long, value_enum, default_value_t = ChineseScript::Simplified)]
    pub chinese_script: ChineseScript,

    /// Keep e-mail addresses, phone numbers, IP addresses and ID card numbers as they were said
    /// or shown; by default they are replaced by <EMAIL>, <PHONE>, <IP>, <ID_CARD> (counted in
    /// the document's `stats.pii`).
    #[arg(long)]
    pub keep_pii: bool,

    /// Documents with fewer words in `text` (CJK characters count one each) are left out and
    /// recorded in OUT/dropped/ (1: only empty documents; 0 keeps them too).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_words: u64,

    /// Documents with less speech than this (seconds, from voice activity detection) are left
    /// out and recorded in OUT/dropped/.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub min_speech_s: f64,

    /// Keep only documents in these languages (comma-separated ISO 639-1 codes, e.g. zh,en):
    /// the speech's language, else the captions', else the text's. The others are recorded in
    /// OUT/dropped/.
    #[arg(long, value_name = "CODES")]
    pub languages: Option<String>,

    /// A document whose text is at least this similar (estimated Jaccard similarity of its
    /// shingles) to a committed document's is a near duplicate (a re-encoded copy) and is left
    /// out, naming the one it repeats.
    #[arg(long, default_value_t = vid2text_core::dedup::DEFAULT_THRESHOLD, value_name = "F")]
    pub near_duplicate_threshold: f64,

    /// Commit every document, also copies of committed ones (same bytes or near-identical
    /// text); `vid2text dedup OUT` can mark them afterwards.
    #[arg(long)]
    pub no_dedup: bool,

    /// A keyframe is read at least this often (seconds), besides scene changes.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub keyframe_interval: f64,

    /// FFmpeg scene-change score (0-1) above which a frame is read at once.
    #[arg(long, default_value_t = 0.3)]
    pub scene_threshold: f64,

    /// Keyframes are scaled inside FFmpeg to fit a square of this many pixels.
    #[arg(long, default_value_t = 1280, value_name = "PIXELS")]
    pub keyframe_size: u32,

    /// Longest side of the OCR detector's input: larger keyframes are brought down to fit,
    /// small ones up to a short side of half this. 0 (the default) is RapidOCR's rule: the
    /// short side brought up to 736, which reads small text better but costs 1.8x as much on a
    /// 720p frame as 960 does, 2.3x on a 240p one.
    #[arg(long, default_value_t = 0, value_name = "PIXELS")]
    pub ocr_det_size: usize,

    /// Lines that OCR reads with a lower mean character probability are dropped. Higher than
    /// RapidOCR's 0.5: foliage, fabric and logos in video frames read as text at 0.5-0.75.
    #[arg(long, default_value_t = 0.8)]
    pub ocr_min_confidence: f32,

    /// When the picture keeps changing but OCR finds nothing new (motion, a running timecode),
    /// reads are spaced out: after n such reads, the next waits min(n, SECS) seconds. New text
    /// on screen resets it; 0 reads every changed keyframe.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub ocr_backoff: f64,

    /// Where burnt-in captions are: `auto` finds the caption band of each video from the lines
    /// of its keyframes (centred, low in the frame or at 45-90 % of a portrait one, changing
    /// every few seconds); `off` reads every line as screen text; `Y0:Y1` (fractions of the
    /// height, e.g. 0.8:0.95) is the band on every video.
    #[arg(long, default_value = "auto", value_name = "auto|off|Y0:Y1")]
    pub caption_band: String,

    /// Crops of the caption band sampled per second (a caption shown for 0.7 s is on 3 of them
    /// at 5); unchanged crops are not read again.
    #[arg(long, default_value_t = 5.0, value_name = "FPS")]
    pub caption_fps: f64,

    /// Inputs whose keyframes are read in parallel (each worker runs FFmpeg and OCR; 0 = half
    /// the cores, at least 2, on CPU; every core with --device cuda, where OCR has the CPU).
    #[arg(long, default_value_t = 0)]
    pub ocr_workers: usize,

    /// ONNX Runtime threads per OCR worker.
    #[arg(long, default_value_t = 1)]
    pub ocr_threads: usize,

    /// Time limit in seconds for probing and for decoding one input.
    #[arg(long, default_value_t = 900.0, value_name = "SECS")]
    pub timeout: f64,

    /// Largest http(s) input downloaded, e.g. 500M or 20G; larger ones fail at the download stage.
    /// Downloads go to OUT/downloads/ and are removed once the input is done.
    #[arg(long, default_value = "20G", value_name = "SIZE", value_parser = parse_size)]
    pub max_download_size: u64,

    /// Only the first SECS seconds of longer inputs are transcribed (the document records
    /// `meta.truncated_at_s`); 0 = no limit.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub max_duration: f64,

    /// Also write subtitle files per video: OUT/subtitles/<id>.srt / .vtt (comma-separated list).
    #[arg(long, value_delimiter = ',', value_name = "FORMATS")]
    pub subtitles: Vec<String>,

    /// How documents are committed: `jsonl` (zstd-compressed JSON lines, docs/*.jsonl.zst) or
    /// `parquet` (docs/*.parquet, the same fields, spans as lists of structs). Every reader of
    /// OUT (a rerun, cat, stats, dedup) takes both.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub format: FormatArg,

    /// Documents per committed part file.
    #[arg(long, default_value_t = 100)]
    pub commit_every: usize,

    /// Commit pending documents at least this often (seconds).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub commit_interval: f64,

    /// Model directory (default: ~/.cache/vid2text/models, filled by scripts/setup.sh).
    #[arg(long, env = "VID2TEXT_MODELS", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,

    /// Accept settings that differ from those OUT was started with: they are recorded as a new
    /// configuration generation (OUT/generations/NNNNN.json) and apply to the inputs not yet
    /// committed. Without it such a rerun is refused.
    #[arg(long)]
    pub new_config_generation: bool,

    /// Process again the inputs recorded in OUT/failures/ (when they are among the inputs given);
    /// those that now succeed are removed from failures/.
    #[arg(long)]
    pub retry_failed: bool,

    /// Print a machine-readable summary (JSON) on stdout at the end.
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no summary line on stderr (failed inputs are still named there).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatArg {
    Jsonl,
    Parquet,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Model directory (default: ~/.cache/vid2text/models).
    #[arg(long, env = "VID2TEXT_MODELS", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// Output directory of `vid2text run` (or job directory of `vid2text plan`: every shard).
    pub output: PathBuf,
    /// Print only each document's source and text.
    #[arg(long)]
    pub text: bool,
    /// Leave out the documents that `vid2text dedup` marked as duplicates.
    #[arg(long)]
    pub skip_duplicates: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Output directory of `vid2text run`, or job directory of `vid2text plan` (every shard).
    pub output: PathBuf,
    /// Print the statistics as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(rename_all = "kebab-case")]
pub struct DedupArgs {
    /// Output directory of `vid2text run`, or job directory of `vid2text plan`.
    pub output: PathBuf,
    /// Estimated Jaccard similarity of two documents' text shingles from which the later one
    /// is a near duplicate.
    #[arg(long, default_value_t = vid2text_core::dedup::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Documents with fewer tokens (words; CJK characters) are compared by content id only.
    #[arg(long, default_value_t = vid2text_core::dedup::DEFAULT_MIN_TOKENS)]
    pub min_tokens: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Shards to split the inputs into: one per array task or pod.
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// Inputs probed in parallel for their duration (0 = two per core; probing waits on the
    /// disk or the network more than on the CPU). Inputs whose manifest line has a
    /// `duration_s` column are not probed.
    #[arg(long, default_value_t = 0)]
    pub probe_workers: usize,
}

#[derive(Args, Debug)]
#[command(rename_all = "kebab-case")]
pub struct WorkArgs {
    /// Job directory written by `vid2text plan`.
    pub job: PathBuf,
    /// The shard to run. Default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX (Kubernetes).
    #[arg(long, value_name = "I")]
    pub shard: Option<u32>,
    /// Threads for Whisper on this worker (default: the plan's --threads; 0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Whisper replicas on this worker (default: the plan's).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Inputs decoded in parallel on this worker (default: the plan's).
    #[arg(long)]
    pub decode_workers: Option<usize>,
    /// OCR workers on this worker (default: the plan's).
    #[arg(long)]
    pub ocr_workers: Option<usize>,
    /// Model directory on this worker (default: the plan's --models-dir, else
    /// $VID2TEXT_MODELS, else ~/.cache/vid2text/models).
    #[arg(long, env = "VID2TEXT_MODELS", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Print a machine-readable summary (JSON) on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Job directory written by `vid2text plan`.
    pub job: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the shards to (re)submit, failed or not started, as a Slurm --array list.
    #[arg(long)]
    pub missing: bool,
}

#[derive(Args, Debug)]
#[command(rename_all = "kebab-case")]
pub struct SlurmArgs {
    /// Job directory written by `vid2text plan`.
    pub job: PathBuf,
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    #[arg(long, value_name = "A")]
    pub account: Option<String>,
    /// CPUs per array task; vid2text's threads follow it.
    #[arg(long, default_value_t = 4, value_name = "C")]
    pub cpus_per_task: u32,
    /// GPUs per array task (the plan's --device cuda uses them).
    #[arg(long, value_name = "G")]
    pub gpus_per_task: Option<u32>,
    /// Memory per task, as sbatch takes it (e.g. 16G).
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// Time limit per task, as sbatch takes it (e.g. 4:00:00). At the limit Slurm sends SIGTERM:
    /// the worker commits what is finished and a resubmission does the rest.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// Tasks running at once (sbatch's --array ...%K).
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<u32>,
    /// Only the shards that are failed or not started (what `status --missing` lists).
    #[arg(long)]
    pub missing: bool,
    /// Submit the script with sbatch and print the Slurm job id.
    #[arg(long)]
    pub submit: bool,
}

#[derive(Args, Debug)]
#[command(rename_all = "kebab-case")]
pub struct K8sArgs {
    /// Job directory written by `vid2text plan`.
    pub job: PathBuf,
    /// Container image with vid2text, FFmpeg and the models.
    #[arg(long)]
    pub image: String,
    /// PersistentVolumeClaim of the shared file system that holds JOB and the inputs.
    #[arg(long, value_name = "NAME")]
    pub pvc: Option<String>,
    /// Where the claim is mounted in the pod. Input paths in the shard manifests are absolute:
    /// mount the shared file system where it is on the machine that planned.
    #[arg(long, default_value = "/data", value_name = "PATH")]
    pub mount_path: String,
    /// Pods running at once.
    #[arg(long, default_value_t = 4, value_name = "K")]
    pub parallelism: u32,
    /// Retries of one index (a shard) before Kubernetes gives it up.
    #[arg(long, default_value_t = 3)]
    pub backoff_limit_per_index: u32,
    /// CPU request and limit per pod; vid2text's threads follow it.
    #[arg(long, default_value_t = 4)]
    pub cpus: u32,
    /// Memory request and limit per pod (Kubernetes quantity, e.g. 16Gi).
    #[arg(long, default_value = "8Gi")]
    pub memory: String,
    /// GPUs per pod (nvidia.com/gpu).
    #[arg(long)]
    pub gpus: Option<u32>,
    /// The Job's name (default: vid2text-<JOB's directory name>).
    #[arg(long)]
    pub name: Option<String>,
    /// Kubernetes namespace.
    #[arg(long)]
    pub namespace: Option<String>,
}

/// Parses a byte size: a number with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(format!("unknown size suffix in `{s}` (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok((n * mult as f64) as u64)
}
