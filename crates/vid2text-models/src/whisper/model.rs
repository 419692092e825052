//! The engine: a Whisper model loaded in CTranslate2 (`ct2rs::sys::Whisper`), with its
//! vocabulary and our Whisper-exact log-mel features. It runs batches of requests and detects
//! languages; it keeps no per-input state (that is [`super::Transcription`]'s).

use std::path::Path;

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};

use super::config::{EngineConfig, EngineDevice, SearchConfig};
use super::transcription::{Generated, Request, Window, TIME_PRECISION};
use crate::mel::{MelExtractor, N_FRAMES};
use crate::tokenizer::Vocab;
use crate::{Error, Result};

/// A loaded Whisper model: engine, vocabulary and feature extractor, shared by all inputs.
pub struct WhisperModel {
    engine: Whisper,
    vocab: Vocab,
    mel: MelExtractor,
    replicas: usize,
}

fn compute_type(name: &str) -> Result<ComputeType> {
    super::config::check_compute_type(name)?;
    Ok(match name {
        "auto" => ComputeType::AUTO,
        "int8" => ComputeType::INT8,
        "int8_float32" => ComputeType::INT8_FLOAT32,
        "int8_float16" => ComputeType::INT8_FLOAT16,
        "int8_bfloat16" => ComputeType::INT8_BFLOAT16,
        "int16" => ComputeType::INT16,
        "float16" => ComputeType::FLOAT16,
        "bfloat16" => ComputeType::BFLOAT16,
        "float32" => ComputeType::FLOAT32,
        _ => ComputeType::DEFAULT,
    })
}

fn engine_err(e: anyhow::Error) -> Error {
    Error::inference("whisper", e)
}

impl WhisperModel {
    pub fn load(dir: &Path, engine: &EngineConfig) -> Result<Self> {
        if !dir.join("model.bin").is_file() {
            return Err(Error::load(
                dir,
                "no model.bin (not a CTranslate2 model directory)",
            ));
        }
        let config = Config {
            device: match engine.device {
                EngineDevice::Cpu => Device::CPU,
                EngineDevice::Cuda => Device::CUDA,
            },
            compute_type: compute_type(&engine.compute_type)?,
            num_threads_per_replica: engine.threads,
            // One entry per replica (CTranslate2 places a model copy per listed device).
            device_indices: vec![0; engine.replicas.max(1)],
            ..Config::default()
        };
        let whisper = Whisper::new(dir, config).map_err(|e| Error::load(dir, e))?;
        let vocab = Vocab::load(dir)?;
        let mel = MelExtractor::new(whisper.n_mels());
        Ok(WhisperModel {
            engine: whisper,
            vocab,
            mel,
            replicas: engine.replicas.max(1),
        })
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Model replicas: how many batches can run at once.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Detects the spoken language from several windows: the language with the highest mean
    /// probability over them.
    pub(crate) fn detect_language(&self, windows: &[Window]) -> Result<(String, f64)> {
        let n_mels = self.mel.n_mels();
        let mut feats = Vec::with_capacity(windows.len() * n_mels * N_FRAMES);
        for w in windows {
            feats.extend(self.mel.window_features(&w.audio));
        }
        let view = StorageView::new(&[windows.len(), n_mels, N_FRAMES], &mut feats, Device::CPU)
            .map_err(engine_err)?;
        let results = self.engine.detect_language(&view).map_err(engine_err)?;
        let mut sums: std::collections::HashMap<String, f64> = Default::default();
        for per_window in &results {
            for r in per_window {
                *sums.entry(r.language.clone()).or_default() += r.probability as f64;
            }
        }
        let (token, sum) = sums
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| Error::inference("whisper", "language detection returned nothing"))?;
        let code = token
            .trim_start_matches("<|")
            .trim_end_matches("|>")
            .to_string();
        Ok((code, sum / results.len() as f64))
    }

    /// Log-mel features of the requests, on up to one thread per core: a large batch (CUDA's
    /// 8) would otherwise keep the device waiting on one core. Frees their samples.
    pub(crate) fn features<K: Send>(&self, items: &mut [(K, Request)]) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(items.len())
            .max(1);
        let size = items.len().div_ceil(threads).max(1);
        let one = |chunk: &mut [(K, Request)]| {
            for (_, r) in chunk {
                r.features = self.mel.window_features(&r.audio);
                r.audio = Vec::new();
            }
        };
        std::thread::scope(|scope| {
            let mut chunks = items.chunks_mut(size);
            let first = chunks.next();
            for chunk in chunks {
                scope.spawn(move || one(chunk));
            }
            if let Some(chunk) = first {
                one(chunk);
            }
        });
    }

    /// One generate call over requests that share temperature, prompt length and length limit.
    pub(crate) fn generate(
        &self,
        requests: &[&Request],
        config: &SearchConfig,
    ) -> Result<Vec<Generated>> {
        let n_mels = self.mel.n_mels();
        let mut feats = Vec::with_capacity(requests.len() * n_mels * N_FRAMES);
        for r in requests {
            feats.extend_from_slice(&r.features);
        }
        let view = StorageView::new(&[requests.len(), n_mels, N_FRAMES], &mut feats, Device::CPU)
            .map_err(engine_err)?;
        let prompts: Vec<Vec<&str>> = requests
            .iter()
            .map(|r| r.prompt.iter().map(|&id| self.vocab.token(id)).collect())
            .collect();
        let results = self
            .engine
            .generate(&view, &prompts, &options(requests[0], config))
            .map_err(engine_err)?;
        Ok(results
            .into_iter()
            .map(|r| {
                let tokens: Vec<u32> = r
                    .sequences_ids
                    .first()
                    .map(|s| s.iter().map(|&t| t as u32).collect())
                    .unwrap_or_default();
                let seq_len = tokens.len() as f64;
                let score = r.scores.first().copied().unwrap_or(0.0) as f64;
                let cum = score * seq_len.powf(config.length_penalty as f64);
                let text = self.vocab.text(&tokens);
                Generated {
                    avg_logprob: cum / (seq_len + 1.0),
                    no_speech_prob: r.no_speech_prob as f64,
                    compression_ratio: vid2text_core::text::compression_ratio(&text),
                    tokens,
                }
            })
            .collect())
    }
}

/// CTranslate2's options for a batch led by `first`: beam search at temperature 0, sampling
/// `best_of` candidates above it.
fn options(first: &Request, config: &SearchConfig) -> WhisperOptions {
    let mut options = WhisperOptions {
        beam_size: config.beam_size.max(1),
        patience: config.patience,
        length_penalty: config.length_penalty,
        repetition_penalty: config.repetition_penalty,
        no_repeat_ngram_size: config.no_repeat_ngram_size,
        max_length: first.max_length,
        return_scores: true,
        return_no_speech_prob: true,
        max_initial_timestamp_index: (config.max_initial_timestamp / TIME_PRECISION).round()
            as usize,
        suppress_blank: true,
        suppress_tokens: vec![-1],
        ..WhisperOptions::default()
    };
    if first.temperature > 0.0 {
        options.beam_size = 1;
        options.num_hypotheses = config.best_of.max(1);
        options.sampling_topk = 0;
        options.sampling_temperature = first.temperature;
    } else {
        options.sampling_topk = 1;
        options.sampling_temperature = 1.0;
    }
    options
}
