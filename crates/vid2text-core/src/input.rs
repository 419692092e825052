//! Inputs: files, directories (walked recursively) and manifests (`.txt`, `.jsonl`, `.csv`).
//!
//! Discovery never stops at a bad input: a missing path, an unreadable directory, a symlink loop or
//! a malformed manifest line becomes a [`Failure`] and the rest goes on.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::doc::{Failure, Stage};

/// One input to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The uri as given by the user or the manifest (the document's `source`, the key that a
    /// rerun uses to skip what is committed).
    pub uri: String,
    /// What FFmpeg opens: a local path or an http(s) URL.
    pub location: Location,
    /// The manifest's `id`, when it gave one.
    pub id: Option<String>,
    /// The manifest line's other columns.
    pub meta: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    File(PathBuf),
    Url(String),
}

/// File extensions taken from directories without probing.
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "3g2", "3gp", "aac", "ac3", "aif", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "dts",
    "dv", "f4v", "flac", "flv", "m2ts", "m2v", "m4a", "m4b", "m4v", "mka", "mkv", "mov", "mp2",
    "mp3", "mp4", "mpeg", "mpg", "mts", "mxf", "nut", "oga", "ogg", "ogv", "opus", "qt", "rm",
    "rmvb", "spx", "ts", "vob", "wav", "weba", "webm", "wma", "wmv", "wv", "y4m",
];

/// Extensions skipped in directories without probing: text, images, subtitles, archives.
const SKIP_EXTENSIONS: &[&str] = &[
    "txt", "md", "json", "jsonl", "csv", "tsv", "xml", "html", "htm", "yaml", "yml", "toml", "srt",
    "vtt", "ass", "ssa", "sub", "idx", "jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff",
    "svg", "pdf", "zip", "gz", "zst", "tar", "7z", "rar", "py", "rs", "sh", "log", "nfo", "db",
    "part", "tmp", "lock",
];

/// Extensions read as manifests when given on the command line.
const MANIFEST_EXTENSIONS: &[&str] = &["txt", "jsonl", "csv"];

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Expands command-line arguments into inputs, in order, without duplicates.
///
/// `probe` decides for directory entries whose extension says nothing (no extension, or one
/// not listed): it should return true when FFmpeg can open the file as media.
pub fn discover(args: &[String], probe: &dyn Fn(&Path) -> bool) -> Vec<Result<Input, Failure>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |item: Result<Input, Failure>, out: &mut Vec<Result<Input, Failure>>| {
        let key = match &item {
            Ok(i) => i.uri.clone(),
            Err(f) => f.uri.clone(),
        };
        if seen.insert(key) {
            out.push(item);
        }
    };
    for arg in args {
        if is_url(arg) {
            push(url_input(arg, None, Map::new()), &mut out);
            continue;
        }
        let path = Path::new(arg);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                push(
                    Err(Failure::new(arg, Stage::Input, io_message(&e))),
                    &mut out,
                );
                continue;
            }
        };
        if meta.is_dir() {
            for item in walk_dir(path, probe) {
                push(item, &mut out);
            }
        } else if extension(path).is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e.as_str())) {
            for item in read_manifest(path) {
                push(item, &mut out);
            }
        } else {
            push(Ok(file_input(arg.clone(), path.to_path_buf())), &mut out);
        }
    }
    out
}

fn is_url(s: &str) -> bool {
    s.contains("://")
}

fn file_input(uri: String, path: PathBuf) -> Input {
    Input {
        uri,
        location: Location::File(path),
        id: None,
        meta: Map::new(),
    }
}

/// A uri with a scheme: http(s) goes to FFmpeg, file:// becomes a path, the rest is refused.
fn url_input(uri: &str, id: Option<String>, meta: Map<String, Value>) -> Result<Input, Failure> {
    let lower = uri.to_ascii_lowercase();
    let location = if lower.starts_with("http://") || lower.starts_with("https://") {
        Location::Url(uri.to_string())
    } else if let Some(path) = uri.strip_prefix("file://") {
        let path = PathBuf::from(path);
        if let Err(e) = std::fs::metadata(&path) {
            return Err(Failure::new(uri, Stage::Input, io_message(&e)));
        }
        Location::File(path)
    } else {
        return Err(Failure::new(
            uri,
            Stage::Input,
            "unsupported URL scheme (only http, https and file are accepted)",
        ));
    };
    Ok(Input {
        uri: uri.to_string(),
        location,
        id,
        meta,
    })
}

