//! The output directory is the job's state (see DESIGN.md):
//!
//! ```text
//! OUT/
//!   run.json                           config + its hash, model ids: written once, atomically
//!   docs/part-SSSSS-NNNNN.jsonl.zst    committed documents
//!   failures/part-SSSSS-NNNNN.jsonl    one line per input that failed: uri, stage, error
//!   subtitles/<id>.srt|.vtt            sidecars, written before their document is committed
//!   shards/SSSSS.done                  written last, once every input of the shard is committed
//! ```
//!
//! Every file appears under its final name only complete: it is written as `NAME.tmp`, fsynced,
//! renamed, and the directory fsynced. A rerun reads the committed parts and skips their inputs,
//! so a kill at any instant loses at most the part being written and never duplicates a document.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::doc::{Document, Failure};
use crate::error::{Error, Result};

pub struct OutDir {
    root: PathBuf,
    shard: u32,
    next_part: u32,
}

/// What a previous run committed: the `source` of every document and the `uri` of every failure.
#[derive(Debug, Default)]
pub struct Committed {
    pub documents: HashSet<String>,
    pub failures: HashSet<String>,
}

impl Committed {
    pub fn contains(&self, uri: &str) -> bool {
        self.documents.contains(uri) || self.failures.contains(uri)
    }
}

#[derive(Deserialize)]
struct SourceOnly {
    source: String,
}

#[derive(Deserialize)]
struct UriOnly {
    uri: String,
}

