//! Helpers for tests that run the real `hotline` binary.

#![allow(dead_code)]

pub(crate) mod daemons;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hotline` binary cargo built for this test run.
pub(crate) fn hotline_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotline"))
}

/// Runs `hotline ARGS` in `dir` with a clean environment for Hotline.
pub(crate) fn hotline(dir: &Path, args: &[&str]) -> Output {
    Command::new(hotline_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("HOTLINE_DATA_DIR")
        .output()
        .expect("the hotline binary runs")
}

/// Runs `hotline ARGS`, asserting success, and returns stdout.
pub(crate) fn ok(dir: &Path, args: &[&str]) -> String {
    let out = hotline(dir, args);
    assert!(
        out.status.success(),
        "hotline {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `hotline ARGS`, asserting failure with exactly one line on stderr,
/// and returns that line.
pub(crate) fn fails(dir: &Path, args: &[&str]) -> String {
    let out = hotline(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "hotline {args:?} should have failed, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one error line expected, got: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr.trim_end().to_string()
}

/// Runs a shell script with the built `hotline` first on `PATH`.
pub(crate) fn run_script(dir: &Path, script: &str) -> Output {
    let bin_dir = hotline_bin().parent().expect("binary has a directory").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("HOTLINE_DATA_DIR")
        .output()
        .expect("bash runs")
}

/// `hotline record set` arguments for a complete technical record of the
/// node in `data`.
pub(crate) fn record_args<'a>(data: &'a str, org: &'a str, timezone: &'a str, languages: &'a str) -> Vec<&'a str> {
    vec![
        "--data-dir",
        data,
        "record",
        "set",
        "--role",
        "technical",
        "--organization",
        org,
        "--position",
        "Duty officer",
        "--email",
        "cert@example.org",
        "--phone",
        "+33 1 00 00 00 00",
        "--phone-24x7",
        "+33 6 00 00 00 00",
        "--availability",
        "24x7",
        "--timezone",
        timezone,
        "--languages",
        languages,
    ]
}
