//! `hotline directory`: read the local copy of the directory, and carry it
//! between nodes by file.

use super::daemon::{Source, runtime, source};
use super::files::{self, ExportFile};
use super::node::{commit_objects, open_node};
use super::output::table;
use super::parse::*;
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hotline_core::Timestamp;
use hotline_core::{DirectoryObject, ObjectKey};
use hotline_node::api_types::{ComcheckView, LivenessView, RecordEntry};
use hotline_node::endpoints::{GetDirectory, GetHistory, GetLiveness, GetState, GetStatus, ListComchecks};
use hotline_node::views;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub(crate) enum DirectoryCommand {
    /// List every contact record with its status.
    List,
    /// Show the records of a state, or one record (STATE/ROLE).
    Show {
        /// STATE or STATE/ROLE, for example DEU or DEU/policy.
        target: String,
    },
    /// Show every accepted version of a record (STATE/ROLE).
    History {
        /// STATE/ROLE, for example DEU/policy.
        target: String,
    },
    /// Write every object this node holds to a file.
    Export {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Apply the objects of an export file to this node's directory.
    Import {
        /// The export file.
        file: PathBuf,
    },
}

pub(super) fn run(cmd: DirectoryCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        DirectoryCommand::List => list(data_dir, out),
        DirectoryCommand::Show { target } => show(data_dir, &target, out),
        DirectoryCommand::History { target } => history(data_dir, &target, out),
        DirectoryCommand::Export { out: path } => export(data_dir, &path, out),
        DirectoryCommand::Import { file } => import(data_dir, &file, out),
    }
}

fn list(data_dir: &Path, out: &Out) -> Result<()> {
    let view = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(client.call(GetDirectory))?,
        Source::Offline(node) => views::directory(&node.directory, now()),
    };
    out.emit(&view, || {
        if view.records.is_empty() {
            return "The directory holds no records yet.".to_string();
        }
        let rows: Vec<Vec<String>> = view
            .records
            .iter()
            .map(|e| {
                let r = &e.record;
                vec![
                    r.state.to_string(),
                    r.role.to_string(),
                    r.seq.to_string(),
                    e.status.to_string(),
                    r.organization.clone(),
                    r.emails.first().cloned().unwrap_or_default(),
                    r.expires.to_rfc3339()[..10].to_string(),
                ]
            })
            .collect();
        let headers = ["STATE", "ROLE", "SEQ", "STATUS", "ORGANIZATION", "E-MAIL", "EXPIRES"];
        super::output::table_fitted(&headers, &rows, 4, super::output::screen_width())
    })
}

fn show(data_dir: &Path, target: &str, out: &Out) -> Result<()> {
    let (state, role) = parse_target(target)?;
    let (view, reach) = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let view = match client.call(GetState { state }).await {
                Err(e) if e.code() == Some("not_found") => None,
                other => Some(other?),
            };
            // How reachable the nodes are, as the running node sees them;
            // a node that cannot say shows the records alone.
            let nodes = client.call(GetLiveness).await.ok();
            let checks = client.call(ListComchecks).await.ok().unwrap_or_default();
            let this_node = client.call(GetStatus).await.map(|s| s.peer_id).unwrap_or_default();
            anyhow::Ok((view, nodes.map(|nodes| Reachability { nodes, checks, this_node })))
        })?,
        Source::Offline(node) => (views::state(&node.directory, state, now()), None),
    };
    let records: Vec<RecordEntry> = view
        .map(|v| v.records)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| role.as_ref().is_none_or(|r| *r == e.record.role))
        .collect();
    if records.is_empty() {
        bail!("the directory holds no record for {target}");
    }
    let at = now();
    let reachability: Vec<serde_json::Value> = match &reach {
        Some(reach) => records.iter().map(|e| reach.of(e, at)).collect(),
        None => Vec::new(),
    };
    let value = if reach.is_some() {
        json!({ "records": records, "reachability": reachability })
    } else {
        json!({ "records": records })
    };
    out.emit(&value, || records.iter().map(|e| describe_record(e, reach.as_ref(), at)).collect::<Vec<_>>().join("\n"))
}

