//! Hostile inputs: each gets its recorded failure and the rest of the run completes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// A one-purpose HTTP server on 127.0.0.1: `/ok.flac` serves a real recording, `/stall` sends
/// headers and then nothing, `/cut` closes half-way through the body, `/big` announces a body
/// over any small limit, anything else is 404. Serves `n` connections, then stops.
fn serve(n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = std::fs::read(data("speech/en/jfk/jfk.flac")).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut s) = stream else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = [0u8; 4096];
                let n = s.read(&mut req).unwrap_or(0);
                let req = String::from_utf8_lossy(&req[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let head = |len: usize| {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                match path.as_str() {
                    "/ok.flac" => {
                        let _ = s.write_all(head(body.len()).as_bytes());
                        let _ = s.write_all(&body);
                    }
                    "/stall" => {
                        let _ = s.write_all(head(body.len()).as_bytes());
                        let _ = s.write_all(&body[..1000]);
                        // Far longer than the run's --timeout: only vid2text's stall limit can
                        // end this download.
                        std::thread::sleep(Duration::from_secs(300));
                    }
                    "/cut" => {
                        let _ = s.write_all(head(body.len()).as_bytes());
                        let _ = s.write_all(&body[..body.len() / 2]);
                    }
                    "/big" => {
                        let _ = s.write_all(head(5 << 20).as_bytes());
                        let _ = s.write_all(&body);
                    }
                    _ => {
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn http_inputs_are_downloaded_with_limits() {
    let base = serve(5);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let urls: Vec<String> = ["ok.flac", "stall", "cut", "big", "missing"]
        .iter()
        .map(|p| format!("{base}/{p}"))
        .collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let began = std::time::Instant::now();
    let r = run(
        &args,
        &out,
        &[
            "--asr-model",
            "tiny.en",
            "--timeout",
            "4",
            "--max-download-size",
            "2M",
        ],
    );
    let wall = began.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The stalled download was given up at about --timeout (the server would hold it for 300 s;
    // the two decode workers take the five URLs two at a time).
    assert!(
        wall < Duration::from_secs(40),
        "the stall timeout did not fire: {wall:?}"
    );
    let docs = documents(&out);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["source"], urls[0]);
    assert!(d["text"].as_str().unwrap().contains("country"));
    // The id is the sha256 of the downloaded bytes, as for a local copy of the same file.
    let local = vid2text_core::input::file_sha256(&data("speech/en/jfk/jfk.flac")).unwrap();
    assert_eq!(d["id"], local);
    let fails = failures(&out);
    assert_eq!(fails.len(), 4, "{fails:#?}");
    for f in &fails {
        assert_eq!(f["stage"], "download", "{f}");
    }
    let err = |p: &str| {
        fails
            .iter()
            .find(|f| f["uri"].as_str().unwrap().ends_with(p))
            .unwrap()["error"]
            .to_string()
    };
    assert!(err("/big").contains("limit"), "{}", err("/big"));
    assert!(err("/missing").contains("404"), "{}", err("/missing"));
    let stall = err("/stall");
    assert!(
        stall.contains("gave up after 4 s") || stall.contains("stalled: no data for 4 s"),
        "{stall}"
    );
    assert!(err("/cut").contains("disconnected"), "{}", err("/cut"));
    // Nothing is left behind in the download folder.
    assert_eq!(std::fs::read_dir(out.join("downloads")).unwrap().count(), 0);
}

#[test]
fn hostile_files_fail_one_by_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(dir.join("folder.mp4")).unwrap();
    // A FIFO would block a naive open() forever.
    let fifo = dir.join("pipe.mp4");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A symlink loop inside the input directory.
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    // Forty audio streams in one file.
    let many = dir.join("many-streams.mkv");
    let wav = data_str("speech/en/misc/sr-english.wav");
    let mut args = vec!["-i", &wav];
    for _ in 0..40 {
        args.extend(["-map", "0:a"]);
    }
    args.extend(["-c:a", "flac", many.to_str().unwrap()]);
    ffmpeg(&args);
    // A manifest whose id tries to leave OUT through the subtitle file name.
    let manifest = tmp.path().join("list.jsonl");
    std::fs::write(
        &manifest,
        format!(
            "{{\"uri\": \"{}\", \"id\": \"../../escaped\"}}\n{{\"uri\": \"gopher://example/x.mp4\"}}\n{{\"uri\": \"in/folder.mp4\"}}\n",
            data_str("speech/en/jfk/jfk.flac")
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let r = run(
        &[
            &dir.display().to_string(),
            &manifest.display().to_string(),
            &fifo.display().to_string(),
        ],
        &out,
        &[
            "--asr-model",
            "tiny.en",
            "--subtitles",
            "srt",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    let many_doc = doc(&docs, "many-streams.mkv");
    assert!(
        vid2text_core::text::normalize(many_doc["text"].as_str().unwrap()).contains("three")
            || many_doc["text"].as_str().unwrap().contains('3')
    );
    let escaped = doc(&docs, "jfk.flac");
    assert_eq!(escaped["id"], "../../escaped");
    // The subtitle file stays inside OUT/subtitles.
    let subs: Vec<_> = std::fs::read_dir(out.join("subtitles"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert!(!tmp.path().join("escaped.srt").exists() && !Path::new("/escaped.srt").exists());
    let fails = failures(&out);
    let reason = |name: &str| -> String {
        fails
            .iter()
            .find(|f| f["uri"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no failure for {name}: {fails:#?}"))["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(reason("folder.mp4"), "is a directory");
    assert!(reason("pipe.mp4").contains("not a regular file"));
    assert_eq!(reason("loop"), "symlink loop");
    assert!(reason("gopher://example/x.mp4").contains("scheme"));
}

/// Frames of any size are scaled inside FFmpeg before OCR sees them: an 8K video's text is read
/// without holding 8K frames. A video-only file cut in half fails at the OCR stage, named.
#[test]
fn huge_frames_are_read_and_cut_video_only_files_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let huge = tmp.path().join("8k.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=white:s=7680x4320:r=2:d=2",
        "-vf",
        &format!(
            "drawtext=fontfile={font}:text='Huge frame text':x=(w-text_w)/2:y=(h-text_h)/2:fontsize=400:fontcolor=black"
        ),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        huge.to_str().unwrap(),
    ]);
    // 20 s of a changing picture, video only, in Matroska (which states its duration), then
    // cut in half.
    let full = tmp.path().join("full.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=10:d=20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "10",
        full.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = tmp.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let inputs = [
        huge.display().to_string(),
        cut.display().to_string(),
        full.display().to_string(),
    ];
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    // --min-words 0: the video-only file has no words and is kept to be looked at.
    let r = run(
        &args,
        &out,
        &["--asr-model", "tiny.en", "--json", "--min-words", "0"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let docs = documents(&out);
    assert_eq!(docs.len(), 2);
    let d = doc(&docs, "8k.mp4");
    let texts: Vec<&str> = d["screen_text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Huge frame text"], "{d}");
    // The video-only file that decodes in full is a document with a video and no speech.
    let full_doc = doc(&docs, "full.mkv");
    assert_eq!(full_doc["stats"]["has_video"], true, "{full_doc}");
    assert!(
        full_doc["stats"]["keyframes"].as_u64().unwrap() > 0,
        "{full_doc}"
    );
    let fails = failures(&out);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0]["uri"].as_str().unwrap().ends_with("cut.mkv"));
    assert_eq!(fails[0]["stage"], "ocr");
    assert!(
        fails[0]["error"].as_str().unwrap().contains("truncated"),
        "{fails:?}"
    );
    // Frames were scaled by FFmpeg: nothing near an 8K RGB frame per keyframe (100 MiB) stays.
    let summary: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert!(
        summary["peak_rss_mib"].as_f64().unwrap() < 900.0,
        "{summary}"
    );
}

/// A file that cannot be read is a failure at the input stage, named "permission denied". As
/// root (CI) the run is started without the capabilities that let root read anything
/// (`setpriv` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so the check is real there too.
#[test]
fn an_unreadable_file_is_a_failure_even_for_root() {
    let tmp = tempfile::tempdir().unwrap();
    let locked = tmp.path().join("locked.wav");
    std::fs::copy(data("speech/en/misc/sr-english.wav"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let readable = data_str("speech/en/jfk/jfk.flac");
    let out = tmp.path().join("out");
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.arg("--bounding-set=-dac_override,-dac_read_search")
            .arg(env!("CARGO_BIN_EXE_vid2text"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_vid2text"))
    };
    let r = cmd
        .args(["run", "-q", locked.to_str().unwrap(), &readable, "-o"])
        .arg(&out)
        .args(["--asr-model", "tiny.en", "--no-ocr"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    let fails = failures(&out);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0]["uri"].as_str().unwrap().ends_with("locked.wav"));
    assert!(
        fails[0]["error"]
            .as_str()
            .unwrap()
            .contains("permission denied"),
        "{fails:?}"
    );
    assert_eq!(documents(&out).len(), 1, "the readable input is committed");
}
