//! The node configuration file, `DATA/node.toml`.
//!
//! ```toml
//! state = "FRA"
//! listen = ["/ip4/0.0.0.0/tcp/4610", "/ip4/0.0.0.0/udp/4610/quic-v1"]
//! bootstrap = ["/dns4/hotline.example.org/tcp/4610/p2p/12D3KooW..."]
//! log_level = "info"
//! log_format = "text"
//! sync_interval_secs = 30
//! grace_secs = 10
//! ```
//!
//! Only `state` is required. Unknown keys are refused rather than ignored,
//! so that a misspelt key is caught instead of silently having no effect.

use crate::error::StoreError;
use crate::fsutil::{parent_dir, sync_dir};
use hotline_core::StateCode;
use serde::{Deserialize, Deserializer, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The configuration file's name inside a node's data directory.
pub const CONFIG_FILE: &str = "node.toml";

/// A configuration file larger than this is certainly not one.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (what journald shows best).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A node's configuration, as stored in `DATA/node.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// `state`: the ISO 3166-1 alpha-3 code of the state this node speaks
    /// for, for example `"FRA"`. Required. Lower case is accepted.
    #[serde(deserialize_with = "state_from_text")]
    pub state: StateCode,
    /// `listen`: libp2p multiaddresses to listen on. Default: TCP and QUIC on
    /// port 4610 of every IPv4 interface.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// `bootstrap`: multiaddresses of nodes to dial at start-up, in addition
    /// to those the charter lists. Default: none.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// `log_level`: `error`, `warn`, `info`, `debug` or `trace`, or a
    /// per-module filter such as `"info,hotline_net=debug"`. Default: `"info"`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `log_format`: `"text"` or `"json"`. Default: `"text"`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `sync_interval_secs`: seconds between two directory syncs with each
    /// connected peer (a sync also runs on every new connection). Default: 30.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// `grace_secs`: how long a connected peer that is not (yet) a member
    /// may stay, to present its admission and record through sync, before
    /// it is disconnected. Default: 10.
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    /// `metrics_listen`: a TCP address such as `"127.0.0.1:9464"` on which
    /// the daemon also serves `GET /metrics` (Prometheus), and nothing
    /// else. Default: none (metrics on the control socket only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

fn default_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/4610".into(), "/ip4/0.0.0.0/udp/4610/quic-v1".into()]
}

fn default_log_level() -> String {
    "info".into()
}

fn default_sync_interval() -> u64 {
    30
}

fn default_grace() -> u64 {
    10
}

