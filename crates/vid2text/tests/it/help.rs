//! The help texts people read, as snapshots (`cargo insta review` after a deliberate change).

use std::process::Command;

/// `vid2text ARGS` at a fixed width, with no `VID2TEXT_*` variable that clap would show.
fn help(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vid2text"));
    cmd.args(args).env("COLUMNS", "100");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("VID2TEXT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run vid2text");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!(help(&["run", "--help"]));
}
