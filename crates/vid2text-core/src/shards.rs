//! A job split into fixed shards (`vid2text plan`), run one shard per worker (`vid2text work`,
//! a Slurm array task or a Kubernetes Indexed Job pod), and its state (`vid2text status`):
//!
//! ```text
//! JOB/
//!   run.json                 config + hash, the run options, "shards": N, the plan's totals
//!   shards/SSSSS.manifest    the shard's inputs, one JSON line each, fixed at plan time
//!   shards/SSSSS.lock        flock held by the shard's one worker; names the last one
//!   shards/SSSSS.done        written last, once every input of the shard is committed
//!   docs/part-SSSSS-NNNNN.jsonl.zst, failures/part-SSSSS-NNNNN.jsonl   the shard's parts
//! ```
//!
//! Shards are balanced by media duration (longest first onto the least loaded shard), so a
//! heavy-tailed collection does not leave one array task running for hours after the others.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::doc::{Failure, Stage};
use crate::error::{Error, Result};
use crate::input::{Input, Location};

/// What an input costs besides its media (probe, set-up, commit), in seconds of media: keeps
/// shards of many tiny files from being packed with far more inputs than the others.
pub const INPUT_OVERHEAD_S: f64 = 2.0;

/// The duration assumed for an input whose duration is unknown (probe failed or timed out,
/// nothing in the manifest) when no input has a known one.
pub const UNKNOWN_DURATION_S: f64 = 60.0;

/// One input of a shard manifest (`shards/SSSSS.manifest`): where to read it, what the user's
/// manifest said about it, its duration when known, or why discovery failed (recorded by the
/// shard's worker like any other failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// The document's `source`: the input as the user gave it.
    pub uri: String,
    /// What FFmpeg opens: an absolute path (workers may start in another directory) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// ... or an http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Value>,
    /// Media duration: from the manifest's `duration_s` column, else probed at plan time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Discovery failed at plan time (missing path, bad manifest line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<PlannedFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFailure {
    pub stage: Stage,
    pub error: String,
}

impl PlanEntry {
    /// An entry for a discovered input (paths made absolute) or a discovery failure.
    pub fn from_discovered(item: std::result::Result<Input, Failure>) -> Self {
        match item {
            Ok(input) => {
                let (path, url) = match input.location {
                    Location::File(p) => (Some(std::path::absolute(&p).unwrap_or(p)), None),
                    Location::Url(u) => (None, Some(u)),
                };
                let duration_s = input
                    .meta
                    .get("duration_s")
                    .and_then(|v| match v {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .filter(|d: &f64| d.is_finite() && *d >= 0.0);
                PlanEntry {
                    uri: input.uri,
                    path,
                    url,
                    id: input.id,
                    meta: input.meta,
                    duration_s,
                    failure: None,
                }
            }
            Err(f) => PlanEntry {
                uri: f.uri,
                path: None,
                url: None,
                id: None,
                meta: Map::new(),
                duration_s: None,
                failure: Some(PlannedFailure {
                    stage: f.stage,
                    error: f.error,
                }),
            },
        }
    }

    /// The input a worker processes, or the failure it records.
    pub fn into_input(self) -> std::result::Result<Input, Failure> {
        if let Some(f) = self.failure {
            return Err(Failure::new(self.uri, f.stage, f.error));
        }
        let location = match (self.path, self.url) {
            (Some(p), _) => Location::File(p),
            (None, Some(u)) => Location::Url(u),
            (None, None) => {
                return Err(Failure::new(
                    self.uri,
                    Stage::Manifest,
                    "shard manifest entry has neither `path` nor `url`",
                ))
            }
        };
        Ok(Input {
            uri: self.uri,
            location,
            id: self.id,
            meta: self.meta,
        })
    }

    /// The weight the balancer gives this entry, with `unknown` for a missing duration.
    fn weight(&self, unknown: f64) -> f64 {
        match &self.failure {
            Some(_) => 0.0,
            None => self.duration_s.unwrap_or(unknown) + INPUT_OVERHEAD_S,
        }
    }
}

/// Assigns each entry a shard: longest first onto the least loaded shard (ties: the lower
/// shard; equal weights keep their input order), so loads differ by at most one input. The
/// result depends only on the entries and `shards`. Unknown durations count as the median of
/// the known ones.
pub fn balance(entries: &[PlanEntry], shards: u32) -> Vec<u32> {
    assert!(shards > 0, "at least one shard");
    let mut known: Vec<f64> = entries.iter().filter_map(|e| e.duration_s).collect();
    let unknown = if known.is_empty() {
        UNKNOWN_DURATION_S
    } else {
        let mid = known.len() / 2;
        *known.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
    };
    let weights: Vec<f64> = entries.iter().map(|e| e.weight(unknown)).collect();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    // Loads in integer milliseconds: a total order, and the same on every machine.
    let mut heap: BinaryHeap<Reverse<(u64, u32)>> = (0..shards).map(|s| Reverse((0, s))).collect();
    let mut shard_of = vec![0; entries.len()];
    for i in order {
        let Reverse((load, s)) = heap.pop().expect("shards > 0");
        shard_of[i] = s;
        heap.push(Reverse((load + (weights[i] * 1000.0).round() as u64, s)));
    }
    shard_of
}

pub fn manifest_path(root: &Path, shard: u32) -> PathBuf {
    root.join("shards").join(format!("{shard:05}.manifest"))
}

pub fn done_path(root: &Path, shard: u32) -> PathBuf {
    root.join("shards").join(format!("{shard:05}.done"))
}

pub fn lock_path(root: &Path, shard: u32) -> PathBuf {
    root.join("shards").join(format!("{shard:05}.lock"))
}

/// Writes one shard manifest atomically.
pub fn write_manifest(root: &Path, shard: u32, entries: &[&PlanEntry]) -> Result<()> {
    let mut bytes = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut bytes, e).expect("entries serialise");
        bytes.push(b'\n');
    }
    crate::outdir::write_atomic(&manifest_path(root, shard), &bytes)
}

