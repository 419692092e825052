//! `vid2text dedup OUT`: marks the documents that repeat an earlier one, over every shard's
//! parts, without touching a committed part. Shards run in parallel and cannot see each other's
//! documents; this pass, run when they are done (or at any time, on what is committed), sees
//! them all. It writes:
//!
//! ```text
//! OUT/dedup/duplicates.jsonl   one line per document to leave out: source, id, reason
//!                              (duplicate | near_duplicate), duplicate_of (source and id),
//!                              similarity, the part it is in
//! OUT/dedup/summary.json       documents read, duplicates, near duplicates, settings
//! ```
//!
//! Documents are taken in part order (shard, then part, then line): the first of a group is
//! kept, so a rerun of the pass gives the same marks. Both files are rewritten whole
//! (atomically) on every pass: they are derived from the parts, which stay the record.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;
use vid2text_core::dedup::{DocKey, Index, Verdict};
use vid2text_core::outdir::{read_jsonl, write_atomic, DocumentLines};

use crate::cli::DedupArgs;

pub fn dedup(args: DedupArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    if !(0.0..=1.0).contains(&args.threshold) {
        anyhow::bail!("--threshold must be between 0 and 1");
    }
    let mut index = Index::new(args.threshold, args.min_tokens);
    let mut marks = Vec::new();
    let (mut exact, mut near) = (0usize, 0usize);
    let mut lines = DocumentLines::of(&args.output)?;
    while let Some(line) = lines.next() {
        let line = line?;
        let part = lines
            .part()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let doc: DocKey =
            serde_json::from_str(&line).with_context(|| format!("{part}: not a document line"))?;
        let verdict = index.add_document(&doc.source, &doc.id, &doc.text);
        let (reason, of, similarity) = match verdict {
            Verdict::Unique => continue,
            Verdict::Duplicate { of } => {
                exact += 1;
                ("duplicate", of, 1.0)
            }
            Verdict::NearDuplicate { of, similarity } => {
                near += 1;
                ("near_duplicate", of, similarity)
            }
        };
        let (of_source, of_id) = index.key(of);
        marks.push(json!({
            "source": doc.source,
            "id": doc.id,
            "reason": reason,
            "duplicate_of": of_source,
            "duplicate_of_id": of_id,
            "similarity": vid2text_core::round(similarity, 3),
            "part": part,
        }));
    }
    let dir = args.output.join("dedup");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut bytes = Vec::new();
    for m in &marks {
        serde_json::to_writer(&mut bytes, m)?;
        bytes.push(b'\n');
    }
    write_atomic(&dir.join("duplicates.jsonl"), &bytes)?;
    let documents = index.len();
    let summary = json!({
        "documents": documents,
        "kept": documents - marks.len(),
        "duplicates": exact,
        "near_duplicates": near,
        "threshold": args.threshold,
        "min_tokens": args.min_tokens,
        "seconds": vid2text_core::round(started.elapsed().as_secs_f64(), 3),
    });
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    write_atomic(&dir.join("summary.json"), text.as_bytes())?;
    if args.json {
        writeln!(std::io::stdout().lock(), "{summary}")?;
    } else {
        eprintln!(
            "vid2text: {documents} documents: {exact} duplicates and {near} near duplicates marked in {}",
            dir.join("duplicates.jsonl").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The sources `vid2text dedup` marked in OUT (for `cat --skip-duplicates`).
pub fn marked(out: &Path) -> Result<HashSet<String>> {
    #[derive(Deserialize)]
    struct Mark {
        source: String,
    }
    let path = out.join("dedup").join("duplicates.jsonl");
    if !path.exists() {
        anyhow::bail!(
            "{}: no duplicate marks; run `vid2text dedup {}` first",
            path.display(),
            out.display()
        );
    }
    Ok(read_jsonl::<Mark>(&path)?
        .into_iter()
        .map(|m| m.source)
        .collect())
}
