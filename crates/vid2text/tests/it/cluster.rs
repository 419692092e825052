//! A job split into shards (`plan`), run by several workers (`work`), checked (`status`), and the
//! array jobs that run it on Slurm and Kubernetes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

const TINY: [&str; 6] = [
    "--asr-model",
    "tiny.en",
    "--beam-size",
    "1",
    "--no-ocr",
    "-q",
];

/// `vid2text plan INPUTS -o JOB --shards N` with the fast options, which must succeed.
pub fn plan(inputs: &[String], job: &Path, shards: u32, extra: &[&str]) {
    let job_s = job.display().to_string();
    let n = shards.to_string();
    let mut args = vec!["plan"];
    args.extend(inputs.iter().map(String::as_str));
    args.extend_from_slice(&["-o", &job_s, "--shards", &n]);
    args.extend_from_slice(&TINY);
    args.extend_from_slice(extra);
    let r = vid2text(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn spawn_work(job: &Path, shard: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_vid2text"))
        .arg("work")
        .arg(job)
        .args(["--shard", &shard.to_string(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vid2text work")
}

fn status_json(job: &Path) -> (i32, Value) {
    let job_s = job.display().to_string();
    let r = vid2text(&["status", &job_s, "--json"]);
    (
        r.code,
        serde_json::from_str(r.stdout.trim()).expect("status JSON"),
    )
}

/// The uris of one shard's manifest.
fn manifest_uris(job: &Path, shard: u32) -> Vec<String> {
    std::fs::read_to_string(job.join(format!("shards/{shard:05}.manifest")))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["uri"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn three_shards_killed_and_doubled_workers_give_every_input_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = distinct_clips(&tmp.path().join("in"), 30);
    let job = tmp.path().join("job");
    // A commit every two documents: a kill leaves committed parts and inputs to do.
    plan(&inputs, &job, 3, &["--commit-every", "2"]);
    let run: Value = serde_json::from_slice(&std::fs::read(job.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["shards"], 3);
    assert_eq!(run["plan"]["inputs"], 30);
    let mut planned: Vec<String> = (0..3).flat_map(|s| manifest_uris(&job, s)).collect();
    planned.sort();
    let mut given = inputs.clone();
    given.sort();
    assert_eq!(planned, given, "each input in exactly one shard manifest");
    let (code, st) = status_json(&job);
    assert_eq!((code, &st["complete"]), (1, &Value::Bool(false)));
    assert_eq!(st["states"]["not_started"]["shards"], 3);

    // Shard 0 runs to the end.
    let r = vid2text(&["work", &job.display().to_string(), "--shard", "0", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Shard 1 is killed with SIGKILL once it has committed a part, then rerun.
    let mut child = spawn_work(&job, 1);
    let began = Instant::now();
    let committed = |e: std::io::Result<std::fs::DirEntry>| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.starts_with("part-00001-") && name.ends_with(".jsonl.zst")
    };
    while !std::fs::read_dir(job.join("docs")).unwrap().any(committed) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "shard 1 ended before its first commit"
        );
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "no commit from shard 1"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let killed = child.wait().unwrap();
    assert!(!killed.success(), "shard 1 finished before the kill");
    assert!(!job.join("shards/00001.done").exists());
    let (_, st) = status_json(&job);
    assert_eq!(st["per_shard"][1]["state"], "failed", "{st}");
    assert_eq!(st["per_shard"][0]["state"], "done", "{st}");
    let job_s = job.display().to_string();
    let missing = vid2text(&["status", &job_s, "--missing"]);
    assert_eq!((missing.code, missing.stdout.trim()), (1, "1-2"));
    let before = sources(&job).len();
    assert!(
        (10 + 2..20).contains(&before),
        "{before} documents after the kill"
    );
    let r = vid2text(&["work", &job_s, "--shard", "1", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Shard 2 is started twice at once: one worker runs it, the other refuses.
    let (a, b) = (spawn_work(&job, 2), spawn_work(&job, 2));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(2)], "one runs, one refuses");
    let refusal = if a.status.success() {
        &b.stderr
    } else {
        &a.stderr
    };
    let refusal = String::from_utf8_lossy(refusal);
    assert!(refusal.contains("one worker per shard"), "{refusal}");

    let (code, st) = status_json(&job);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["complete"], true);
    assert_eq!(st["states"]["done"]["inputs"], 30);
    assert_eq!(vid2text(&["status", &job_s, "--missing"]).stdout.trim(), "");
    let got = sources(&job);
    assert_eq!(got.len(), 30, "{got:?}");
    assert!(
        got.values().all(|&n| n == 1),
        "a document was committed twice: {got:?}"
    );
    // Each shard wrote only its own inputs.
    for shard in 0..3 {
        let mine = manifest_uris(&job, shard);
        let prefix = format!("part-{shard:05}-");
        let lines: Vec<Value> = vid2text_core::outdir::DocumentLines::of(&job)
            .unwrap()
            .only(&prefix)
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect();
        assert_eq!(lines.len(), mine.len());
        assert!(lines
            .iter()
            .all(|d| mine.contains(&d["source"].as_str().unwrap().to_string())));
    }
    // The words are real: half the clips are the LibriVox sentence "he was not an ill disposed
    // young man".
    let text = vid2text(&["cat", &job_s, "--text"]).stdout.to_lowercase();
    assert_eq!(text.matches("young man").count(), 15, "{text}");
}

#[test]
fn a_planned_job_is_worked_on_only_by_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = distinct_clips(&tmp.path().join("in"), 2);
    let job = tmp.path().join("job");
    plan(&inputs, &job, 2, &[]);
    let job_s = job.display().to_string();
    let r = run(
        &inputs.iter().map(String::as_str).collect::<Vec<_>>(),
        &job,
        &TINY[..5],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("planned into 2 shards"), "{}", r.stderr);
    let r = vid2text(&["work", &job_s, "--shard", "2"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("out of range"), "{}", r.stderr);
    let r = vid2text(&["work", &job_s]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("SLURM_ARRAY_TASK_ID"), "{}", r.stderr);
    // The array index comes from the environment, as Slurm and Kubernetes give it.
    for (var, shard) in [("SLURM_ARRAY_TASK_ID", 0), ("JOB_COMPLETION_INDEX", 1)] {
        let st = Command::new(env!("CARGO_BIN_EXE_vid2text"))
            .args(["work", &job_s, "-q"])
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env(var, shard.to_string())
            .status()
            .unwrap();
        assert!(st.success());
        assert!(
            job.join(format!("shards/{shard:05}.done")).exists(),
            "{var}"
        );
    }
    let again = vid2text(&[
        "plan",
        &inputs[0],
        "-o",
        &job_s,
        "--shards",
        "2",
        "--asr-model",
        "tiny.en",
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("holds a job already"),
        "{}",
        again.stderr
    );
    assert_eq!(documents(&job).len(), 2);
}

#[test]
fn durations_from_the_manifest_balance_the_shards_without_probing() {
    let tmp = tempfile::tempdir().unwrap();
    // URLs that nothing serves: a probe would fail or hang, so they must not be probed.
    let mut lines = String::new();
    let durations = [3600.0, 60.0, 60.0, 60.0, 1800.0, 1700.0, 30.0, 30.0];
    for (i, d) in durations.iter().enumerate() {
        lines += &format!("{{\"uri\": \"http://127.0.0.1:9/v{i}.mp4\", \"duration_s\": {d}}}\n");
    }
    let manifest = tmp.path().join("m.jsonl");
    std::fs::write(&manifest, lines).unwrap();
    let job = tmp.path().join("job");
    let began = Instant::now();
    plan(&[manifest.display().to_string()], &job, 2, &[]);
    assert!(began.elapsed() < Duration::from_secs(30));
    let run: Value = serde_json::from_slice(&std::fs::read(job.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["plan"]["probed"], 0);
    let load = |s: u32| -> f64 {
        std::fs::read_to_string(job.join(format!("shards/{s:05}.manifest")))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["duration_s"]
                    .as_f64()
                    .unwrap()
            })
            .sum()
    };
    // The hour-long video alone on one side, the rest (3770 s) on the other.
    let (a, b) = (load(0), load(1));
    assert_eq!(a + b, durations.iter().sum::<f64>());
    assert!((a - b).abs() <= 200.0, "{a} vs {b}");
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_over_the_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = distinct_clips(&tmp.path().join("in"), 3);
    let job = tmp.path().join("job");
    plan(&inputs, &job, 3, &[]);
    let job_s = job.display().to_string();
    let r = vid2text(&[
        "k8s",
        &job_s,
        "--image",
        "registry.example/vid2text:0.4",
        "--pvc",
        "shared-data",
        "--mount-path",
        "/mnt/shared",
        "--parallelism",
        "2",
        "--cpus",
        "8",
        "--gpus",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = r.stdout.trim();
    let m: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(m["apiVersion"], "batch/v1");
    assert_eq!(m["kind"], "Job");
    let spec = &m["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 3);
    assert_eq!(spec["parallelism"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example/vid2text:0.4");
    let cmd: Vec<&str> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[..3], &["vid2text", "work", job_s.as_str()]);
    assert!(
        !cmd.contains(&"--shard"),
        "the index comes from the pod: {cmd:?}"
    );
    let env = c["env"].as_sequence().unwrap();
    let index = env
        .iter()
        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
        .expect("index env");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/mnt/shared");
    let vol = &pod["volumes"][0];
    assert_eq!(vol["name"], c["volumeMounts"][0]["name"]);
    assert_eq!(vol["persistentVolumeClaim"]["claimName"], "shared-data");
}

/// A single-node Slurm cluster on 127.0.0.1 (munged, slurmctld, slurmd from Debian's packages),
/// in a scratch directory; every daemon it started is stopped when it is dropped.
struct LocalSlurm {
    dir: tempfile::TempDir,
}

impl LocalSlurm {
    /// None (and the test recorded as skipped) where the daemons are not installed or this is
    /// not root: `scripts/test.sh` installs them (`scripts/setup.sh --slurm`), CI runs as root.
    fn start(test: &str) -> Option<LocalSlurm> {
        let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch", "squeue"]
            .into_iter()
            .filter(|p| {
                !["/usr/sbin", "/usr/bin"]
                    .iter()
                    .any(|d| Path::new(d).join(p).exists())
            })
            .collect();
        if !missing.is_empty() {
            skipped(
                test,
                &format!(
                    "Slurm is not installed ({}): scripts/setup.sh --slurm",
                    missing.join(", ")
                ),
            );
            return None;
        }
        if !is_root() {
            skipped(test, "the Slurm daemons need root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::create_dir_all(d.join("spool")).unwrap();
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (ctld_port, d_port) = (port(), port());
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let p = |name: &str| d.join(name).display().to_string();
        let conf = format!(
            "ClusterName=vid2text\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld_port}\n\
             SlurmdPort={d_port}\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
             PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n\
             SlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nAuthInfo=socket={}\n\
             StateSaveLocation={}\nSlurmdSpoolDir={}\n\
             SlurmctldPidFile={}\nSlurmdPidFile={}\n\
             SlurmctldLogFile={}\nSlurmdLogFile={}\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             MpiDefault=none\nReturnToService=2\nSchedulerType=sched/backfill\n",
            p("munge.socket"),
            p("state"),
            p("spool"),
            p("slurmctld.pid"),
            p("slurmd.pid"),
            p("slurmctld.log"),
            p("slurmd.log"),
        );
        std::fs::write(d.join("slurm.conf"), conf).unwrap();
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(d.join("munge.key"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("munge.key"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let cluster = LocalSlurm { dir };
        let daemon = |cmd: &mut Command| {
            let st = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "{cmd:?}");
        };
        daemon(Command::new("munged").args([
            "--force",
            &format!("--socket={}", p("munge.socket")),
            &format!("--key-file={}", p("munge.key")),
            &format!("--log-file={}", p("munged.log")),
            &format!("--pid-file={}", p("munged.pid")),
            &format!("--seed-file={}", p("munged.seed")),
        ]));
        daemon(Command::new("slurmctld").args(["-f", &p("slurm.conf")]));
        daemon(Command::new("slurmd").args(["-f", &p("slurm.conf")]));
        // Wait for the node to register as idle.
        let began = Instant::now();
        loop {
            let out = cluster
                .command("sinfo")
                .args(["-h", "-o", "%t"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                break;
            }
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "the node never came up: {}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Some(cluster)
    }

    /// A Slurm client command (or vid2text) pointed at this cluster.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.dir.path().join("slurm.conf"));
        c
    }

    /// Waits until Slurm job `id` has left the queue.
    fn wait(&self, id: &str, limit: Duration) {
        let began = Instant::now();
        loop {
            let out = self
                .command("squeue")
                .args(["-h", "-j", id, "-o", "%i %t"])
                .output()
                .unwrap();
            let queue = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && queue.is_empty() {
                return;
            }
            assert!(
                began.elapsed() < limit,
                "job {id} still queued: {queue}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for LocalSlurm {
    fn drop(&mut self) {
        let _ = self
            .command("scancel")
            .args(["--quiet", "--user=root"])
            .status();
        for daemon in ["slurmd", "slurmctld", "munged"] {
            let pid = std::fs::read_to_string(self.dir.path().join(format!("{daemon}.pid")));
            if let Ok(pid) = pid {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        // Give them a moment to exit before the scratch directory goes.
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_slurm_array_runs_the_shards_and_a_failed_index_is_resubmitted() {
    let Some(slurm) = LocalSlurm::start("cluster::a_slurm_array_runs_the_shards") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = distinct_clips(&tmp.path().join("in"), 8);
    let job = tmp.path().join("job");
    plan(&inputs, &job, 4, &[]);
    let job_s = job.display().to_string();
    // Shard 2's manifest is damaged: its task fails (exit 2) and the others go on.
    let manifest = job.join("shards/00002.manifest");
    let good = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, "this is not a manifest\n").unwrap();

    let vid2text_bin = env!("CARGO_BIN_EXE_vid2text");
    let submit = |extra: &[&str]| -> String {
        let out = slurm
            .command(vid2text_bin)
            .args(["slurm", &job_s, "--cpus-per-task", "1", "--submit"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let id = submit(&[]);
    let script = std::fs::read_to_string(job.join("slurm/array.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3\n"), "{script}");
    slurm.wait(&id, Duration::from_secs(300));

    let missing = vid2text(&["status", &job_s, "--missing"]);
    assert_eq!(
        (missing.code, missing.stdout.trim()),
        (1, "2"),
        "{}",
        slurm.logs()
    );
    let (_, st) = status_json(&job);
    assert_eq!(st["per_shard"][2]["state"], "failed", "{st}");
    assert!(
        st["per_shard"][2]["error"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{st}"
    );
    let log = std::fs::read_to_string(job.join(format!("logs/{id}_2.log"))).unwrap();
    assert!(
        log.contains("00002.manifest"),
        "the task's log names the damage: {log}"
    );
    assert_eq!(documents(&job).len(), 6, "the three good shards' inputs");

    std::fs::write(&manifest, good).unwrap();
    let again = submit(&["--missing"]);
    slurm.wait(&again, Duration::from_secs(300));
    let (code, st) = status_json(&job);
    assert_eq!(code, 0, "{st}\n{}", slurm.logs());
    let got = sources(&job);
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    // Nothing is left to submit.
    let out = slurm
        .command(vid2text_bin)
        .args(["slurm", &job_s, "--missing", "--submit"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to submit"));
}

#[test]
fn dedup_marks_copies_and_re_encodings_across_shards_without_touching_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let jfk = data_str("speech/en/jfk/jfk.flac");
    let (original, copy, reencoded) = (
        dir.join("jfk.flac"),
        dir.join("jfk-copy.flac"),
        dir.join("jfk-small.mp3"),
    );
    std::fs::copy(&jfk, &original).unwrap();
    std::fs::copy(&jfk, &copy).unwrap();
    // Another container, codec, sample rate and bitrate: other bytes, nearly the same words.
    ffmpeg(&[
        "-i",
        &jfk,
        "-ar",
        "22050",
        "-b:a",
        "32k",
        &reencoded.display().to_string(),
    ]);
    let other = data_str("speech/en/misc/sr-english.wav");
    let inputs: Vec<String> = [&original, &copy, &reencoded]
        .iter()
        .map(|p| p.display().to_string())
        .chain([other])
        .collect();
    let job = tmp.path().join("job");
    // The three long inputs go to three shards (longest first onto the least loaded).
    plan(&inputs, &job, 3, &[]);
    let shard_of =
        |name: &str| (0..3).find(|&s| manifest_uris(&job, s).iter().any(|u| u.ends_with(name)));
    let shards = [
        shard_of("jfk.flac"),
        shard_of("jfk-copy.flac"),
        shard_of("jfk-small.mp3"),
    ];
    assert!(
        shards[0] != shards[1] && shards[1] != shards[2] && shards[0] != shards[2],
        "{shards:?}"
    );
    let job_s = job.display().to_string();
    for s in 0..3 {
        let r = vid2text(&["work", &job_s, "--shard", &s.to_string(), "-q"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let parts_before = std::fs::read_dir(job.join("docs")).unwrap().count();
    let r = vid2text(&["dedup", &job_s, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(summary["documents"], 4);
    assert_eq!(summary["duplicates"], 1, "{summary}");
    assert_eq!(summary["near_duplicates"], 1, "{summary}");
    assert_eq!(
        std::fs::read_dir(job.join("docs")).unwrap().count(),
        parts_before
    );
    assert_eq!(documents(&job).len(), 4, "the parts are untouched");
    let marks: Vec<Value> = std::fs::read_to_string(job.join("dedup/duplicates.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Part order is shard order: the first of the three in it is kept, and both marks name
    // it. The mp3 is a near duplicate; of the flacs, the first is kept or a near duplicate
    // (after the mp3), the second a duplicate by its bytes.
    let marked: Vec<&str> = marks
        .iter()
        .map(|m| m["source"].as_str().unwrap())
        .collect();
    let kept: Vec<&String> = inputs[..3]
        .iter()
        .filter(|i| !marked.contains(&i.as_str()))
        .collect();
    assert_eq!(kept.len(), 1, "{marks:?}");
    for m in &marks {
        assert_eq!(m["duplicate_of"], kept[0].as_str(), "{m}");
        if m["source"].as_str().unwrap().ends_with(".mp3") {
            assert_eq!(m["reason"], "near_duplicate", "{m}");
        }
    }
    let kinds: Vec<&str> = marks
        .iter()
        .map(|m| m["reason"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"duplicate") && kinds.contains(&"near_duplicate"),
        "{kinds:?}"
    );
    let cat = vid2text(&["cat", &job_s, "--skip-duplicates"]);
    assert_eq!(cat.stdout.lines().count(), 2, "{}", cat.stdout);
    let text = vid2text(&["cat", &job_s, "--text", "--skip-duplicates"]).stdout;
    assert_eq!(
        text.matches("your country").count(),
        2,
        "one JFK, said once: {text}"
    );
}
