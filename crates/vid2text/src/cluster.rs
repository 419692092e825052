//! A job across many workers: `plan` splits it into fixed shards, `work` runs one, `status`
//! says where they stand, `slurm` and `k8s` write the array job that runs them all (README,
//! "Running on a cluster"). The shard layout is [`vid2text_core::shards`]; each worker is an
//! ordinary run ([`crate::pipeline`]) over its shard's manifest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use vid2text_core::input;
use vid2text_core::outdir::{self, write_atomic};
use vid2text_core::shards::{self, PlanEntry, ShardState};

use crate::cli::{K8sArgs, PlanArgs, RunArgs, SlurmArgs, StatusArgs, WorkArgs};
use crate::settings::{available_threads, Settings, ShardWork};

/// `vid2text plan`: discover the inputs, learn their durations (manifest column or ffprobe, in
/// parallel), balance them over the shards, write the manifests, then `run.json` last: a job
/// directory with `run.json` is a complete plan.
pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let PlanArgs {
        run: a,
        shards: n,
        probe_workers,
    } = args;
    if n == 0 {
        bail!("--shards must be at least 1");
    }
    // The same checks as `run` (models, ranges, formats): a plan its workers would refuse is
    // refused now.
    let settings = Settings::from_args(a.clone())?;
    let job = a.output.clone();
    let run_path = job.join("run.json");
    if run_path.exists() {
        bail!(
            "{} holds a job already (run.json): plan into a new directory",
            job.display()
        );
    }
    let shards_dir = job.join("shards");
    std::fs::create_dir_all(&shards_dir)
        .with_context(|| format!("cannot create {}", shards_dir.display()))?;

    let mut entries: Vec<PlanEntry> =
        input::discover(&a.inputs, &|p: &Path| vid2text_media::is_media(p))
            .into_iter()
            .map(PlanEntry::from_discovered)
            .collect();
    let workers = match probe_workers {
        0 => available_threads() * 2,
        w => w,
    };
    let probed = probe_durations(&mut entries, workers, Duration::from_secs_f64(a.timeout));
    let shard_of = shards::balance(&entries, n);
    let mut per_shard: Vec<Vec<&PlanEntry>> = vec![Vec::new(); n as usize];
    for (e, &s) in entries.iter().zip(&shard_of) {
        per_shard[s as usize].push(e);
    }
    for (s, list) in per_shard.iter().enumerate() {
        shards::write_manifest(&job, s as u32, list)?;
    }
    let hours =
        |list: &[&PlanEntry]| list.iter().filter_map(|e| e.duration_s).sum::<f64>() / 3600.0;
    let loads: Vec<f64> = per_shard.iter().map(|l| hours(l)).collect();
    let media_h: f64 = loads.iter().sum();
    let unknown = entries
        .iter()
        .filter(|e| e.failure.is_none() && e.duration_s.is_none())
        .count();
    let failed = entries.iter().filter(|e| e.failure.is_some()).count();

    let mut run = settings.run_json();
    run["shards"] = json!(n);
    run["plan"] = json!({
        "inputs": entries.len(),
        "media_hours": vid2text_core::round(media_h, 4),
        "probed": probed,
        "unknown_durations": unknown,
        "discovery_failures": failed,
        "shard_hours": {
            "min": vid2text_core::round(loads.iter().cloned().fold(f64::MAX, f64::min), 4),
            "max": vid2text_core::round(loads.iter().cloned().fold(0.0, f64::max), 4),
        },
    });
    let mut recorded = a.clone();
    recorded.inputs.clear();
    run["run_args"] = serde_json::to_value(&recorded).expect("run options serialise");
    let mut text = serde_json::to_string_pretty(&run).expect("json");
    text.push('\n');
    write_atomic(&run_path, text.as_bytes())?;
    if a.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "vid2text: planned {} inputs ({:.2} h of media; {probed} probed, {unknown} of unknown \
         duration, {failed} not found) into {n} shards of {:.2}-{:.2} h in {:.1} s: {}",
        entries.len(),
        media_h,
        run["plan"]["shard_hours"]["min"].as_f64().unwrap_or(0.0),
        run["plan"]["shard_hours"]["max"].as_f64().unwrap_or(0.0),
        started.elapsed().as_secs_f64(),
        job.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Probes the entries without a duration, `workers` at a time; returns how many were probed.
