//! The output directory is the job's state (see DESIGN.md):
//!
//! ```text
//! OUT/
//!   run.json                           config + its hash, model ids: written once, atomically
//!   docs/part-SSSSS-NNNNN.jsonl.zst    committed documents
//!   failures/part-SSSSS-NNNNN.jsonl    one line per input that failed: uri, stage, error
//!   dropped/part-SSSSS-NNNNN.jsonl     one line per input left out whole: uri, reason, ...
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

/// How documents are committed (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocFormat {
    /// zstd-compressed JSON lines (`.jsonl.zst`).
    #[default]
    Jsonl,
    /// Parquet with zstd columns (`.parquet`; needs the `parquet` feature).
    Parquet,
}

pub struct OutDir {
    root: PathBuf,
    format: DocFormat,
    shard: u32,
    /// One shard of a planned job (`vid2text work`): reads and cleans only its own parts.
    shard_only: bool,
    next_part: u32,
    /// `OUT/lock` (`vid2text run`: one writer per OUT) or `OUT/shards/SSSSS.lock` (`vid2text
    /// work`: one worker per shard), held (flock) for as long as this value lives.
    _lock: File,
}

/// What a previous run committed: the `source` of every document, the `uri` of every failure
/// and of every input left out whole.
#[derive(Debug, Default)]
pub struct Committed {
    pub documents: HashSet<String>,
    pub failures: HashSet<String>,
    pub dropped: HashSet<String>,
}

impl Committed {
    pub fn contains(&self, uri: &str) -> bool {
        self.documents.contains(uri) || self.failures.contains(uri) || self.dropped.contains(uri)
    }
}