/// What the running node knows of how reachable a point of contact is:
/// its nodes' connections, and the checks this node ran.
struct Reachability {
    nodes: Vec<LivenessView>,
    checks: Vec<ComcheckView>,
    /// The running node's peer id.
    this_node: String,
}

impl Reachability {
    /// Each node of the record, as this node sees it now.
    fn node_line(&self, node: &hotline_core::NodeId) -> String {
        let peer = node.to_peer_id().to_string();
        let short = super::note::short_peer(&peer);
        if peer == self.this_node {
            return format!("{short}: this node");
        }
        match self.nodes.iter().find(|l| l.node == peer) {
            Some(l) if l.connected => format!("{short}: connected"),
            Some(l) => match (l.unreachable_since, l.last_seen) {
                (Some(since), _) => format!("{short}: unreachable since {}", super::note::utc(since)),
                (None, Some(seen)) => format!("{short}: not connected, last seen {}", super::note::utc(seen)),
                (None, None) => format!("{short}: not connected, never seen since this node started"),
            },
            None => format!("{short}: not a member node now"),
        }
    }

    /// When a check this node ran last passed for `address`.
    fn last_passed(&self, address: &hotline_core::Address) -> Option<Timestamp> {
        self.checks
            .iter()
            .flat_map(|c| c.targets.iter())
            .filter(|t| t.target == *address && t.outcome == hotline_core::comcheck::Outcome::Pass)
            .filter_map(|t| t.replied_at)
            .max()
    }

    /// The JSON of one record's reachability.
    fn of(&self, entry: &RecordEntry, now: Timestamp) -> serde_json::Value {
        let r = &entry.record;
        let address = hotline_core::Address { state: r.state, role: r.role.clone() };
        let nodes: Vec<&LivenessView> = r
            .nodes
            .iter()
            .filter_map(|n| {
                let peer = n.to_peer_id().to_string();
                self.nodes.iter().find(|l| l.node == peer)
            })
            .collect();
        json!({
            "state": r.state,
            "role": r.role,
            "local_time": local_time(&r.timezone, now),
            "nodes": nodes,
            "last_passed_check": self.last_passed(&address),
        })
    }
}

/// The time now where the point of contact is (`16:05 Europe/Berlin`), or
/// `None` for a zone this CLI does not know.
fn local_time(zone: &str, now: Timestamp) -> Option<String> {
    let tz: chrono_tz::Tz = zone.trim().parse().ok()?;
    let at = chrono::DateTime::from_timestamp(i64::try_from(now.0).ok()?, 0)?.with_timezone(&tz);
    Some(format!("{} {tz}", at.format("%H:%M")))
}