/// An I/O error as a failure record says it: "no such file or directory", "permission denied",
/// else the system's message.
pub fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Walks a directory recursively (following symlinks, detecting loops), in sorted order.
fn walk_dir(dir: &Path, probe: &dyn Fn(&Path) -> bool) -> Vec<Result<Input, Failure>> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        match entry {
            Ok(e) => {
                if e.file_type().is_dir() {
                    continue;
                }
                if !e.file_type().is_file() {
                    // FIFOs, sockets and devices: opening a FIFO would block the run.
                    out.push(Err(Failure::new(
                        e.path().display().to_string(),
                        Stage::Input,
                        "not a regular file (fifo, socket or device)",
                    )));
                    continue;
                }
                let path = e.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with('.') {
                    continue;
                }
                let take = match extension(path) {
                    Some(ext) if MEDIA_EXTENSIONS.contains(&ext.as_str()) => true,
                    Some(ext) if SKIP_EXTENSIONS.contains(&ext.as_str()) => false,
                    _ => probe(path),
                };
                if take {
                    out.push(Ok(file_input(
                        path.display().to_string(),
                        path.to_path_buf(),
                    )));
                }
            }
            Err(e) => {
                let uri = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| dir.display().to_string());
                let msg = if e.loop_ancestor().is_some() {
                    "symlink loop".to_string()
                } else if let Some(io) = e.io_error() {
                    io_message(io)
                } else {
                    e.to_string()
                };
                out.push(Err(Failure::new(uri, Stage::Input, msg)));
            }
        }
    }
    out
}

/// Reads a manifest. Relative paths in it are taken relative to the manifest's directory.
pub fn read_manifest(path: &Path) -> Vec<Result<Input, Failure>> {
    let name = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return vec![Err(Failure::new(name, Stage::Manifest, io_message(&e)))],
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let kind = match extension(path).as_deref() {
        Some("jsonl") => ManifestKind::Jsonl,
        Some("csv") => ManifestKind::Csv,
        _ => ManifestKind::Txt,
    };
    parse_manifest(kind, &name, file, &base)
}

/// The manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// One path or URL a line.
    Txt,
    /// One JSON object a line with `uri`, optional `id`, other keys as `meta`.
    Jsonl,
    /// A header with a `uri` column, optional `id`, other columns as `meta`.
    Csv,
}

/// Reads a manifest from any reader (`name` names it in failures, relative paths are taken
/// relative to `base`). Never panics, whatever the bytes (fuzzed: `fuzz/`).
pub fn parse_manifest(
    kind: ManifestKind,
    name: &str,
    reader: impl Read,
    base: &Path,
) -> Vec<Result<Input, Failure>> {
    match kind {
        ManifestKind::Jsonl => read_jsonl(name, BufReader::new(reader), base),
        ManifestKind::Csv => read_csv(name, reader, base),
        ManifestKind::Txt => read_txt(name, BufReader::new(reader), base),
    }
}

fn resolve(
    entry: &str,
    base: &Path,
    id: Option<String>,
    meta: Map<String, Value>,
) -> Result<Input, Failure> {
    if is_url(entry) {
        return url_input(entry, id, meta);
    }
    let p = Path::new(entry);
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    if let Err(e) = std::fs::metadata(&path) {
        return Err(Failure::new(entry, Stage::Input, io_message(&e)));
    }
    Ok(Input {
        uri: entry.to_string(),
        location: Location::File(path),
        id,
        meta,
    })
}

fn read_txt(name: &str, reader: impl BufRead, base: &Path) -> Vec<Result<Input, Failure>> {
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        match line {
            Ok(line) => {
                let entry = line.trim();
                if entry.is_empty() || entry.starts_with('#') {
                    continue;
                }
                out.push(resolve(entry, base, None, Map::new()));
            }
            Err(e) => {
                out.push(Err(Failure::new(
                    format!("{name}:{}", n + 1),
                    Stage::Manifest,
                    e,
                )));
                break;
            }
        }
    }
    out
}

/// Takes `uri` (or `path`/`url`) and `id` out of a manifest record; the rest becomes `meta`.
/// A manifest record: its uri, optional id and the other columns.
struct Record {
    uri: String,
    id: Option<String>,
    meta: Map<String, Value>,
}

fn split_record(mut obj: Map<String, Value>) -> Result<Record, String> {
    let uri = ["uri", "path", "url"]
        .iter()
        .find_map(|k| obj.remove(*k))
        .ok_or("no `uri` field")?;
    let uri = match uri {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        other => return Err(format!("`uri` is not a non-empty string: {other}")),
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_id(&s) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(format!(
                "`id` must be a non-empty string of at most 256 characters: {other}"
            ))
        }
    };
    Ok(Record { uri, id, meta: obj })
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)
}

fn read_jsonl(name: &str, reader: impl BufRead, base: &Path) -> Vec<Result<Input, Failure>> {
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                out.push(Err(Failure::new(at, Stage::Manifest, e)));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let record = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(obj)) => split_record(obj),
            Ok(_) => Err("not a JSON object".to_string()),
            Err(e) => Err(format!("invalid JSON: {e}")),
        };
        out.push(match record {
            Ok(r) => resolve(&r.uri, base, r.id, r.meta),
            Err(msg) => Err(Failure::new(at, Stage::Manifest, msg)),
        });
    }
    out
}

