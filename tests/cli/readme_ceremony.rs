//! The README's key-ceremony walk-through works exactly as written, from an
//! empty directory.

use crate::common::{ok, run_script};

/// The shell block between the ceremony markers of README.md.
fn ceremony_script() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("<!-- ceremony:begin -->").expect("README has the ceremony begin marker");
    let end = readme.find("<!-- ceremony:end -->").expect("README has the ceremony end marker");
    let block = &readme[start..end];
    let body_start = block.find("```sh\n").expect("the ceremony is a sh block") + "```sh\n".len();
    let body_end = block.rfind("```").expect("the sh block is closed");
    block[body_start..body_end].to_string()
}

#[test]
fn readme_ceremony_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_script(dir.path(), &ceremony_script());
    assert!(
        out.status.success(),
        "the README ceremony failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Germany's directory now holds both technical records, both current.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["--data-dir", "deu", "directory", "list", "--json"])).unwrap();
    let records = listed["records"].as_array().unwrap();
    let mut seen: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["record"]["state"].as_str().unwrap().to_string(),
                r["record"]["role"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("DEU".into(), "technical".into(), "current".into()),
            ("FRA".into(), "technical".into(), "current".into())
        ]
    );

    // The charter needed two of three stewards, and says so.
    let charter: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["charter", "show", "network.charter", "--json"])).unwrap();
    assert_eq!(charter["valid"], true);
    assert_eq!(charter["valid_signatures"], 2);
    assert_eq!(charter["threshold"], 2);
}
