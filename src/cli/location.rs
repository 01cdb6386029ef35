//! Where the node's data directory is, and what to say when there is no
//! node there.
//!
//! In order: `--data-dir`, `HOTLINE_DATA_DIR`, `data_dir` in the system-wide
//! CLI file (`/etc/hotline/cli.toml`, or the file `HOTLINE_CLI_CONFIG`
//! names), then `$XDG_DATA_HOME/hotline` or `~/.local/share/hotline`. The
//! system file lets a diplomat who logs in over SSH run `hotline inbox`
//! with no flag on a server whose node lives in `/var/lib/hotline`.

use anyhow::{Context, Result, bail};
use hotline_node::ClientError;
use hotline_store::StoreError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The system-wide CLI settings file.
pub(crate) const SYSTEM_FILE: &str = "/etc/hotline/cli.toml";
/// Names another CLI settings file instead (tests, unusual installs).
pub(crate) const SYSTEM_FILE_ENV: &str = "HOTLINE_CLI_CONFIG";
/// The largest settings file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Where the data directory came from, for the messages that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--data-dir` or `HOTLINE_DATA_DIR`.
    Given,
    /// `data_dir` in this settings file.
    SystemFile(PathBuf),
    /// The per-user default.
    Default,
}

/// The resolved data directory.
#[derive(Clone, Debug)]
pub(crate) struct DataDir {
    pub path: PathBuf,
    pub source: Source,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CliFile {
    data_dir: Option<PathBuf>,
}

impl DataDir {
    /// Resolves the data directory from what was given.
    pub(crate) fn resolve(given: Option<PathBuf>) -> Result<DataDir> {
        if let Some(path) = given {
            return Ok(DataDir { path, source: Source::Given });
        }
        let file = std::env::var_os(SYSTEM_FILE_ENV).map_or_else(|| PathBuf::from(SYSTEM_FILE), PathBuf::from);
        if let Some(path) = read_system_file(&file)? {
            return Ok(DataDir { path, source: Source::SystemFile(file) });
        }
        Ok(DataDir { path: per_user_default(), source: Source::Default })
    }

    /// Whether a node lives here (its configuration or its database).
    pub(crate) fn has_node(&self) -> bool {
        self.path.join(hotline_store::config::CONFIG_FILE).exists() || self.path.join(hotline_store::DB_FILE).exists()
    }

    /// What to say instead of "the daemon is not running" or "run init"
    /// when there is no node here at all: that advice would have a
    /// diplomat report the node down, or create a second one.
    pub(crate) fn no_node_message(&self) -> String {
        let at = self.path.display();
        match &self.source {
            Source::Given => format!(
                "there is no Hotline node at {at} (no node.toml or database there): check --data-dir or HOTLINE_DATA_DIR"
            ),
            Source::SystemFile(file) => format!(
                "there is no Hotline node at {at}, the data_dir of {}: fix that file, or give --data-dir",
                file.display()
            ),
            Source::Default => format!(
                "there is no Hotline node at the default location {at}: point to the node's data directory with \
                 --data-dir DIR or HOTLINE_DATA_DIR=DIR, or set data_dir in {SYSTEM_FILE} for every user \
                 (on a server it is usually /var/lib/hotline)"
            ),
        }
    }

    /// `error`, or the no-node message when `error` comes from there being
    /// no node here (no socket, no store) rather than from the command.
    pub(crate) fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        let missing = error.chain().any(|e| {
            matches!(e.downcast_ref::<ClientError>(), Some(ClientError::DaemonNotRunning { .. }))
                || matches!(e.downcast_ref::<StoreError>(), Some(StoreError::NotInitialized { .. }))
        });
        if missing && !self.has_node() { anyhow::anyhow!(self.no_node_message()) } else { error }
    }
}

fn read_system_file(file: &Path) -> Result<Option<PathBuf>> {
    let text = match std::fs::File::open(file) {
        Ok(f) => {
            use std::io::Read;
            let mut text = String::new();
            f.take(MAX_FILE_BYTES + 1)
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if text.len() as u64 > MAX_FILE_BYTES {
                bail!("{} is larger than {MAX_FILE_BYTES} bytes", file.display());
            }
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let parsed: CliFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message()))?;
    Ok(parsed.data_dir)
}

/// `$XDG_DATA_HOME/hotline`, else `~/.local/share/hotline`, else `./hotline-data`.
fn per_user_default() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("hotline");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/hotline"),
        None => PathBuf::from("hotline-data"),
    }
}
