//! Command-line parsing and dispatch. Each submodule holds one group of
//! commands; they share the output and file helpers.

mod backup;
mod bench;
mod ceremony;
mod comcheck;
mod daemon;
mod demo;
mod directory;
mod evidence;
mod files;
mod location;
mod mesh;
mod message;
mod node;
mod node_key;
mod nodes;
mod note;
mod output;
mod parse;
pub(crate) use output::{AlreadyReported, StdoutClosed};
mod record;
mod state;

use anyhow::Result;
use clap::{Parser, Subcommand};
use hotline_core::Timestamp;
use std::path::PathBuf;

pub(crate) use output::Out;

/// Hotline: a peer-to-peer crisis line between states' cyber points of contact.
#[derive(Parser, Debug)]
#[command(name = "hotline", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The node's data directory. Default: $HOTLINE_DATA_DIR, else data_dir
    /// in /etc/hotline/cli.toml, else ~/.local/share/hotline.
    #[arg(long, global = true, env = "HOTLINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Make an Ed25519 key (for a steward or a state) and print its public key.
    Keygen(ceremony::KeygenArgs),
    /// Inspect a key file.
    #[command(subcommand)]
    Key(ceremony::KeyCommand),
    /// Draw up, sign and inspect the network charter.
    #[command(subcommand)]
    Charter(ceremony::CharterCommand),
    /// Draw up, sign and import admissions of states.
    #[command(subcommand)]
    Admission(ceremony::AdmissionCommand),
    /// Create a node: its state key, node key, configuration and store.
    Init(node::InitArgs),
    /// The nodes of this state: add one, revoke one.
    #[command(subcommand)]
    Node(nodes::NodeCommand),
    /// This state's key: rotate it (a new admission the stewards sign).
    #[command(subcommand)]
    State(state::StateCommand),
    /// Write an encrypted backup of this node (store, keys, configuration),
    /// or check one (`backup verify FILE`).
    Backup(backup::BackupArgs),
    /// Rebuild a data directory from a backup (`--data-dir` names it).
    Restore(backup::RestoreArgs),
    /// Publish this state's contact records.
    #[command(subcommand)]
    Record(record::RecordCommand),
    /// Read, export and import the directory.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Run this node's daemon (until SIGTERM or SIGINT).
    Daemon(daemon::DaemonArgs),
    /// Show the running daemon's status.
    Status,
    /// Check that the daemon can do its job (store writable, admitted, a
    /// member connected); exits 1 with the reasons if not, for monitoring.
    Health,
    /// List the peers the daemon is connected to.
    Peers,
    /// Print the daemon's live events until interrupted.
    Watch(daemon::WatchArgs),
    /// Send an end-to-end encrypted message to another state's point of contact.
    Send(Box<message::SendArgs>),
    /// What awaits this point of contact: received messages neither
    /// acknowledged nor answered, with their respond-by times.
    Desk(message::DeskArgs),
    /// Answer a message: to its sender, in its case, keeping its TLP and
    /// exercise mark.
    Reply(message::ReplyArgs),
    /// List received messages (or sent ones, or both).
    Inbox(message::InboxArgs),
    /// Show one message as a formal note, and mark it read.
    Show(message::ShowArgs),
    /// Show every message of a case, oldest first.
    Thread(message::ThreadArgs),
    /// Acknowledge a received message: a signed acknowledgement to its sender.
    Ack(message::AckArgs),
    /// List the deliveries still waiting for a signed receipt, or cancel
    /// those of one message.
    Outbox(message::OutboxArgs),
    /// Communication checks: test that other states' points of contact answer.
    #[command(subcommand)]
    Comcheck(comcheck::ComcheckCommand),
    /// The evidence log: what this node committed to, signed and witnessed.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Run a whole network on this machine and show it converge.
    Demo(demo::DemoArgs),
    /// Measure performance; prints JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs one command.
pub(crate) fn run(cli: Cli) -> Result<()> {
    let out = Out { json: cli.json };
    let dir = location::DataDir::resolve(cli.data_dir)?;
    let data_dir = dir.path.as_path();
    let result = match cli.command {
        Command::Keygen(args) => ceremony::keygen(args, &out),
        Command::Key(cmd) => ceremony::key(cmd, &out),
        Command::Charter(cmd) => ceremony::charter(cmd, &out),
        Command::Admission(cmd) => ceremony::admission(cmd, data_dir, &out),
        Command::Init(args) => node::init(args, data_dir, &out),
        Command::Node(cmd) => nodes::run(cmd, data_dir, &out),
        Command::State(cmd) => state::run(cmd, data_dir, &out),
        Command::Backup(args) => backup::backup(args, data_dir, &out),
        Command::Restore(args) => backup::restore(args, data_dir, &out),
        Command::Record(cmd) => record::run(cmd, data_dir, &out),
        Command::Directory(cmd) => directory::run(cmd, data_dir, &out),
        Command::Daemon(args) => daemon::daemon(args, data_dir),
        Command::Status => daemon::status(data_dir, &out),
        Command::Health => daemon::health(data_dir, &out),
        Command::Peers => daemon::peers(data_dir, &out),
        Command::Watch(args) => daemon::watch(args, data_dir, &out),
        Command::Send(args) => message::send(*args, data_dir, &out),
        Command::Reply(args) => message::reply(args, data_dir, &out),
        Command::Desk(args) => message::desk(args, data_dir, &out),
        Command::Inbox(args) => message::inbox(args, data_dir, &out),
        Command::Show(args) => message::show(args, data_dir, &out),
        Command::Thread(args) => message::thread(args, data_dir, &out),
        Command::Ack(args) => message::ack(args, data_dir, &out),
        Command::Outbox(args) => message::outbox(args, data_dir, &out),
        Command::Comcheck(cmd) => comcheck::run(cmd, data_dir, &out),
        Command::Evidence(cmd) => evidence::run(cmd, data_dir, &out),
        Command::Demo(args) => demo::demo(args, &out),
        Command::Bench(cmd) => bench::run(cmd, &out),
    };
    result.map_err(|e| dir.explain(e))
}

/// Environment variable that shifts this process's clock by a number of
/// seconds. It exists so tests can check expiry rules without sleeping; the
/// name says it is not for production.
const TEST_CLOCK_OFFSET: &str = "HOTLINE_UNSAFE_TEST_CLOCK_OFFSET_SECS";

/// The wall clock, as the core's `Timestamp` (shifted by the test offset, if set).
pub(crate) fn now() -> Timestamp {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let offset: i64 = std::env::var(TEST_CLOCK_OFFSET).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    Timestamp(secs.saturating_add_signed(offset))
}