fn read_csv(name: &str, reader: impl Read, base: &Path) -> Vec<Result<Input, Failure>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Err(Failure::new(
                name,
                Stage::Manifest,
                format!("bad CSV header: {e}"),
            ))]
        }
    };
    if !headers.iter().any(|h| matches!(h, "uri" | "path" | "url")) {
        return vec![Err(Failure::new(
            name,
            Stage::Manifest,
            "CSV manifest has no `uri` column",
        ))];
    }
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let at = format!("{name}:{}", n + 2);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.push(Err(Failure::new(
                    at,
                    Stage::Manifest,
                    format!("bad CSV record: {e}"),
                )));
                continue;
            }
        };
        let obj: Map<String, Value> = headers
            .iter()
            .zip(rec.iter())
            .filter(|(_, v)| !(v.is_empty()))
            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
            .collect();
        out.push(match split_record(obj) {
            Ok(r) => resolve(&r.uri, base, r.id, r.meta),
            Err(msg) => Err(Failure::new(at, Stage::Manifest, msg)),
        });
    }
    out
}

/// The document id of an input whose bytes are at `local` (the file itself, or the download of
/// a URL): the manifest's id, else the sha256 of the bytes.
pub fn document_id(input: &Input, local: &Path) -> std::io::Result<String> {
    match &input.id {
        Some(id) => Ok(id.clone()),
        None => file_sha256(local),
    }
}

/// sha256 of a file's bytes, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(to_hex(&h.finalize()))
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_probe(_: &Path) -> bool {
        false
    }

    #[test]
    fn manifests_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("videos/sub")).unwrap();
        std::fs::write(d.join("videos/a.mp4"), b"x").unwrap();
        std::fs::write(d.join("videos/sub/b.MKV"), b"x").unwrap();
        std::fs::write(d.join("videos/notes.txt"), b"x").unwrap();
        std::fs::write(d.join("videos/noext"), b"x").unwrap();
        std::fs::write(
            d.join("list.jsonl"),
            "{\"uri\": \"videos/a.mp4\", \"id\": \"A\", \"lang\": \"en\"}\nnot json\n{\"id\": \"x\"}\n\n{\"uri\": \"gone.mp4\"}\n",
        )
        .unwrap();
        std::fs::write(d.join("list.csv"), "uri,title\nvideos/sub/b.MKV,Bee\n").unwrap();
        std::fs::write(d.join("bad.csv"), "name,title\nx,y\n").unwrap();
        std::fs::write(
            d.join("list.txt"),
            "# comment\nvideos/a.mp4\n\nftp://host/x.mp4\n",
        )
        .unwrap();
        let arg = |p: &str| d.join(p).display().to_string();
        let got = discover(
            &[
                arg("videos"),
                arg("list.jsonl"),
                arg("list.csv"),
                arg("bad.csv"),
                arg("list.txt"),
                arg("missing.mp4"),
            ],
            &no_probe,
        );
        let ok: Vec<_> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
        let failed: Vec<_> = got.iter().filter_map(|r| r.as_ref().err()).collect();
        // list.txt's "videos/a.mp4" is the jsonl's uri again: taken once.
        assert_eq!(ok.len(), 4, "{ok:#?}");
        assert!(ok[0].uri.ends_with("videos/a.mp4"));
        assert!(ok[1].uri.ends_with("videos/sub/b.MKV"));
        assert_eq!(ok[2].id.as_deref(), Some("A"));
        assert_eq!(ok[2].meta["lang"], "en");
        assert_eq!(ok[3].meta["title"], "Bee");
        let stages: Vec<_> = failed.iter().map(|f| (f.stage, f.error.as_str())).collect();
        assert_eq!(failed.len(), 6, "{failed:#?}");
        assert!(
            stages.contains(&(Stage::Manifest, "not a JSON object"))
                || stages.iter().any(|(_, e)| e.starts_with("invalid JSON"))
        );
        assert!(failed
            .iter()
            .any(|f| f.uri.ends_with("list.jsonl:3") && f.error.contains("no `uri`")));
        assert!(failed
            .iter()
            .any(|f| f.uri == "gone.mp4" && f.error.contains("no such file")));
        assert!(failed
            .iter()
            .any(|f| f.uri.ends_with("bad.csv") && f.error.contains("no `uri` column")));
        assert!(failed
            .iter()
            .any(|f| f.uri == "ftp://host/x.mp4" && f.error.contains("scheme")));
        assert!(failed.iter().any(|f| f.uri.ends_with("missing.mp4")));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_a_failure_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.wav"), b"x").unwrap();
        std::os::unix::fs::symlink(&d, d.join("loop")).unwrap();
        let got = discover(&[d.display().to_string()], &no_probe);
        assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(got
            .iter()
            .any(|r| matches!(r, Err(f) if f.error == "symlink loop")));
    }

    #[test]
    fn ids_hash_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        std::fs::write(&p, b"abc").unwrap();
        let input = file_input("a.wav".into(), p.clone());
        assert_eq!(
            document_id(&input, &p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
