//! The engine: a Whisper model loaded in CTranslate2 (`ct2rs::sys::Whisper`), with its
//! vocabulary and our Whisper-exact log-mel features. It runs batches of requests and detects
//! languages; it keeps no per-input state (that is [`super::Transcription`]'s).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};

use super::config::{EngineConfig, EngineDevice, SearchConfig};
use super::transcription::{Encoded, Generated, Request, Window, TIME_PRECISION};
use crate::mel::{MelExtractor, N_FRAMES};
use crate::tokenizer::Vocab;
use crate::{Error, Result};

/// A loaded Whisper model: engine, vocabulary and feature extractor, shared by all inputs.
pub struct WhisperModel {
    engine: Whisper,
    vocab: Vocab,
    mel: MelExtractor,
    replicas: usize,
    /// The engine runs on the CPU (else CUDA).
    cpu: bool,
    times: Timers,
}

/// Encoder output frames of a 30 s window (the encoder halves the 3,000 mel frames).
const ENCODED_FRAMES: usize = N_FRAMES / 2;

extern "C" {
    /// `StorageView::data<float>()`, or null when the view holds another type (engine_info.cpp).
    fn vid2text_ct2_float_data(view: *const std::ffi::c_void) -> *const f32;
}

/// The floats of a CPU storage view that CTranslate2 returned (it owns them).
fn host_floats<'v>(view: &'v StorageView<'static>) -> Result<&'v [f32]> {
    let object: *const std::ffi::c_void = (&**view as *const _) as *const std::ffi::c_void;
    // SAFETY: `object` is the ctranslate2::StorageView the Rust view owns; the pointer returned
    // is into its buffer of `size()` floats, alive as long as the view is borrowed.
    let data = unsafe { vid2text_ct2_float_data(object) };
    if data.is_null() || view.device() != Device::CPU {
        return Err(Error::inference(
            "whisper",
            "the encoder's output is not float32 on the CPU",
        ));
    }
    Ok(unsafe { std::slice::from_raw_parts(data, view.size() as usize) })
}

/// Thread time spent in each part of the model, summed over the replicas' workers
/// (nanoseconds): where the ASR stage's time goes, for the summary and the benchmark.
#[derive(Default)]
struct Timers {
    mel: AtomicU64,
    encoder: AtomicU64,
    decoder: AtomicU64,
    encoded: AtomicU64,
}

/// Seconds spent in each part of the model (summed over replicas), and windows encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ModelTimes {
    pub mel_s: f64,
    pub encoder_s: f64,
    pub decoder_s: f64,
    pub windows_encoded: u64,
}

fn add_since(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
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

/// A `[windows, 1500, width]` view of encoder outputs laid end to end in `host`.
fn host_view(host: &mut [f32], windows: usize) -> Result<StorageView<'_>> {
    let width = host.len() / (windows * ENCODED_FRAMES);
    StorageView::new(&[windows, ENCODED_FRAMES, width], host, Device::CPU).map_err(engine_err)
}

/// Loads `wanted` replicas with `load`; on a GPU, replicas that do not fit in its memory (the
/// default four copies of a large model on a small card) are halved until they do, down to one,
/// whose error is the one returned. Returns the model and the replicas loaded.
fn load_replicas<T>(
    wanted: usize,
    cuda: bool,
    mut load: impl FnMut(usize) -> anyhow::Result<T>,
) -> anyhow::Result<(T, usize)> {
    let mut n = wanted.max(1);
    loop {
        match load(n) {
            Ok(model) => return Ok((model, n)),
            Err(e) if cuda && n > 1 && format!("{e:#}").contains("out of memory") => n /= 2,
            Err(e) => return Err(e),
        }
    }
}