impl OutDir {
    /// Opens (creating it when needed) an output directory for `vid2text run`, and removes
    /// `*.tmp` files that a killed run left behind.
    pub fn open(root: impl Into<PathBuf>, shard: u32) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        // The lock comes first: the clean-up below must never touch another run's files.
        let lock = acquire_lock(&root.join("lock"), &root, LockWait::No)?;
        // A planned job's shards are written by their own workers, which `run`'s lock does not
        // keep out: its clean-up would delete their files in flight.
        if let Some(n) = planned_shards(&root)? {
            return Err(Error::Config(format!(
                "{} is a job planned into {n} shards: run them with `vid2text work {0} --shard I` \
                 (or `vid2text slurm`/`k8s`), not `vid2text run`",
                root.display()
            )));
        }
        for sub in [
            "docs",
            "failures",
            "dropped",
            "shards",
            "subtitles",
            "generations",
        ] {
            remove_tmp(&root.join(sub), None)?;
        }
        // Downloads of a killed run are incomplete or orphaned.
        clear_files(&root.join("downloads"))?;
        for stale in ["run.json.tmp", "lock.tmp"] {
            let _ = fs::remove_file(root.join(stale));
        }
        Self::finish_open(root, shard, false, lock)
    }

    /// Opens one shard of a planned job for its worker (`vid2text work`): takes the shard's
    /// own lock (`shards/SSSSS.lock`), so workers of different shards share OUT and two workers
    /// of one shard do not, and cleans only this shard's leftovers (`downloads/SSSSS/`).
    pub fn open_shard(root: impl Into<PathBuf>, shard: u32) -> Result<Self> {
        let root = root.into();
        let shards = root.join("shards");
        fs::create_dir_all(&shards).map_err(|e| Error::io(&shards, e))?;
        // `vid2text status` try-locks for an instant: wait that long before refusing.
        let lock = acquire_lock(
            &crate::shards::lock_path(&root, shard),
            &root,
            LockWait::Briefly,
        )?;
        let prefix = format!("part-{shard:05}-");
        for sub in ["docs", "failures", "dropped", "subtitles"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        for sub in ["docs", "failures", "dropped"] {
            remove_tmp(&root.join(sub), Some(&prefix))?;
        }
        clear_files(&root.join("downloads").join(format!("{shard:05}")))?;
        Self::finish_open(root, shard, true, lock)
    }

    fn finish_open(root: PathBuf, shard: u32, shard_only: bool, lock: File) -> Result<Self> {
        let mut out = OutDir {
            root,
            format: DocFormat::Jsonl,
            shard,
            shard_only,
            next_part: 0,
            _lock: lock,
        };
        out.next_part = out.scan_part_numbers()?;
        Ok(out)
    }

    /// Whether a part file belongs to what this `OutDir` reads: every part for `run`, the
    /// shard's own for `work` (an input belongs to one shard only).
    fn reads(&self, name: &str) -> bool {
        !self.shard_only || name.starts_with(&self.prefix())
    }

    fn prefix(&self) -> String {
        format!("part-{:05}-", self.shard)
    }

    /// The next free part number of this shard, over docs and failures.
    fn scan_part_numbers(&self) -> Result<u32> {
        let prefix = self.prefix();
        let mut next = 0;
        for sub in ["docs", "failures", "dropped"] {
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

    /// Checks the run's configuration against the output directory's.
    ///
    /// The first run writes `run.json` (generation 0). A later run with the same `config_hash`
    /// goes on. A different configuration is refused, unless `new_generation` is set: then
    /// `generations/NNNNN.json` records it, and it applies to every input not yet committed
    /// (committed documents keep theirs; `pipeline.config_hash` tells them apart). Returns the
    /// generation in force.
    pub fn ensure_config(&self, run: &serde_json::Value, new_generation: bool) -> Result<u32> {
        let path = self.root.join("run.json");
        let hash = run["config_hash"].as_str().unwrap_or_default();
        let Some(mut current) = read_run_json(&self.root)? else {
            write_json(&path, run)?;
            return Ok(0);
        };
        let mut generation = 0;
        let mut current_path = path;
        let gens = self.root.join("generations");
        for name in list(&gens)? {
            if let Some(n) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u32>().ok())
            {
                let p = gens.join(&name);
                let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
                current = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::format(&p, format!("unreadable: {e}")))?;
                generation = n;
                current_path = p;
            }
        }
        let old_hash = current["config_hash"].as_str().unwrap_or_default();
        if old_hash == hash {
            return Ok(generation);
        }
        if !new_generation {
            return Err(Error::Config(format!(
                "{} was made with a different configuration (config_hash {old_hash} in {}, now {hash}): \
                 rerun with the same settings, use another output directory, or pass \
                 --new-config-generation to apply the new settings to the inputs not yet committed",
                self.root.display(),
                current_path.display()
            )));
        }
        let next = generation + 1;
        let mut record = run.clone();
        record["generation"] = serde_json::json!(next);
        record["previous_config_hash"] = serde_json::json!(old_hash);
        write_json(&gens.join(format!("{next:05}.json")), &record)?;
        Ok(next)
    }

    /// Reads what earlier runs committed (all shards, or this shard's).
    pub fn committed(&self) -> Result<Committed> {
        self.committed_with(|_| {})
    }

    /// [`OutDir::committed`], handing each committed document's id, source and text to
    /// `each_document` on the way: one pass over the parts for the run's skip list and its
    /// duplicate index.
    pub fn committed_with(
        &self,
        mut each_document: impl FnMut(crate::dedup::DocKey),
    ) -> Result<Committed> {
        let mut c = Committed::default();
        let mut lines = self.document_lines()?;
        while let Some(line) = lines.next() {
            let d: crate::dedup::DocKey = serde_json::from_str(&line?).map_err(|e| {
                let part = lines.part().unwrap_or(&self.root);
                Error::format(part, format!("bad document line: {e}"))
            })?;
            c.documents.insert(d.source.clone());
            each_document(d);
        }
        for (_, records) in self.failure_parts()? {
            c.failures.extend(records.into_iter().map(|f| f.uri));
        }
        for d in self.dropped()? {
            c.dropped.insert(d.uri);
        }
        Ok(c)
    }

    /// Every record of `dropped/` that this `OutDir` reads (all shards, or its own).
    pub fn dropped(&self) -> Result<Vec<crate::doc::Dropped>> {
        let parts = jsonl_parts(&self.root.join("dropped"), |n| self.reads(n))?;
        Ok(parts.into_iter().flat_map(|(_, records)| records).collect())
    }

    /// The committed documents this `OutDir` reads (all shards, or its own), one line each.
    pub fn document_lines(&self) -> Result<DocumentLines> {
        let lines = DocumentLines::of(&self.root)?;
        Ok(match self.shard_only {
            true => lines.only(&self.prefix()),
            false => lines,
        })
    }

    /// Commits the records of inputs left out whole as one new part file (`dropped/…jsonl`).
    pub fn commit_dropped(&mut self, dropped: &[crate::doc::Dropped]) -> Result<Option<PathBuf>> {
        self.commit_part("dropped", dropped, false)
    }

    /// Every failure part of OUT (all shards), in part order, with its records.
    fn failure_parts(&self) -> Result<Vec<(PathBuf, Vec<Failure>)>> {
        jsonl_parts(&self.root.join("failures"), |n| self.reads(n))
    }

    /// Sets how documents are committed from now on (readers take either kind of part).
    pub fn set_format(&mut self, format: DocFormat) {
        self.format = format;
    }

    /// Commits documents as one new part file (`docs/…jsonl.zst` or `docs/…parquet`); returns
    /// its path.
    pub fn commit_documents(&mut self, docs: &[Document]) -> Result<Option<PathBuf>> {
        match self.format {
            DocFormat::Jsonl => self.commit_part("docs", docs, true),
            DocFormat::Parquet if docs.is_empty() => Ok(None),
            DocFormat::Parquet => {
                #[cfg(feature = "parquet")]
                {
                    let bytes = crate::parquet_parts::encode(docs)?;
                    let name = format!("{}{:05}.parquet", self.prefix(), self.next_part);
                    let path = self.root.join("docs").join(name);
                    write_atomic(&path, &bytes)?;
                    self.next_part += 1;
                    Ok(Some(path))
                }
                #[cfg(not(feature = "parquet"))]
                Err(Error::Config(
                    "--format parquet needs vid2text-core's `parquet` feature".into(),
                ))
            }
        }
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

    /// Rewrites `failures/` after a retry: one record per input (its latest), none for inputs
    /// that have a document now. The new part is committed before the old parts are removed, so
    /// a crash in between leaves duplicates (harmless: readers take sets), never a loss.
    pub fn compact_failures(&mut self) -> Result<()> {
        let committed = self.committed()?;
        let dir = self.root.join("failures");
        let mut latest: Vec<Failure> = Vec::new();
        let mut old_parts = Vec::new();
        for (path, records) in self.failure_parts()? {
            for f in records {
                latest.retain(|g| g.uri != f.uri);
                latest.push(f);
            }
            old_parts.push(path);
        }
        let total_lines: usize = latest.len();
        latest.retain(|f| !committed.documents.contains(&f.uri));
        if latest.len() == total_lines && old_parts.len() <= 1 {
            return Ok(()); // nothing to drop or merge
        }
        let new = self.commit_failures(&latest)?;
        for p in old_parts {
            if Some(&p) != new.as_ref() {
                fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
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

/// Every committed document of an output directory, one JSON line each, part by part in order
/// (all shards): what `vid2text cat`, resuming runs and tests read. Parts are read as they are
/// needed, so memory does not grow with OUT.
pub struct DocumentLines {
    parts: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, PartLines)>,
}

/// The lines of one part.
enum PartLines {
    Jsonl(std::io::Lines<BufReader<zstd::Decoder<'static, BufReader<File>>>>),
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    Parquet(std::vec::IntoIter<String>),
}

impl Iterator for PartLines {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<std::io::Result<String>> {
        match self {
            PartLines::Jsonl(lines) => lines.next(),
            PartLines::Parquet(lines) => lines.next().map(Ok),
        }
    }
}

impl DocumentLines {
    /// The document lines under `OUT/docs` (none when it does not exist).
    pub fn of(root: &Path) -> Result<Self> {
        let docs = root.join("docs");
        let parts: Vec<PathBuf> = list(&docs)?
            .into_iter()
            .filter(|n| n.ends_with(".jsonl.zst") || n.ends_with(".parquet"))
            .map(|n| docs.join(n))
            .collect();
        Ok(DocumentLines {
            parts: parts.into_iter(),
            current: None,
        })
    }

    /// Only the parts whose file name starts with `prefix` (`part-SSSSS-`: one shard's).
    pub fn only(mut self, prefix: &str) -> Self {
        let kept: Vec<PathBuf> = self
            .parts
            .by_ref()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        self.parts = kept.into_iter();
        self
    }

    /// The part file the last line came from.
    pub fn part(&self) -> Option<&Path> {
        self.current.as_ref().map(|(p, _)| p.as_path())
    }
}

impl Iterator for DocumentLines {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some((path, lines)) = &mut self.current {
                match lines.next() {
                    Some(line) => return Some(line.map_err(|e| Error::io(&*path, e))),
                    None => self.current = None,
                }
            }
            let path = self.parts.next()?;
            match open_part(&path) {
                Ok(lines) => self.current = Some((path, lines)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The lines of one part: a zstd-compressed JSONL part, streamed, or a Parquet part (read
/// whole: a part is one commit's documents).
fn open_part(path: &Path) -> Result<PartLines> {
    if path.extension().is_some_and(|e| e == "parquet") {
        #[cfg(feature = "parquet")]
        return Ok(PartLines::Parquet(
            crate::parquet_parts::lines(path)?.into_iter(),
        ));
        #[cfg(not(feature = "parquet"))]
        return Err(Error::format(
            path,
            "a Parquet part, and this build reads only JSONL (vid2text-core's `parquet` feature)",
        ));
    }
    let dec = File::open(path)
        .and_then(zstd::Decoder::new)
        .map_err(|e| Error::io(path, e))?;
    Ok(PartLines::Jsonl(BufReader::new(dec).lines()))
}

/// The records of a JSON-lines file, blank lines skipped; a bad line is an error naming the file.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| Error::format(path, format!("bad line: {e}")))
        })
        .collect()
}

/// The `*.jsonl` parts of `dir` whose names `keep` accepts, in name order (part order), with
/// their records; none when `dir` does not exist.
pub fn jsonl_parts<T: serde::de::DeserializeOwned>(
    dir: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(PathBuf, Vec<T>)>> {
    list(dir)?
        .into_iter()
        .filter(|name| name.ends_with(".jsonl") && keep(name))
        .map(|name| {
            let path = dir.join(name);
            let records = read_jsonl(&path)?;
            Ok((path, records))
        })
        .collect()
}

/// The shard count of a job that `vid2text plan` split (None for a `vid2text run` OUT).
pub fn planned_shards(root: &Path) -> Result<Option<u32>> {
    Ok(read_run_json(root)?.as_ref().and_then(plan_shards))
}

/// `OUT/run.json`, None when there is none yet.
pub fn read_run_json(root: &Path) -> Result<Option<serde_json::Value>> {
    let path = root.join("run.json");
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::format(&path, format!("unreadable run.json: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The shard count a `run.json` written by `vid2text plan` records (None for `vid2text run`'s).
pub fn plan_shards(run: &serde_json::Value) -> Option<u32> {
    run.get("plan")
        .and(run["shards"].as_u64())
        .filter(|&n| n > 0)
        .map(|n| n as u32)
}

/// The owner of an output directory, as written into `OUT/lock`.
#[derive(Debug, serde::Serialize, Deserialize)]
struct LockOwner {
    pid: u32,
    host: String,
    started_unix: u64,
}

fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[derive(Clone, Copy, PartialEq)]
enum LockWait {
    No,
    /// A few tries over half a second, for a lock that `vid2text status` holds for an instant.
    Briefly,
}

/// Takes `OUT/lock` or a shard's lock: an advisory lock (flock) that the kernel releases when
/// the owner dies, so a lock left by a killed run is taken over without any clean-up, and two
/// live runs never write the same parts. The file names the owner for the refusal message.
fn acquire_lock(path: &Path, root: &Path, wait: LockWait) -> Result<File> {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let tries = if wait == LockWait::Briefly { 6 } else { 1 };
    for attempt in 1..=tries {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if attempt < tries => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let owner = fs::read_to_string(path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<LockOwner>(&t).ok())
                    .map(|o| {
                        format!(
                            "vid2text pid {} on {} (started at unix time {})",
                            o.pid, o.host, o.started_unix
                        )
                    })
                    .unwrap_or_else(|| "another vid2text process".into());
                let what = match path.file_name().and_then(|n| n.to_str()) {
                    Some("lock") => format!(
                        "{} is in use by {owner}; one run per output directory",
                        root.display()
                    ),
                    _ => format!(
                        "shard lock {} is held by {owner}; one worker per shard",
                        path.display()
                    ),
                };
                return Err(Error::Locked(format!(
                    "{what} (a lock left by a killed run is taken over automatically)"
                )));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "cannot take the lock ({e}); the file system must support flock \
                             (README, \"Running on a cluster\")"
                        ),
                    ),
                ))
            }
        }
    }
    let owner = LockOwner {
        pid: std::process::id(),
        host: host_name(),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    use std::io::Seek;
    let text = serde_json::to_string(&owner).expect("json");
    file.set_len(0)
        .and_then(|_| file.seek(std::io::SeekFrom::Start(0)))
        .and_then(|_| file.write_all(text.as_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// Removes the `*.tmp` files (those whose name starts with `prefix`, when given) of `dir`,
/// creating it when needed.
fn remove_tmp(dir: &Path, prefix: Option<&str>) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for name in list(dir)? {
        if name.ends_with(".tmp") && prefix.is_none_or(|p| name.starts_with(p)) {
            let p = dir.join(&name);
            fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// Empties `dir` of files (not of the shard folders below it), creating it when needed.
fn clear_files(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_type().is_ok_and(|t| !t.is_dir()) {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("json");
    text.push('\n');
    write_atomic(path, text.as_bytes())
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
            captions: vec![],
            watermarks: vec![],
            subtitles: vec![],
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
        assert_eq!(out.ensure_config(&run, false).unwrap(), 0);
        out.commit_documents(&[doc("a.mp4"), doc("b.mp4")]).unwrap();
        out.commit_failures(&[Failure::new("c.mp4", Stage::Decode, "boom")])
            .unwrap();
        std::fs::write(
            dir.path().join("docs/part-00000-00007.jsonl.zst.tmp"),
            b"half",
        )
        .unwrap();

        drop(out);
        let mut again = OutDir::open(dir.path(), 0).unwrap();
        assert!(!dir
            .path()
            .join("docs/part-00000-00007.jsonl.zst.tmp")
            .exists());
        again.ensure_config(&run, false).unwrap();
        let c = again.committed().unwrap();
        assert!(c.contains("a.mp4") && c.contains("b.mp4") && c.contains("c.mp4"));
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.failures.len(), 1);
        let p = again.commit_documents(&[doc("d.mp4")]).unwrap().unwrap();
        assert!(p.ends_with("part-00000-00002.jsonl.zst"), "{p:?}");

        let other = serde_json::json!({"config_hash": "other"});
        let err = again.ensure_config(&other, false).unwrap_err();
        assert!(err.to_string().contains("different configuration"), "{err}");
        assert_eq!(again.ensure_config(&other, true).unwrap(), 1);
        assert_eq!(
            again.ensure_config(&other, false).unwrap(),
            1,
            "generation 1 is now in force"
        );
        assert!(
            again.ensure_config(&run, false).is_err(),
            "back to the first config is a new generation too"
        );
        assert_eq!(again.ensure_config(&run, true).unwrap(), 2);
    }

    #[test]
    fn compaction_keeps_the_latest_failure_of_inputs_still_failing() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutDir::open(dir.path(), 0).unwrap();
        out.commit_failures(&[
            Failure::new("a", Stage::Decode, "old"),
            Failure::new("b", Stage::Probe, "x"),
        ])
        .unwrap();
        out.commit_failures(&[Failure::new("a", Stage::Decode, "new")])
            .unwrap();
        out.commit_documents(&[doc("b")]).unwrap();
        out.compact_failures().unwrap();
        let parts = list(&dir.path().join("failures")).unwrap();
        assert_eq!(parts.len(), 1, "{parts:?}");
        let text = std::fs::read_to_string(dir.path().join("failures").join(&parts[0])).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"a\"") && text.contains("new"), "{text}");
    }

    #[test]
    fn one_writer_per_output_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutDir::open(dir.path(), 0).unwrap();
        let err = OutDir::open(dir.path(), 0)
            .err()
            .expect("second open is refused");
        assert!(matches!(err, Error::Locked(_)), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        OutDir::open(dir.path(), 0).expect("the lock is free again");
    }

    #[test]
    fn sidecar_names_cannot_escape() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(safe_file_name("abc.srt"), "abc.srt");
    }
}