/// A record, written out like an entry of the printed directory, with how
/// reachable it is when the running node could say.
fn describe_record(entry: &RecordEntry, reach: Option<&Reachability>, now: Timestamp) -> String {
    let r = &entry.record;
    let status = &entry.status;
    let mut s = format!("{} ({}) — {} point of contact\n", r.state, r.state.country_name(), r.role);
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            s += &format!("  {name:<14} {value}\n");
        }
    };
    field("Status", format!("{status} (version {}, expires {})", r.seq, r.expires));
    field("Issued", super::note::utc(r.issued_at));
    if let Some(reach) = reach {
        let lines: Vec<String> = r.nodes.iter().map(|n| reach.node_line(n)).collect();
        field("Reachable", lines.join("; "));
        let address = hotline_core::Address { state: r.state, role: r.role.clone() };
        field(
            "Last check",
            reach.last_passed(&address).map_or_else(
                || "no check run from here has passed".to_string(),
                |at| format!("passed, answered {}", super::note::utc(at)),
            ),
        );
    }
    field("Local time", local_time(&r.timezone, now).unwrap_or_default());
    field("Organization", r.organization.clone());
    field("Position", r.position.clone());
    field("Name", r.person_name.clone().unwrap_or_default());
    field("E-mail", r.emails.join(", "));
    field("Phone", r.phones.join(", "));
    field("24/7 phone", r.phone_24x7.clone().unwrap_or_default());
    field("Availability", format!("{} ({})", r.availability, r.timezone));
    field("Languages", r.languages.join(", "));
    field(
        "Channels",
        r.other_channels.iter().map(|c| format!("{}: {}", c.kind, c.address)).collect::<Vec<_>>().join(", "),
    );
    field("Postal", r.postal_address.clone().unwrap_or_default().replace('\n', ", "));
    field("OpenPGP", r.openpgp_fingerprint.clone().unwrap_or_default());
    field("CERT", r.linked_cert.clone().unwrap_or_default());
    field("Memberships", r.memberships.join(", "));
    field(
        "Alternates",
        r.alternates
            .iter()
            .map(|a| {
                [Some(a.name.clone()), a.email.clone(), a.phone.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("; "),
    );
    field("Nomination", r.nomination_ref.clone().unwrap_or_default());
    field("Default TLP", r.default_tlp.map(|t| t.to_string()).unwrap_or_default());
    field("Nodes", r.nodes.iter().map(|n| n.to_peer_id()).collect::<Vec<_>>().join(", "));
    s
}

fn history(data_dir: &Path, target: &str, out: &Out) -> Result<()> {
    let (state, role) = parse_target(target)?;
    let Some(role) = role else { bail!("history needs STATE/ROLE, for example {state}/policy") };
    let items = match source(data_dir)? {
        Source::Daemon(client) => match runtime()?.block_on(client.call(GetHistory { state, role: role.clone() })) {
            Err(e) if e.code() == Some("not_found") => Vec::new(),
            other => other?,
        },
        Source::Offline(node) => views::history(node.store.history(&ObjectKey::Record(state, role))?),
    };
    if items.is_empty() {
        bail!("the directory has never held a record for {target}");
    }
    out.emit(&json!({ "history": items }), || {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.record.issued_at.to_rfc3339(),
                    e.accepted_at.to_rfc3339(),
                    if e.winner { "accepted".into() } else { "equivocation evidence".into() },
                    e.hash.to_string()[..16].to_string(),
                ]
            })
            .collect();
        table(&["SEQ", "ISSUED", "ACCEPTED HERE", "KIND", "HASH"], &rows)
    })
}

fn export(data_dir: &Path, path: &Path, out: &Out) -> Result<()> {
    let node = open_node(data_dir)?;
    let mut objects: Vec<DirectoryObject> = node.directory.entries().map(|(_, e)| e.object.clone()).collect();
    // Admissions first, so an importer never has to hold records back.
    objects.sort_by_key(|o| !matches!(o, DirectoryObject::Admission(_)));
    let count = objects.len();
    files::write_new(path, &ExportFile::new(node.store.network_id(), objects).to_bytes())?;
    out.emit(&json!({ "objects": count, "file": path }), || format!("Exported {count} objects to {}", path.display()))
}

fn import(data_dir: &Path, path: &Path, out: &Out) -> Result<()> {
    let file = ExportFile::read(path)?;
    let node = open_node(data_dir)?;
    if file.network != node.store.network_id() {
        bail!(
            "{} is an export of network {}, but this node is on network {}",
            path.display(),
            file.network,
            node.store.network_id()
        );
    }
    let report = commit_objects(&node, file.objects).context("import failed; nothing was stored")?;
    out.emit(&report, || {
        let mut s = format!("Accepted {}, already held {}", report.accepted, report.duplicate);
        for p in report.rejected.iter().chain(&report.pending) {
            s += &format!("\n  not accepted: {} ({}): {}", p.object, p.code, p.reason);
        }
        s
    })
}