/// A failed probe leaves the duration unknown: the worker records the real failure.
fn probe_durations(entries: &mut [PlanEntry], workers: usize, limit: Duration) -> usize {
    let todo: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].failure.is_none() && entries[i].duration_s.is_none())
        .collect();
    let next = AtomicUsize::new(0);
    let targets: Vec<String> = todo
        .iter()
        .map(|&i| match (&entries[i].path, &entries[i].url) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        })
        .collect();
    let found: Vec<Option<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(todo.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(target) = targets.get(k) else {
                            break;
                        };
                        let d = vid2text_media::probe(target, limit)
                            .ok()
                            .map(|info| info.duration_s)
                            .filter(|d| d.is_finite() && *d > 0.0);
                        mine.push((k, d));
                    }
                    mine
                })
            })
            .collect();
        let mut all = vec![None; targets.len()];
        for h in handles {
            for (k, d) in h.join().expect("probe thread") {
                all[k] = d;
            }
        }
        all
    });
    for (&i, d) in todo.iter().zip(found) {
        entries[i].duration_s = d.map(|d| vid2text_core::round(d, 3));
    }
    todo.len()
}

/// The `run.json` of a planned job, and its shard count.
fn read_plan(job: &Path) -> Result<(serde_json::Value, u32)> {
    let Some(run) = outdir::read_run_json(job)? else {
        bail!(
            "{} is not a planned job (no run.json): run `vid2text plan` first",
            job.display()
        );
    };
    let Some(shards) = outdir::plan_shards(&run) else {
        bail!(
            "{} was written by `vid2text run`, not `vid2text plan`: it has no shards to work on",
            job.display()
        );
    };
    Ok((run, shards))
}

/// The shard to run: `--shard`, else the array index that Slurm or Kubernetes gives the task.
fn shard_index(given: Option<u32>, shards: u32) -> Result<u32> {
    let (index, from) = match given {
        Some(i) => (i, "--shard".to_string()),
        None => {
            let found = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
                .iter()
                .find_map(|v| std::env::var(v).ok().map(|s| (s, *v)));
            let Some((value, var)) = found else {
                bail!(
                    "which shard? give --shard I, or run as a Slurm array task \
                     (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)"
                );
            };
            let i = value
                .trim()
                .parse()
                .with_context(|| format!("${var} is `{value}`, not a shard index"))?;
            (i, format!("${var}"))
        }
    };
    if index >= shards {
        bail!(
            "shard {index} (from {from}) is out of range: the job has {shards} shards (0-{})",
            shards - 1
        );
    }
    Ok(index)
}

/// `vid2text work`: the settings the plan recorded, this machine's threads and models, the
/// shard's manifest as the inputs; then an ordinary run (resumable, graceful on SIGTERM).
pub fn work_settings(args: WorkArgs) -> Result<Settings> {
    let (run, shards) = read_plan(&args.job)?;
    let index = shard_index(args.shard, shards)?;
    let mut a: RunArgs = serde_json::from_value(run["run_args"].clone()).with_context(|| {
        format!(
            "{}: the run options recorded by `vid2text plan` are unreadable (planned by another \
             vid2text version?)",
            args.job.join("run.json").display()
        )
    })?;
    a.output = args.job.clone();
    a.threads = args.threads.unwrap_or(a.threads);
    a.replicas = args.replicas.unwrap_or(a.replicas);
    a.decode_workers = args.decode_workers.unwrap_or(a.decode_workers);
    a.ocr_workers = args.ocr_workers.unwrap_or(a.ocr_workers);
    if args.models_dir.is_some() {
        a.models_dir = args.models_dir;
    }
    a.json = args.json;
    a.quiet = args.quiet;
    // The attempt is visible to `status` (failed, not "not started") even when it ends here.
    let lock = shards::lock_path(&args.job, index);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock)
        .with_context(|| format!("cannot create {}", lock.display()))?;
    let entries = shards::read_manifest(&args.job, index)?;
    let mut settings = Settings::from_args(a)?;
    // Each shard's downloads in its own folder: a worker's start-up clean-up empties only it.
    settings.decode.downloads = args.job.join("downloads").join(format!("{index:05}"));
    settings.shard = Some(ShardWork { index, entries });
    Ok(settings)
}

/// Whether the plan's options read keyframes (for the heap tunables chosen before start-up).
pub fn plan_reads_screens(job: &Path) -> bool {
    read_plan(job).is_ok_and(|(run, _)| !run["run_args"]["no_ocr"].as_bool().unwrap_or(false))
}