impl OutDir {
    /// Opens (creating it when needed) an output directory, and removes `*.tmp` files that a
    /// killed run left behind.
    pub fn open(root: impl Into<PathBuf>, shard: u32) -> Result<Self> {
        let root = root.into();
        for sub in ["docs", "failures", "shards", "subtitles"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
            for entry in fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
                let p = entry.map_err(|e| Error::io(&d, e))?.path();
                if p.extension().is_some_and(|e| e == "tmp") {
                    fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        let mut out = OutDir {
            root,
            shard,
            next_part: 0,
        };
        out.next_part = out.scan_part_numbers()?;
        Ok(out)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn prefix(&self) -> String {
        format!("part-{:05}-", self.shard)
    }

    /// The next free part number of this shard, over docs and failures.
    fn scan_part_numbers(&self) -> Result<u32> {
        let prefix = self.prefix();
        let mut next = 0;
        for sub in ["docs", "failures"] {
            for name in list(&self.root.join(sub))? {
                if let Some(rest) = name.strip_prefix(&prefix) {
                    if let Some(n) = rest.get(..5).and_then(|s| s.parse::<u32>().ok()) {
                        next = next.max(n + 1);
                    }
                }
            }
        }
        Ok(next)
    }

    /// Writes `run.json` on the first run; on later runs checks that the configuration hash is
    /// the same, so that one OUT never mixes documents made with different settings.
    pub fn ensure_run_json(&self, run: &serde_json::Value) -> Result<()> {
        let path = self.root.join("run.json");
        let hash = run["config_hash"].as_str().unwrap_or_default();
        match fs::read(&path) {
            Ok(bytes) => {
                let old: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::format(&path, format!("unreadable run.json: {e}")))?;
                let old_hash = old["config_hash"].as_str().unwrap_or_default();
                if old_hash != hash {
                    return Err(Error::Config(format!(
                        "{} was written with a different configuration (config_hash {old_hash}, now {hash}); \
                         use the same settings (see its run.json) or another output directory",
                        self.root.display()
                    )));
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut text = serde_json::to_string_pretty(run).expect("json");
                text.push('\n');
                write_atomic(&path, text.as_bytes())
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Reads what earlier runs committed (all shards).
    pub fn committed(&self) -> Result<Committed> {
        let mut c = Committed::default();
        let docs = self.root.join("docs");
        for name in list(&docs)? {
            if !name.ends_with(".jsonl.zst") {
                continue;
            }
            let path = docs.join(&name);
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let dec = zstd::Decoder::new(file).map_err(|e| Error::io(&path, e))?;
            for line in BufReader::new(dec).lines() {
                let line = line.map_err(|e| Error::io(&path, e))?;
                let d: SourceOnly = serde_json::from_str(&line)
                    .map_err(|e| Error::format(&path, format!("bad document line: {e}")))?;
                c.documents.insert(d.source);
            }
        }
        let fails = self.root.join("failures");
        for name in list(&fails)? {
            if !name.ends_with(".jsonl") {
                continue;
            }
            let path = fails.join(&name);
            let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let f: UriOnly = serde_json::from_str(line)
                    .map_err(|e| Error::format(&path, format!("bad failure line: {e}")))?;
                c.failures.insert(f.uri);
            }
        }
        Ok(c)
    }

    /// Commits documents as one new part file (`docs/…jsonl.zst`); returns its path.
    pub fn commit_documents(&mut self, docs: &[Document]) -> Result<Option<PathBuf>> {
        self.commit_part("docs", docs, true)
    }

    /// Commits failure records as one new part file (`failures/…jsonl`); returns its path.
    pub fn commit_failures(&mut self, failures: &[Failure]) -> Result<Option<PathBuf>> {
        self.commit_part("failures", failures, false)
    }

    /// Writes records as JSON lines into the next part file of `dir`, zstd-compressed or not.
    fn commit_part<T: serde::Serialize>(
        &mut self,
        dir: &str,
        records: &[T],
        compress: bool,
    ) -> Result<Option<PathBuf>> {
        if records.is_empty() {
            return Ok(None);
        }
        let mut raw = Vec::new();
        for r in records {
            serde_json::to_writer(&mut raw, r).expect("records serialise");
            raw.push(b'\n');
        }
        let ext = if compress { "jsonl.zst" } else { "jsonl" };
        let name = format!("{}{:05}.{ext}", self.prefix(), self.next_part);
        let path = self.root.join(dir).join(name);
        let bytes = if compress {
            zstd::encode_all(&raw[..], 3).map_err(|e| Error::io(&path, e))?
        } else {
            raw
        };
        write_atomic(&path, &bytes)?;
        self.next_part += 1;
        Ok(Some(path))
    }

    /// Writes a sidecar file (e.g. `subtitles/<id>.srt`) atomically. `name` must be a plain
    /// file name; anything that could leave the directory is replaced.
    pub fn write_sidecar(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.root.join(dir).join(safe_file_name(name));
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Marks this shard done: every one of its inputs is committed as a document or a failure.
    pub fn mark_shard_done(&self, summary: &serde_json::Value) -> Result<()> {
        let path = self
            .root
            .join("shards")
            .join(format!("{:05}.done", self.shard));
        write_atomic(&path, format!("{summary}\n").as_bytes())
    }
}

/// Makes a string safe as one file name: no separators, no leading dots, bounded length.
pub fn safe_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    if s.is_empty() {
        s.push('_');
    }
    s.chars().take(200).collect()
}

fn list(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.map_err(|e| Error::io(dir, e))?;
                if let Some(n) = e.file_name().to_str() {
                    names.push(n.to_string());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    names.sort();
    Ok(names)
}

/// Writes `bytes` to `path` so that `path` is either absent or complete: write `path.tmp`,
/// fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{PipelineInfo, Stage, Stats};

    fn doc(source: &str) -> Document {
        Document {
            id: format!("id-{source}"),
            source: source.into(),
            duration_s: 1.0,
            language: Some("en".into()),
            text: "hello".into(),
            speech: vec![],
            screen_text: vec![],
            stats: Stats::default(),
            pipeline: PipelineInfo::default(),
            meta: Default::default(),
        }
    }

    #[test]
    fn commit_then_rerun_sees_everything_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutDir::open(dir.path(), 0).unwrap();
        let run = serde_json::json!({"config_hash": "abc"});
        out.ensure_run_json(&run).unwrap();
        out.commit_documents(&[doc("a.mp4"), doc("b.mp4")]).unwrap();
        out.commit_failures(&[Failure::new("c.mp4", Stage::Decode, "boom")])
            .unwrap();
        std::fs::write(
            dir.path().join("docs/part-00000-00007.jsonl.zst.tmp"),
            b"half",
        )
        .unwrap();

        let mut again = OutDir::open(dir.path(), 0).unwrap();
        assert!(!dir
            .path()
            .join("docs/part-00000-00007.jsonl.zst.tmp")
            .exists());
        again.ensure_run_json(&run).unwrap();
        let c = again.committed().unwrap();
        assert!(c.contains("a.mp4") && c.contains("b.mp4") && c.contains("c.mp4"));
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.failures.len(), 1);
        let p = again.commit_documents(&[doc("d.mp4")]).unwrap().unwrap();
        assert!(p.ends_with("part-00000-00002.jsonl.zst"), "{p:?}");

        let err = again
            .ensure_run_json(&serde_json::json!({"config_hash": "other"}))
            .unwrap_err();
        assert!(err.to_string().contains("different configuration"), "{err}");
    }

    #[test]
    fn sidecar_names_cannot_escape() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(safe_file_name("abc.srt"), "abc.srt");
    }
}
