//! PP-OCRv4 on the RapidOCR test images (`../shared/data/ocr/rapidocr`, expected.tsv): the
//! expected first line must be read. Needs the models from `scripts/setup.sh` and FFmpeg (to
//! decode the images).

use std::path::{Path, PathBuf};
use std::process::Command;

use vid2text_models::ocr::OcrEngine;
use vid2text_models::ocr_image::RgbImage;
use vid2text_models::registry;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ocr/rapidocr")
}

/// Decodes an image to RGB with FFmpeg (EXIF orientation is not applied), transparent pixels
/// laid over `background`, as a video showing the picture would have them.
fn load(path: &Path, background: &str) -> RgbImage {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let dims = String::from_utf8(probe.stdout).unwrap();
    let mut it = dims.trim().split(',').map(|v| v.parse::<usize>().unwrap());
    let (w, h) = (it.next().unwrap(), it.next().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("color={background}:s={w}x{h},format=rgb24"))
        .arg("-i")
        .arg(path)
        .args([
            "-filter_complex",
            "[0][1]overlay=format=rgb",
            "-frames:v",
            "1",
        ])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    RgbImage::new(w, h, out.stdout)
}

fn engine() -> OcrEngine {
    let models = registry::models_dir();
    let env = vid2text_models::onnx_environment(&registry::onnxruntime(&models).unwrap()).unwrap();
    let (det, rec) = registry::ocr_models(&models).unwrap();
    OcrEngine::load(&det, &rec, &env, 2).unwrap()
}

#[test]
fn reads_the_rapidocr_test_images() {
    let mut ocr = engine();
    assert!(
        ocr.dictionary_len() > 6000,
        "dictionary of {}",
        ocr.dictionary_len()
    );
    let tsv = std::fs::read_to_string(data().join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[1]);
        let background = if file.starts_with("white") {
            "black"
        } else {
            "white"
        };
        let lines = ocr
            .recognize(&load(&data().join(file), background), 0.5)
            .unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        eprintln!(
            "{file}: {:?}",
            lines
                .iter()
                .map(|l| (l.text.as_str(), l.confidence))
                .collect::<Vec<_>>()
        );
        // What RapidOCR's own tests assert of these two: the first line read, exactly.
        let first = |want: &str| {
            assert_eq!(texts.first().copied(), Some(want), "{file}: {texts:?}");
        };
        let want = match file {
            "ch_en_num.jpg" => {
                first("正品促销");
                assert!(texts.len() >= 12, "{file}: {texts:?}");
                checked += 1;
                continue;
            }
            "en.jpg" => {
                first("3");
                checked += 1;
                continue;
            }
            "return_word_debug.jpg" => "3F1",
            _ => expected,
        };
        let all = texts.join("").to_lowercase().replace(' ', "");
        let want_norm = want.to_lowercase().replace(' ', "");
        assert!(
            all.contains(&want_norm),
            "{file}: want {want:?}, read {texts:?}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} images checked");
}