/// Operators type state codes by hand, so accept any case here; the wire
/// format of `StateCode` accepts only the canonical upper case.
fn state_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<StateCode, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl NodeConfig {
    /// The default configuration of a node of `state`.
    pub fn new(state: StateCode) -> NodeConfig {
        NodeConfig {
            state,
            listen: default_listen(),
            bootstrap: Vec::new(),
            log_level: default_log_level(),
            log_format: LogFormat::default(),
            sync_interval_secs: default_sync_interval(),
            grace_secs: default_grace(),
            metrics_listen: None,
        }
    }

    /// Reads and checks the configuration file at `path`. Errors name the
    /// file and, for a TOML problem, the line and column.
    pub fn load(path: &Path) -> Result<NodeConfig, StoreError> {
        let file = fs::File::open(path).map_err(|e| StoreError::io("read config file", path, e))?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| StoreError::io("read config file", path, e))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(config_error(path, format!("is larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let config: NodeConfig = toml::from_str(&text).map_err(|e| config_error(path, describe(&text, &e)))?;
        config.validate().map_err(|detail| config_error(path, detail))?;
        Ok(config)
    }

    /// Checks the values that TOML types alone do not.
    pub fn validate(&self) -> Result<(), String> {
        for (key, addrs) in [("listen", &self.listen), ("bootstrap", &self.bootstrap)] {
            if let Some(bad) = addrs.iter().find(|a| !a.starts_with('/')) {
                return Err(format!("{key}: '{bad}' is not a multiaddress (for example /ip4/0.0.0.0/tcp/4610)"));
            }
        }
        if self.log_level.trim().is_empty() {
            return Err("log_level: must not be empty (for example \"info\")".into());
        }
        if self.sync_interval_secs == 0 {
            return Err("sync_interval_secs: must be at least 1".into());
        }
        if self.grace_secs == 0 {
            return Err("grace_secs: must be at least 1".into());
        }
        if let Some(addr) = &self.metrics_listen
            && addr.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(format!("metrics_listen: '{addr}' is not an address and port (for example 127.0.0.1:9464)"));
        }
        Ok(())
    }

    /// Writes the configuration to `path` atomically: a crash leaves either
    /// the old file or the new one, never a mix. The new text goes to a
    /// temporary file, is fsynced, renamed over `path`, and the directory is
    /// fsynced so the rename itself survives a crash.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let body = toml::to_string_pretty(self).map_err(|e| config_error(path, format!("cannot encode: {e}")))?;
        let text = format!("# Hotline node configuration. Unknown keys are refused.\n\n{body}");
        let dir = parent_dir(path);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| CONFIG_FILE.into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .map_err(|e| StoreError::io("write", &tmp, e))
            .and_then(|()| fs::rename(&tmp, path).map_err(|e| StoreError::io("replace", path, e)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        sync_dir(dir)
    }
}

fn config_error(path: &Path, detail: String) -> StoreError {
    StoreError::Config { path: path.to_path_buf(), detail }
}

/// One line: where the TOML problem is, and what it is.
fn describe(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let mut start = span.start.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<NodeConfig, StoreError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        fs::write(&path, text).unwrap();
        NodeConfig::load(&path)
    }

    #[test]
    fn defaults_fill_in_everything_but_the_state() {
        let config = load_text("state = \"fra\"\n").unwrap();
        assert_eq!(config, NodeConfig::new("FRA".parse().unwrap()));
        assert_eq!(config.listen, ["/ip4/0.0.0.0/tcp/4610", "/ip4/0.0.0.0/udp/4610/quic-v1"]);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.sync_interval_secs, 30);
        assert_eq!(config.grace_secs, 10);
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let mut config = NodeConfig::new("EST".parse().unwrap());
        config.bootstrap = vec!["/ip4/192.0.2.1/tcp/4610".into()];
        config.log_format = LogFormat::Json;
        config.sync_interval_secs = 5;
        config.save(&path).unwrap();
        assert_eq!(NodeConfig::load(&path).unwrap(), config);
        config.log_level = "debug".into();
        config.save(&path).unwrap();
        assert_eq!(NodeConfig::load(&path).unwrap(), config);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [CONFIG_FILE]);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_problem() {
        let err = load_text("state = \"FRA\"\nlisten_on = []\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(CONFIG_FILE) && msg.contains("line 2") && msg.contains("listen_on"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");

        let msg = load_text("listen = []\n").unwrap_err().to_string();
        assert!(msg.contains("state"), "{msg}");

        let msg = load_text("state = \"XXX\"\n").unwrap_err().to_string();
        assert!(msg.contains("XXX") && msg.contains("line 1"), "{msg}");

        let msg = load_text("state = \"FRA\"\nlog_format = \"yaml\"\n").unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("yaml"), "{msg}");

        let msg = load_text("state = \"FRA\"\nsync_interval_secs = 0\n").unwrap_err().to_string();
        assert!(msg.contains("sync_interval_secs"), "{msg}");

        let msg = load_text("state = \"FRA\"\nlisten = [\"0.0.0.0:4610\"]\n").unwrap_err().to_string();
        assert!(msg.contains("not a multiaddress"), "{msg}");

        let msg = load_text("state = \"FRA\"\nmetrics_listen = \"localhost\"\n").unwrap_err().to_string();
        assert!(msg.contains("metrics_listen") && msg.contains("localhost"), "{msg}");
        let ok = load_text("state = \"FRA\"\nmetrics_listen = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(ok.metrics_listen.as_deref(), Some("127.0.0.1:9464"));

        let msg = load_text("state = \n").unwrap_err().to_string();
        assert!(msg.contains("line 1"), "{msg}");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.toml");
        let msg = NodeConfig::load(&missing).unwrap_err().to_string();
        assert!(msg.contains("absent.toml"), "{msg}");
    }
}
