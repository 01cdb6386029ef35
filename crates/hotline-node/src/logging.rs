//! Logging setup for the daemon binary.

use crate::error::NodeError;
use hotline_store::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber, writing to standard error
/// (journald picks it up under systemd).
///
/// `level` is a filter such as `info` or `info,hotline_net=debug` (the
/// config's `log_level`). `format` is readable text, with colours only on a
/// terminal, or one JSON object per line. Fails if `level` does not parse
/// or a subscriber is already installed.
///
/// Nothing in Hotline logs key material: secret keys have no `Display`
/// and a redacting `Debug`.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), NodeError> {
    let filter = EnvFilter::try_new(with_quiet_kademlia(level))
        .map_err(|e| NodeError::Logging(format!("log_level '{level}' is not a filter: {e}")))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init(),
    };
    installed.map_err(|e| NodeError::Logging(e.to_string()))
}

/// `level`, with Kademlia's own messages below `error` left out unless the
/// operator names `libp2p_kad`. Its automatic bootstrap warns "Failed to
/// trigger bootstrap: No known peers" whenever its routing table is empty
/// (at start-up before the first member connects, or when the last one
/// goes), which the node's own redial covers; its other warnings concern
/// DHT records, which Hotline does not use. They read as faults to an
/// operator and are not.
fn with_quiet_kademlia(level: &str) -> String {
    if level.contains("libp2p_kad") { level.to_string() } else { format!("{level},libp2p_kad=error") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kademlia_is_quiet_unless_asked_for() {
        assert_eq!(with_quiet_kademlia("info"), "info,libp2p_kad=error");
        assert_eq!(with_quiet_kademlia("debug,libp2p_kad=debug"), "debug,libp2p_kad=debug");
        assert!(EnvFilter::try_new(with_quiet_kademlia("info,hotline_net=debug")).is_ok());
    }

    #[test]
    fn a_bad_filter_is_refused_with_its_text() {
        let err = init_logging("info,hotline_node=loud", LogFormat::Text).err();
        assert!(matches!(&err, Some(NodeError::Logging(m)) if m.contains("hotline_node=loud")), "{err:?}");
    }
}
