//! Where models live: `$VID2TEXT_MODELS`, else `models/` beside the binary (a bundle), else
//! `~/.cache/vid2text/models` (what `scripts/setup.sh` fills), and how
//! `--asr-model tiny.en|base|PATH` resolves.
//!
//! ```text
//! MODELS/whisper/<name>/model.bin              CTranslate2 Whisper models (tiny.en, base, ...)
//! MODELS/vad/silero_vad_16k_sequence.onnx       Silero VAD, its many-frames-per-call export
//! MODELS/ocr/*.onnx                             PP-OCRv4 detection + recognition
//! MODELS/onnxruntime/libonnxruntime.so
//! MODELS/ctranslate2/libctranslate2*.so.4.8.4   the engine (linked, not opened: see build.rs)
//! ```

use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub const ENV_MODELS: &str = "VID2TEXT_MODELS";

/// The ids documents carry in `pipeline.vad_model` and `pipeline.ocr_model`: the models that
/// `scripts/setup.sh` installs (silero-vad 6.2.3's sequence export; rapidocr-onnxruntime
/// 1.4.4's PP-OCRv4 detection and recognition).
pub const VAD_MODEL_ID: &str = "silero_vad-6.2.3";
pub const OCR_MODEL_ID: &str = "PP-OCRv4";

/// The model directory: `$VID2TEXT_MODELS`, else `models/` beside the binary (a bundle made by
/// `scripts/bundle.sh`), else the user's cache directory.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(ENV_MODELS).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let bundled = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("models")))
        .filter(|d| d.join("whisper").is_dir());
    bundled.unwrap_or_else(|| {
        dirs::cache_dir()
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("vid2text")
            .join("models")
    })
}

/// Resolves an ASR model name or path to a CTranslate2 model directory.
pub fn resolve_whisper(models: &Path, name: &str) -> Result<PathBuf> {
    let as_path = Path::new(name);
    if as_path.join("model.bin").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let named = models.join("whisper").join(name);
    if named.join("model.bin").is_file() {
        return Ok(named);
    }
    let installed = installed_whisper(models);
    Err(Error::Config(format!(
        "unknown ASR model `{name}`: neither a CTranslate2 model directory (with model.bin) nor installed in {} \
         (installed: {}); run scripts/setup.sh to install tiny.en and base",
        models.join("whisper").display(),
        if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
    )))
}

/// Names of the Whisper models installed under `models/whisper`.
pub fn installed_whisper(models: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(models.join("whisper"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("model.bin").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

pub fn silero_vad(models: &Path) -> Result<PathBuf> {
    require(
        models.join("vad").join("silero_vad_16k_sequence.onnx"),
        "Silero VAD",
    )
}

/// PP-OCRv4 detection and recognition models.
pub fn ocr_models(models: &Path) -> Result<(PathBuf, PathBuf)> {
    Ok((
        require(
            models.join("ocr/ch_PP-OCRv4_det_infer.onnx"),
            "PP-OCRv4 detection",
        )?,
        require(
            models.join("ocr/ch_PP-OCRv4_rec_infer.onnx"),
            "PP-OCRv4 recognition",
        )?,
    ))
}

pub fn onnxruntime(models: &Path) -> Result<PathBuf> {
    require(
        models.join("onnxruntime").join("libonnxruntime.so"),
        "ONNX Runtime",
    )
}

fn require(path: PathBuf, what: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Config(format!(
            "{what} not found at {} (run scripts/setup.sh, or set {ENV_MODELS})",
            path.display()
        )))
    }
}

/// Everything installed, for `vid2text models`: (kind, name, path, size in bytes).
pub fn inventory(models: &Path) -> Vec<(String, String, PathBuf, u64)> {
    let mut out = Vec::new();
    for name in installed_whisper(models) {
        let dir = models.join("whisper").join(&name);
        let size = std::fs::metadata(dir.join("model.bin"))
            .map(|m| m.len())
            .unwrap_or(0);
        out.push(("asr".into(), name, dir, size));
    }
    let files = [
        (
            "vad",
            "silero_vad",
            models.join("vad/silero_vad_16k_sequence.onnx"),
        ),
        (
            "ocr",
            "ppocrv4_det",
            models.join("ocr/ch_PP-OCRv4_det_infer.onnx"),
        ),
        (
            "ocr",
            "ppocrv4_rec",
            models.join("ocr/ch_PP-OCRv4_rec_infer.onnx"),
        ),
        (
            "runtime",
            "onnxruntime",
            models.join("onnxruntime/libonnxruntime.so"),
        ),
    ];
    for (kind, name, path) in files {
        if let Ok(m) = std::fs::metadata(&path) {
            out.push((kind.into(), name.into(), path, m.len()));
        }
    }
    out
}
