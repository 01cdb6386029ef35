//! The command-line tests, in one binary: they run the `hotline` binary
//! itself, as an operator would.

mod cli_admissions;
mod cli_backup;
mod cli_comcheck;
mod cli_errors;
mod cli_evidence;
mod cli_messaging;
mod cli_node_keys;
mod cli_nodes;
mod cli_recovery;
mod common;
mod crash;
mod daemon_cli;
mod netbed;
mod readme_ceremony;