/// Runs `each` over `items` in contiguous chunks on up to `threads` threads, the calling one
/// included.
pub(crate) fn in_parallel<T: Send>(items: &mut [T], threads: usize, each: impl Fn(&mut T) + Sync) {
    let size = items.len().div_ceil(threads.max(1)).max(1);
    let each = &each;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks_mut(size);
        let first = chunks.next();
        for chunk in chunks {
            scope.spawn(move || chunk.iter_mut().for_each(each));
        }
        if let Some(chunk) = first {
            chunk.iter_mut().for_each(each);
        }
    });
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
        let cuda = matches!(engine.device, EngineDevice::Cuda);
        let compute = compute_type(&engine.compute_type)?;
        let config = |replicas: usize| Config {
            device: if cuda { Device::CUDA } else { Device::CPU },
            compute_type: compute,
            num_threads_per_replica: engine.threads,
            // One entry per replica (CTranslate2 places a model copy per listed device).
            device_indices: vec![0; replicas],
            ..Config::default()
        };
        let (whisper, replicas) = load_replicas(engine.replicas.max(1), cuda, |n| {
            Whisper::new(dir, config(n))
        })
        .map_err(|e| Error::load(dir, e))?;
        if replicas < engine.replicas.max(1) {
            eprintln!(
                "vid2text: {} Whisper replicas did not fit in GPU memory; running {replicas} \
                 (set --replicas to choose)",
                engine.replicas
            );
        }
        let vocab = Vocab::load(dir)?;
        let mel = MelExtractor::new(whisper.n_mels());
        Ok(WhisperModel {
            engine: whisper,
            vocab,
            mel,
            replicas,
            cpu: !cuda,
            times: Timers::default(),
        })
    }

    /// Where the model's time went so far.
    pub fn times(&self) -> ModelTimes {
        let s = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e9;
        ModelTimes {
            mel_s: s(&self.times.mel),
            encoder_s: s(&self.times.encoder),
            decoder_s: s(&self.times.decoder),
            windows_encoded: self.times.encoded.load(Ordering::Relaxed),
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Model replicas: how many batches can run at once.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Detects the spoken language from several windows: the language with the highest mean
    /// probability over them. On the CPU it also returns the windows' encoder outputs, which
    /// their first decoding pass reuses (faster-whisper does the same for its first window);
    /// on CUDA the encoder is cheap and the outputs stay on the device (none returned).
    pub(crate) fn detect_language(
        &self,
        windows: &[Window],
    ) -> Result<(String, f64, Vec<Encoded>)> {
        let n_mels = self.mel.n_mels();
        let began = Instant::now();
        let mut feats = Vec::with_capacity(windows.len() * n_mels * N_FRAMES);
        for w in windows {
            feats.extend(self.mel.window_features(&w.audio));
        }
        add_since(&self.times.mel, began);
        let mut kept = Vec::new();
        let results = if self.cpu {
            let began = Instant::now();
            let mut host = Vec::new();
            for one in feats.chunks_mut(n_mels * N_FRAMES) {
                self.encode_onto_host(one, &mut host)?;
            }
            add_since(&self.times.encoder, began);
            self.times
                .encoded
                .fetch_add(windows.len() as u64, Ordering::Relaxed);
            let per_window = host.len() / windows.len();
            kept = host
                .chunks(per_window)
                .map(|w| Encoded::new(w.to_vec()))
                .collect();
            let view = host_view(&mut host, windows.len())?;
            let began = Instant::now();
            let results = self.engine.detect_language(&view).map_err(engine_err)?;
            add_since(&self.times.decoder, began);
            results
        } else {
            let view =
                StorageView::new(&[windows.len(), n_mels, N_FRAMES], &mut feats, Device::CPU)
                    .map_err(engine_err)?;
            self.engine.detect_language(&view).map_err(engine_err)?
        };
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
        Ok((code, sum / results.len() as f64, kept))
    }

    /// Log-mel features of the requests, on up to one thread per core: a large batch would
    /// otherwise keep a GPU waiting on one core. Frees their samples.
    pub(crate) fn features<K: Send>(&self, items: &mut [(K, Request)]) {
        let began = Instant::now();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        in_parallel(items, threads, |(_, r)| {
            if r.encoded.is_none() {
                r.features = self.mel.window_features(&r.audio);
            }
            r.audio = Vec::new();
        });
        add_since(&self.times.mel, began);
    }

    /// Encodes one window's features on the CPU and appends the encoder's output to `host` (one
    /// window a call: see `generate`).
    fn encode_onto_host(&self, features: &mut [f32], host: &mut Vec<f32>) -> Result<()> {
        let view = StorageView::new(&[1, self.mel.n_mels(), N_FRAMES], features, Device::CPU)
            .map_err(engine_err)?;
        let out = self.engine.encode(&view, true).map_err(engine_err)?;
        host.extend_from_slice(host_floats(&out)?);
        Ok(())
    }

    /// One generate call over requests that share temperature, prompt length and length limit.
    pub(crate) fn generate(
        &self,
        requests: &[&Request],
        config: &SearchConfig,
    ) -> Result<Vec<Generated>> {
        let n_mels = self.mel.n_mels();
        let began = Instant::now();
        // The encoder and the decoder as two calls, so that each is timed and, on the CPU, the
        // encoder reads one window per call: its attention scores (batch x heads x 1500^2
        // floats a layer) are a run's largest buffers and slow down as they grow, while the
        // decoder's many small steps gain from every window added to the batch.
        let mut host = Vec::new();
        let mut scratch = Vec::new();
        let mut fresh = requests.len();
        let encoded = if self.cpu {
            for r in requests {
                if let Some(e) = &r.encoded {
                    host.extend_from_slice(e);
                    fresh -= 1;
                    continue;
                }
                scratch.clear();
                scratch.extend_from_slice(&r.features);
                self.encode_onto_host(&mut scratch, &mut host)?;
            }
            host_view(&mut host, requests.len())?
        } else {
            // Detection keeps no encoder outputs on CUDA (see `detect_language`).
            debug_assert!(requests.iter().all(|r| r.encoded.is_none()));
            for r in requests {
                scratch.extend_from_slice(&r.features);
            }
            let shape = [requests.len(), n_mels, N_FRAMES];
            let view = StorageView::new(&shape, &mut scratch, Device::CPU).map_err(engine_err)?;
            self.engine.encode(&view, false).map_err(engine_err)?
        };
        add_since(&self.times.encoder, began);
        self.times
            .encoded
            .fetch_add(fresh as u64, Ordering::Relaxed);
        let prompts: Vec<Vec<&str>> = requests
            .iter()
            .map(|r| r.prompt.iter().map(|&id| self.vocab.token(id)).collect())
            .collect();
        let began = Instant::now();
        let results = self
            .engine
            .generate(&encoded, &prompts, &options(requests[0], config))
            .map_err(engine_err)?;
        add_since(&self.times.decoder, began);
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

#[cfg(test)]
mod tests {
    use super::load_replicas;

    /// A loader whose card holds `fits` copies: more fail as CTranslate2 reports it.
    fn card(fits: usize) -> impl FnMut(usize) -> anyhow::Result<usize> {
        move |n| {
            if n <= fits {
                Ok(n)
            } else {
                Err(anyhow::anyhow!("CUDA failed with error out of memory"))
            }
        }
    }

    #[test]
    fn replicas_that_do_not_fit_on_the_gpu_are_halved() {
        assert_eq!(load_replicas(4, true, card(4)).unwrap().1, 4);
        assert_eq!(load_replicas(4, true, card(3)).unwrap().1, 2);
        assert_eq!(load_replicas(8, true, card(1)).unwrap().1, 1);
        // Not even one copy fits: that error, as it came.
        let e = load_replicas(4, true, card(0)).unwrap_err();
        assert!(e.to_string().contains("out of memory"), "{e}");
        // On the CPU, and for any other error, nothing is retried.
        assert!(load_replicas(4, false, card(2)).is_err());
        let mut calls = 0;
        let e = load_replicas(4, true, |_| -> anyhow::Result<()> {
            calls += 1;
            Err(anyhow::anyhow!("no such file"))
        });
        assert!(e.is_err());
        assert_eq!(calls, 1);
    }
}