/// Reads one shard manifest. A bad line is an error (the manifest is ours: a bad line means a
/// damaged job directory, which no worker should half-run).
pub fn read_manifest(root: &Path, shard: u32) -> Result<Vec<PlanEntry>> {
    let path = manifest_path(root, shard);
    let file = fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut entries = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(&path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line)
            .map_err(|e| Error::format(&path, format!("line {}: {e}", n + 1)))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Where a shard stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// `shards/SSSSS.done` exists: every input is committed.
    Done,
    /// A worker holds the shard's lock now.
    Running,
    /// A worker started it and ended without finishing (killed, stopped, or an error).
    Failed,
    /// No worker has started it.
    NotStarted,
}

impl ShardState {
    pub fn name(self) -> &'static str {
        match self {
            ShardState::Done => "done",
            ShardState::Running => "running",
            ShardState::Failed => "failed",
            ShardState::NotStarted => "not_started",
        }
    }
}

/// The state of one shard. Whether a worker runs is asked of the lock itself (a try-lock
/// released at once), so a worker that died is never reported running.
pub fn shard_state(root: &Path, shard: u32) -> Result<ShardState> {
    if done_path(root, shard).exists() {
        return Ok(ShardState::Done);
    }
    let path = lock_path(root, shard);
    let file = match fs::OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ShardState::NotStarted),
        Err(e) => return Err(Error::io(&path, e)),
    };
    match file.try_lock() {
        Ok(()) => {
            // Between the check above and the lock, the worker may have finished.
            if done_path(root, shard).exists() {
                return Ok(ShardState::Done);
            }
            Ok(ShardState::Failed)
        }
        Err(fs::TryLockError::WouldBlock) => Ok(ShardState::Running),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Shard indices as a Slurm `--array` list: ranges joined by commas (`0,2-4,9`).
pub fn array_list(shards: &[u32]) -> String {
    let mut sorted = shards.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uri: &str, d: Option<f64>) -> PlanEntry {
        PlanEntry {
            uri: uri.into(),
            path: Some(PathBuf::from(format!("/v/{uri}"))),
            url: None,
            id: None,
            meta: Map::new(),
            duration_s: d,
            failure: None,
        }
    }

    fn loads(entries: &[PlanEntry], shard_of: &[u32], n: usize) -> Vec<f64> {
        let mut l = vec![0.0; n];
        for (e, &s) in entries.iter().zip(shard_of) {
            l[s as usize] += e.duration_s.unwrap_or(0.0);
        }
        l
    }

    #[test]
    fn heavy_tailed_durations_are_balanced_by_time_not_count() {
        // One 2-hour video and many short clips: by count, one shard would get the long video
        // and as many clips as the others.
        let mut entries = vec![entry("long.mp4", Some(7200.0))];
        entries.extend((0..300).map(|i| entry(&format!("c{i}.mp4"), Some(30.0 + i as f64))));
        let shard_of = balance(&entries, 4);
        let l = loads(&entries, &shard_of, 4);
        let total: f64 = l.iter().sum();
        let max = l.iter().cloned().fold(0.0, f64::max);
        let min = l.iter().cloned().fold(f64::MAX, f64::min);
        assert!(max - min < 400.0, "loads {l:?} of {total}");
        let long_shard = shard_of[0] as usize;
        let count = shard_of
            .iter()
            .filter(|&&s| s as usize == long_shard)
            .count();
        assert!(
            count < 300 / 4,
            "the long video's shard holds fewer inputs: {count}"
        );
    }

    #[test]
    fn the_split_depends_only_on_the_entries() {
        let entries: Vec<_> = (0..50)
            .map(|i| entry(&format!("{i}"), Some((i * 7 % 13) as f64)))
            .collect();
        assert_eq!(balance(&entries, 3), balance(&entries, 3));
        // More shards than inputs: every input gets its own shard, the rest stay empty.
        let few = &entries[..2];
        let s = balance(few, 5);
        assert_ne!(s[0], s[1]);
    }

    #[test]
    fn unknown_durations_count_as_the_median() {
        let entries = vec![
            entry("a", Some(10.0)),
            entry("b", Some(10.0)),
            entry("c", None),
            entry("d", None),
        ];
        let s = balance(&entries, 2);
        let on = |shard| s.iter().filter(|&&x| x == shard).count();
        assert_eq!((on(0), on(1)), (2, 2), "{s:?}");
    }

    #[test]
    fn entries_round_trip_through_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("shards")).unwrap();
        let mut meta = Map::new();
        meta.insert("duration_s".into(), Value::from(12.5));
        meta.insert("lang".into(), Value::from("zh"));
        let a = PlanEntry::from_discovered(Ok(Input {
            uri: "rel/a.mp4".into(),
            location: Location::File("rel/a.mp4".into()),
            id: Some("x1".into()),
            meta,
        }));
        assert!(a.path.as_ref().unwrap().is_absolute());
        assert_eq!(a.duration_s, Some(12.5));
        let b =
            PlanEntry::from_discovered(Err(Failure::new("gone.mp4", Stage::Input, "no such file")));
        write_manifest(dir.path(), 3, &[&a, &b]).unwrap();
        let back = read_manifest(dir.path(), 3).unwrap();
        assert_eq!(back, vec![a.clone(), b]);
        let input = back[0].clone().into_input().unwrap();
        assert_eq!(input.uri, "rel/a.mp4");
        assert_eq!(input.id.as_deref(), Some("x1"));
        let f = back[1].clone().into_input().unwrap_err();
        assert_eq!((f.uri.as_str(), f.stage), ("gone.mp4", Stage::Input));
        fs::write(manifest_path(dir.path(), 4), "{\"uri\": \n").unwrap();
        let err = read_manifest(dir.path(), 4).unwrap_err().to_string();
        assert!(
            err.contains("00004.manifest") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn array_lists_are_ranges() {
        assert_eq!(array_list(&[4, 0, 2, 3, 9, 10]), "0,2-4,9-10");
        assert_eq!(array_list(&[]), "");
        assert_eq!(array_list(&[7]), "7");
    }

    #[test]
    fn a_shard_is_running_only_while_its_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("shards")).unwrap();
        assert_eq!(shard_state(dir.path(), 0).unwrap(), ShardState::NotStarted);
        let f = fs::File::create(lock_path(dir.path(), 0)).unwrap();
        f.lock().unwrap();
        assert_eq!(shard_state(dir.path(), 0).unwrap(), ShardState::Running);
        drop(f);
        assert_eq!(shard_state(dir.path(), 0).unwrap(), ShardState::Failed);
        fs::write(done_path(dir.path(), 0), "{}").unwrap();
        assert_eq!(shard_state(dir.path(), 0).unwrap(), ShardState::Done);
    }
}