/// One shard's row in `status`.
#[derive(serde::Serialize)]
struct ShardRow {
    shard: u32,
    state: ShardState,
    inputs: usize,
    media_hours: f64,
    /// The last worker that took the shard's lock (pid, host, start), for running and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<serde_json::Value>,
    /// Why the shard's manifest cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn shard_rows(job: &Path, shards: u32) -> Result<Vec<ShardRow>> {
    (0..shards)
        .map(|s| {
            // A damaged manifest is reported with its shard, not an end to the report.
            let (entries, error) = match shards::read_manifest(job, s) {
                Ok(entries) => (entries, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            let state = shards::shard_state(job, s)?;
            let worker = match state {
                ShardState::Running | ShardState::Failed => {
                    std::fs::read_to_string(shards::lock_path(job, s))
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                }
                _ => None,
            };
            Ok(ShardRow {
                shard: s,
                state,
                inputs: entries.len(),
                media_hours: entries.iter().filter_map(|e| e.duration_s).sum::<f64>() / 3600.0,
                worker,
                error,
            })
        })
        .collect()
}

/// The shards to (re)submit: failed or not started (running ones have a worker).
fn missing(rows: &[ShardRow]) -> Vec<u32> {
    rows.iter()
        .filter(|r| matches!(r.state, ShardState::Failed | ShardState::NotStarted))
        .map(|r| r.shard)
        .collect()
}

/// `vid2text status`: exit 0 when every shard is done, 1 otherwise.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let (_, shards) = read_plan(&args.job)?;
    let rows = shard_rows(&args.job, shards)?;
    let complete = rows.iter().all(|r| r.state == ShardState::Done);
    let mut out = std::io::stdout().lock();
    if args.missing {
        writeln!(out, "{}", shards::array_list(&missing(&rows)))?;
    } else {
        let states = [
            ShardState::Done,
            ShardState::Running,
            ShardState::Failed,
            ShardState::NotStarted,
        ];
        let per_state: serde_json::Map<String, serde_json::Value> = states
            .iter()
            .map(|&st| {
                let of: Vec<&ShardRow> = rows.iter().filter(|r| r.state == st).collect();
                let inputs: usize = of.iter().map(|r| r.inputs).sum();
                let hours = of.iter().map(|r| r.media_hours).sum::<f64>() + 0.0; // not -0
                (
                    st.name().to_string(),
                    json!({"shards": of.len(), "inputs": inputs,
                           "media_hours": vid2text_core::round(hours, 4)}),
                )
            })
            .collect();
        if args.json {
            let value = json!({
                "job": args.job.display().to_string(),
                "shards": shards,
                "complete": complete,
                "states": per_state,
                "missing": shards::array_list(&missing(&rows)),
                "per_shard": rows,
            });
            writeln!(out, "{value}")?;
        } else {
            writeln!(out, "{}: {shards} shards", args.job.display())?;
            writeln!(
                out,
                "{:<12} {:>7} {:>9} {:>10}",
                "state", "shards", "inputs", "hours"
            )?;
            for st in states {
                let v = &per_state[st.name()];
                writeln!(
                    out,
                    "{:<12} {:>7} {:>9} {:>10.3}",
                    st.name(),
                    v["shards"].as_u64().unwrap_or(0),
                    v["inputs"].as_u64().unwrap_or(0),
                    v["media_hours"].as_f64().unwrap_or(0.0)
                )?;
            }
            for r in rows.iter().filter(|r| r.state != ShardState::Done).take(50) {
                let who = r
                    .worker
                    .as_ref()
                    .map(|w| {
                        format!(
                            " (pid {} on {})",
                            w["pid"],
                            w["host"].as_str().unwrap_or("?")
                        )
                    })
                    .unwrap_or_default();
                let error = r
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                writeln!(out, "  shard {:05} {}{who}{error}", r.shard, r.state.name())?;
            }
            let m = missing(&rows);
            if !m.is_empty() {
                writeln!(
                    out,
                    "to resubmit: vid2text slurm {} --missing --submit   (--array={})",
                    args.job.display(),
                    shards::array_list(&m)
                )?;
            }
        }
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The absolute path of a job directory (array tasks and pods do not start where `plan` ran).
fn absolute(job: &Path) -> Result<PathBuf> {
    std::path::absolute(job).with_context(|| format!("{}: no absolute path", job.display()))
}

/// A value safe inside double quotes in a shell script.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `vid2text slurm`: writes JOB/slurm/array.sbatch (one array task per shard, each running
/// `vid2text work`) and, with --submit, submits it.
pub fn slurm(args: SlurmArgs) -> Result<ExitCode> {
    let job = absolute(&args.job)?;
    let (_, shards) = read_plan(&job)?;
    let array = if args.missing {
        let list = shards::array_list(&missing(&shard_rows(&job, shards)?));
        if list.is_empty() {
            eprintln!("vid2text: no shard is failed or not started: nothing to submit");
            return Ok(ExitCode::SUCCESS);
        }
        list
    } else {
        format!("0-{}", shards - 1)
    };
    let array = match args.max_parallel {
        Some(k) => format!("{array}%{k}"),
        None => array,
    };
    let exe = std::env::current_exe().context("cannot find the vid2text executable")?;
    let logs = job.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "# vid2text: one array task per shard of {} ({shards} shards).\n\
         # Written by `vid2text slurm`; `vid2text status JOB` says where the shards stand.\n",
        job.display()
    );
    s += "#SBATCH --job-name=vid2text\n";
    s += &format!("#SBATCH --array={array}\n");
    s += &format!("#SBATCH --cpus-per-task={}\n", args.cpus_per_task);
    s += "#SBATCH --ntasks=1\n";
    for (flag, value) in [
        ("partition", args.partition.clone()),
        ("account", args.account.clone()),
        ("mem", args.mem.clone()),
        ("time", args.time.clone()),
        ("gpus-per-task", args.gpus_per_task.map(|g| g.to_string())),
    ] {
        if let Some(v) = value {
            s += &format!("#SBATCH --{flag}={v}\n");
        }
    }
    s += &format!("#SBATCH --output={}/%A_%a.log\n", logs.display());
    s += "#SBATCH --open-mode=append\n";
    s += "\n# At the time limit or on preemption Slurm sends SIGTERM: the worker commits what is\n\
          # finished and exits 143 within seconds (before KillWait); resubmitting the index\n\
          # finishes the shard. A second worker on a running shard refuses (exit 2).\n";
    s += &format!(
        "exec {} work {} --shard \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\" --quiet\n",
        shell_quote(&exe.display().to_string()),
        shell_quote(&job.display().to_string()),
        args.cpus_per_task
    );
    let dir = job.join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join("array.sbatch");
    write_atomic(&script, s.as_bytes())?;
    if !args.submit {
        println!("{}", script.display());
        return Ok(ExitCode::SUCCESS);
    }
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .context("cannot run sbatch (is Slurm installed here?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("{id}");
    eprintln!(
        "vid2text: submitted Slurm job {id}: array {array} of {}",
        script.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The Kubernetes Indexed Job for a planned job (a JSON value, written as YAML).
pub fn k8s_manifest(args: &K8sArgs, job: &Path, shards: u32) -> serde_json::Value {
    let base = job
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("job")
        .to_ascii_lowercase();
    let dns: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = args.name.clone().unwrap_or_else(|| {
        format!("vid2text-{}", dns.trim_matches('-'))
            .chars()
            .take(52)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string()
    });
    let mut limits = json!({"cpu": args.cpus.to_string(), "memory": args.memory});
    if let Some(g) = args.gpus {
        limits["nvidia.com/gpu"] = json!(g.to_string());
    }
    let mut container = json!({
        "name": "vid2text",
        "image": args.image,
        // No --shard: the worker reads JOB_COMPLETION_INDEX, which the env below also sets
        // explicitly from the pod's completion-index annotation.
        "command": ["vid2text", "work", job.display().to_string(),
                    "--threads", args.cpus.to_string(), "--quiet"],
        "env": [{
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            }},
        }],
        "resources": {"requests": limits.clone(), "limits": limits},
    });
    let mut pod = json!({
        "restartPolicy": "Never",
        // SIGTERM first: the worker commits what is finished and exits within seconds.
        "terminationGracePeriodSeconds": 60,
        "containers": [],
    });
    if let Some(pvc) = &args.pvc {
        container["volumeMounts"] = json!([{"name": "shared", "mountPath": args.mount_path}]);
        pod["volumes"] = json!([{"name": "shared", "persistentVolumeClaim": {"claimName": pvc}}]);
    }
    pod["containers"] = json!([container]);
    let mut metadata = json!({"name": name, "labels": {"app.kubernetes.io/name": "vid2text"}});
    if let Some(ns) = &args.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": args.parallelism.min(shards),
            // Kubernetes 1.29+: a failing shard is retried on its own, up to this many times,
            // without failing the others.
            "backoffLimitPerIndex": args.backoff_limit_per_index,
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "vid2text"}}, "spec": pod},
        },
    })
}

/// `vid2text k8s`: writes JOB/k8s/job.yaml and prints its path.
pub fn k8s(args: K8sArgs) -> Result<ExitCode> {
    let job = absolute(&args.job)?;
    let (_, shards) = read_plan(&job)?;
    let manifest = k8s_manifest(&args, &job, shards);
    let yaml = serde_yaml::to_string(&manifest).context("cannot write the manifest as YAML")?;
    let dir = job.join("k8s");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("job.yaml");
    let text = format!(
        "# vid2text: one completion index per shard of {} ({shards} shards).\n\
         # kubectl apply -f {}; `vid2text status JOB` says where the shards stand.\n{yaml}",
        job.display(),
        path.display()
    );
    write_atomic(&path, text.as_bytes())?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
