//! Silero VAD on real speech (`../shared/data/speech/en`): the many-frames-per-call stream must
//! give the probabilities of Silero's own frame-by-frame model, however the audio arrives, and
//! find the speech of a known recording. Needs the models from `scripts/setup.sh` and FFmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;

use ort::session::Session;
use ort::value::Tensor;
use vid2text_models::registry;
use vid2text_models::vad::{speech_spans, SileroVad, VadConfig, VadStream, WINDOW};

fn speech(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/speech/en")
        .join(rel)
}

/// 16 kHz mono f32 samples of `paths` one after another, decoded by FFmpeg.
fn samples(paths: &[PathBuf]) -> Vec<f32> {
    let mut out = Vec::new();
    for p in paths {
        let o = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(p)
            .args(["-ac", "1", "-ar", "16000", "-f", "f32le", "-"])
            .output()
            .expect("ffmpeg");
        assert!(o.status.success(), "ffmpeg on {}", p.display());
        out.extend(
            o.stdout
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    out
}

/// Silero's reference: `silero_vad.onnx`, one 64 + 512-sample frame per call, state carried.
fn frame_by_frame(env: &ort::environment::Environment, models: &Path, audio: &[f32]) -> Vec<f32> {
    let mut s = Session::builder(env)
        .unwrap()
        .commit_from_file(models.join("vad/silero_vad.onnx"))
        .unwrap();
    let mut state = vec![0.0f32; 256];
    let mut input = vec![0.0f32; 64 + WINDOW];
    let mut probs = Vec::new();
    for frame in audio.chunks(WINDOW) {
        input[64..].fill(0.0);
        input[64..64 + frame.len()].copy_from_slice(frame);
        let x = Tensor::from_array(([1usize, 64 + WINDOW], input.clone())).unwrap();
        let st = Tensor::from_array(([2usize, 1, 128], state)).unwrap();
        let sr = Tensor::from_array(((), vec![16_000i64])).unwrap();
        let out = s
            .run(ort::inputs!["input" => x, "state" => st, "sr" => sr])
            .unwrap();
        probs.push(out[0].try_extract_tensor::<f32>().unwrap().1[0]);
        state = out[1].try_extract_tensor::<f32>().unwrap().1.to_vec();
        input.copy_within(WINDOW.., 0);
    }
    probs
}

#[test]
fn stream_matches_silero_frame_by_frame_and_finds_the_speech() {
    let models = registry::models_dir();
    let env = vid2text_models::onnx_environment(&registry::onnxruntime(&models).unwrap()).unwrap();
    let mut vad = SileroVad::load(&registry::silero_vad(&models).unwrap()).unwrap();
    // Over 65 s (two model calls and a part): JFK and the LibriVox clips, twice.
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(speech("librivox-pocketsphinx"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    wavs.insert(0, speech("jfk/jfk.flac"));
    let audio = samples(&[wavs.clone(), wavs].concat());
    assert!(audio.len() > 2048 * WINDOW, "{} samples", audio.len());

    let reference = frame_by_frame(&env, &models, &audio);
    let frames = audio.len().div_ceil(WINDOW);
    // Whole, and in uneven pieces as a streamed decode delivers them.
    for piece in [audio.len(), 1000, 4096 + 7] {
        let mut stream = VadStream::new();
        for chunk in audio.chunks(piece) {
            stream.push(&mut vad, chunk).unwrap();
        }
        let probs = stream.finish(&mut vad).unwrap();
        assert_eq!(probs.len(), frames, "pieces of {piece}");
        let worst = probs
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "pieces of {piece}: differs by {worst}");
    }

    // JFK alone (11 s, speech from about 0.3 s to 10.6 s) is one span, or a few close ones.
    let jfk = samples(&[speech("jfk/jfk.flac")]);
    let mut stream = VadStream::new();
    stream.push(&mut vad, &jfk).unwrap();
    let spans = speech_spans(
        &stream.finish(&mut vad).unwrap(),
        jfk.len(),
        &VadConfig::default(),
    );
    assert!(!spans.is_empty());
    let first = spans[0].start as f64 / 16_000.0;
    let last = spans[spans.len() - 1].end as f64 / 16_000.0;
    assert!(first < 1.0 && last > 10.0, "{spans:?}");

    // Silence is not speech; an empty stream has no frames.
    let mut stream = VadStream::new();
    stream.push(&mut vad, &vec![0.0; 16_000 * 5]).unwrap();
    let probs = stream.finish(&mut vad).unwrap();
    assert!(speech_spans(&probs, 16_000 * 5, &VadConfig::default()).is_empty());
    assert!(VadStream::new().finish(&mut vad).unwrap().is_empty());
}
