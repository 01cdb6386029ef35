//! `hotline node rotate-key` and `hotline node replace`: a node takes a new
//! node key, in place or on a new server.
//!
//! Both run on a stopped node (the node key is its identity on the
//! network) and do the same change (`change_node_key`): a next key waits
//! beside the node key (`keys/node.key.next`; a daemon refuses to start
//! while it is there, and running the command again finishes the change
//! with it); where the state key is, the state's records that list the old
//! node are signed again listing the new one, and the old node is revoked
//! and left out at once, or, after a grace period during which both are
//! listed, by the daemon (`hotline_node`'s directory retirement); the store lets
//! go of what belonged to the old key (`hotline_store::Store::drop_node_key_material`);
//! then the new key takes the node key's place and the old one is kept as
//! `node.key.retired-SECONDS`. `docs/operations.md` has the runbooks.

use super::daemon::refuse_running;
use super::node::{commit_objects, open_node};
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::Args;
use hotline_core::record::RecordDraft;
use hotline_core::{DirectoryObject, NodeId, Role, StateCode, Timestamp};
use hotline_store::{KeyMaterialDropped, NodeConfig, NodeKeys, Retirement};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct RotateKeyArgs {
    /// How long the old key stays listed beside the new one before the
    /// daemon revokes it (`30s`, `10m`, `1h`). Default `0s`: revoked at
    /// once. A grace period only helps while a copy of the node still runs
    /// under the old key and takes the deliveries sealed to it; it also
    /// lets whoever holds the old key act as the node until then, so never
    /// after a compromise or a departure.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    grace: String,
}

#[derive(Args, Debug)]
pub(crate) struct ReplaceArgs {
    /// The old node's data directory (stopped): its disk, or a backup
    /// restored with `hotline restore`. The new node is made in --data-dir.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Listen addresses of the new node (repeatable). Default: the old
    /// node's.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// Nodes to dial at start-up (repeatable). Default: the old node's.
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// How long the old node stays listed beside the new one before the
    /// new node's daemon revokes it (default `0s`: at once).
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    grace: String,
}

/// Longest grace period: a key let go is revoked within a week at most.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

/// What a node key change did.
#[derive(Serialize)]
struct KeyChanged {
    state: StateCode,
    data_dir: PathBuf,
    old_peer_id: String,
    new_peer_id: String,
    /// Whether the node holds the state key (then it signed the records
    /// and the revocation itself).
    holds_state_key: bool,
    /// Records signed again listing the new node instead of the old.
    records_signed: Vec<Role>,
    /// Records that still list the old node: to be signed again where the
    /// state key is (this node holds none).
    records_to_update: Vec<Role>,
    /// The old node was revoked now.
    revoked_now: bool,
    /// When the daemon revokes the old node (a grace period).
    revoke_at: Option<Timestamp>,
    deliveries_unsealed: usize,
    receipt_numbers_forgotten: usize,
    /// The change was started before and cut short: finished now.
    resumed: bool,
    /// `node replace`: the old data directory, whose keys are set aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_keys_set_aside_as: Option<PathBuf>,
}

pub(super) fn rotate_key(args: RotateKeyArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let grace = grace_secs(&args.grace)?;
    refuse_running(data_dir, "the node key is its identity on the network")?;
    let changed = change_node_key(data_dir, grace, "its node key was rotated", now())?;
    emit(&changed, out)
}

pub(super) fn replace(args: ReplaceArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let grace = grace_secs(&args.grace)?;
    if data_dir.symlink_metadata().is_ok() {
        bail!(
            "{} exists: node replace makes the new node's data directory, and never over another",
            data_dir.display()
        );
    }
    let from = &args.from;
    if from.join(hotline_store::DB_FILE).symlink_metadata().is_err() {
        bail!("{} holds no node (no {}): give the old node's data directory", from.display(), hotline_store::DB_FILE);
    }
    refuse_running(from, "stop the old node first: two nodes with one key would compete")?;
    let name = data_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    // A staging directory beside the new one, renamed into place once
    // complete: a crash leaves either no new node or a whole one.
    let staging = parent.join(format!(".{name}.replacing"));
    if staging.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    let result = (|| {
        hotline_store::copy_data_dir(from, &staging).map_err(|e| match e {
            hotline_store::StoreError::Locked { .. } => {
                anyhow::anyhow!("{} is in use: stop the old node's daemon first", from.display())
            }
            other => other.into(),
        })?;
        if !args.listen.is_empty() || !args.bootstrap.is_empty() {
            let path = staging.join(hotline_store::config::CONFIG_FILE);
            let mut config = NodeConfig::load(&path)?;
            if !args.listen.is_empty() {
                config.listen = args.listen.iter().map(|a| a.trim().to_string()).collect();
            }
            if !args.bootstrap.is_empty() {
                config.bootstrap = args.bootstrap.iter().map(|a| a.trim().to_string()).collect();
            }
            config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?;
            config.save(&path)?;
        }
        change_node_key(&staging, grace, "its node moved to a new server", now())
    })();
    let mut changed = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::rename(&staging, data_dir)
        .with_context(|| format!("cannot move the new node into {}", data_dir.display()))?;
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", parent.display()))?;
    changed.data_dir = data_dir.to_path_buf();
    changed.from = Some(from.clone());
    match NodeKeys::set_keys_aside(from, now()) {
        Ok(path) => changed.old_keys_set_aside_as = Some(path),
        Err(e) => eprintln!(
            "warning: the old node's keys in {} could not be set aside ({e}): never start a daemon there again, \
             and wipe the old disk",
            from.display()
        ),
    }
    emit(&changed, out)
}

/// `--grace`: a duration (`0s`, `10m`, `1h`), at most a week.
fn grace_secs(text: &str) -> Result<u64> {
    match super::parse::parse_duration(text.trim()) {
        Some(secs) if secs <= MAX_GRACE_SECS => Ok(secs),
        Some(_) => bail!("--grace {text} is more than a week: a key let go must be revoked soon"),
        None => bail!("--grace '{text}' is not a duration (for example 0s, 10m, 1h)"),
    }
}

/// Changes the node key of the stopped node in `dir` (see the module
/// documentation). `why` goes into the revocation's reason.
fn change_node_key(dir: &Path, grace_secs: u64, why: &str, at: Timestamp) -> Result<KeyChanged> {
    let keys = NodeKeys::load(dir)?;
    let old = keys.node.node_id();
    let (next, resumed) = NodeKeys::prepare_next_node_key(dir)?;
    let new = next.node_id();
    let node = open_node(dir)?;
    let state = node.store.state();
    // A node key let go before with a grace period not over yet: this
    // change revokes it at once (one retirement waits at a time).
    let pending: Vec<NodeId> = match node.store.retirement()? {
        Some(r) if r.node != old && !node.directory.revoked_nodes(at).contains(&(state, r.node)) => vec![r.node],
        _ => Vec::new(),
    };
    let lists =
        |role: &Role, who: &NodeId| node.directory.record(state, role).is_some_and(|r| r.record.nodes.contains(who));
    let roles = &node.directory.charter().charter.roles;
    let listing: Vec<Role> = roles.iter().filter(|role| lists(role, &old)).cloned().collect();
    let mut records_signed = Vec::new();
    let mut revoked_now = false;
    let mut retirement = None;
    if let Some(state_key) = keys.state.as_ref() {
        let mut objects = Vec::new();
        let already_revoked = node.directory.revoked_nodes(at).contains(&(state, old));
        let mut revoke = Vec::new();
        if grace_secs == 0 && !already_revoked && !listing.is_empty() {
            revoke.push(old);
            revoked_now = true;
        } else if grace_secs > 0 && !already_revoked && !listing.is_empty() {
            retirement = Some(Retirement { node: old, successor: new, revoke_at: at.plus(grace_secs) });
        }
        revoke.extend(pending.iter().filter(|p| roles.iter().any(|role| lists(role, p))));
        // First: a state revokes only a node one of its records lists.
        for gone in &revoke {
            let reason = format!("{why}: replaced by {}", new.to_peer_id());
            let signed = node
                .directory
                .sign_node_revocation(state_key, *gone, reason, at)
                .map_err(|r| anyhow::anyhow!("cannot sign the revocation of node {}: {r}", gone.to_peer_id()))?;
            objects.push(DirectoryObject::Revocation(signed));
        }
        let signing: Vec<&Role> =
            roles.iter().filter(|role| lists(role, &old) || revoke.iter().any(|g| lists(role, g))).collect();
        for role in signing {
            let Some(current) = node.directory.record(state, role) else { continue };
            let mut draft = RecordDraft::from_record(&current.record);
            // During a grace period the old node stays listed beside the
            // new one; the daemon takes it out when it revokes it.
            let keep_old = retirement.is_some();
            let done = draft.nodes.contains(&new)
                && (keep_old || !draft.nodes.contains(&old))
                && !revoke.iter().any(|g| draft.nodes.contains(g));
            if done {
                continue; // signed already by a run cut short
            }
            draft.nodes.retain(|n| ((keep_old && *n == old) || (*n != old && *n != new)) && !revoke.contains(n));
            draft.nodes.push(new);
            let validity = at.until(current.record.expires);
            if validity == 0 {
                continue;
            }
            let signed = node
                .directory
                .sign_next_record(draft, state_key, at, validity)
                .map_err(|r| anyhow::anyhow!("cannot sign the record of {state}/{role} again: {r}"))?;
            objects.push(DirectoryObject::Record(Box::new(signed)));
            records_signed.push(role.clone());
        }
        if !objects.is_empty() {
            commit_objects(&node, objects)?.require_all_accepted()?;
        }
    }
    let dropped: KeyMaterialDropped = node.store.drop_node_key_material(retirement.as_ref())?;
    drop(node);
    NodeKeys::take_up_next_node_key(dir, at)?;
    let holds_state_key = keys.state.is_some();
    Ok(KeyChanged {
        state,
        data_dir: dir.to_path_buf(),
        old_peer_id: old.to_peer_id(),
        new_peer_id: new.to_peer_id(),
        holds_state_key,
        records_to_update: if holds_state_key { Vec::new() } else { listing },
        records_signed,
        revoked_now,
        revoke_at: retirement.map(|r| r.revoke_at),
        deliveries_unsealed: dropped.deliveries_unsealed,
        receipt_numbers_forgotten: dropped.receipt_numbers,
        resumed,
        from: None,
        old_keys_set_aside_as: None,
    })
}

fn emit(c: &KeyChanged, out: &Out) -> Result<()> {
    out.emit(c, || {
        let mut text = match &c.from {
            Some(from) => format!("Node of {} moved from {} to {}.", c.state, from.display(), c.data_dir.display()),
            None => format!("Node key of {} in {} rotated.", c.state, c.data_dir.display()),
        };
        if c.resumed {
            text.push_str(" (A change cut short before was finished with the key it had made.)");
        }
        text.push_str(&format!(
            "\nOld peer id: {}\nNew peer id: {}\n(Compare the new peer id out of band with the other states' operators.)",
            c.old_peer_id, c.new_peer_id
        ));
        if !c.records_signed.is_empty() {
            let roles: Vec<String> = c.records_signed.iter().map(ToString::to_string).collect();
            text.push_str(&format!("\nRecords signed again listing the new node: {}.", roles.join(", ")));
        }
        if c.revoked_now {
            text.push_str("\nThe old node is revoked: every member disconnects it and refuses it from now on.");
        }
        if let Some(at) = c.revoke_at {
            text.push_str(&format!(
                "\nThe daemon revokes the old node at {} (a grace period) and takes it out of the records; until then \
                 both are listed.",
                at.to_rfc3339()
            ));
        }
        if !c.records_to_update.is_empty() {
            let roles: Vec<String> = c.records_to_update.iter().map(ToString::to_string).collect();
            text.push_str(&format!(
                "\nThis node holds no state key. Where the state key is, list the new node in place of the old in \
                 {} (hotline record set --role ROLE --node {} ...), then revoke the old one (hotline node revoke {} \
                 --reason ...). Until then the other states do not know the new node.",
                roles.join(", "),
                c.new_peer_id,
                c.old_peer_id
            ));
        }
        if c.deliveries_unsealed > 0 {
            text.push_str(&format!(
                "\n{} queued deliveries are sealed again with the new key when the daemon starts.",
                c.deliveries_unsealed
            ));
        }
        if let Some(path) = &c.old_keys_set_aside_as {
            text.push_str(&format!(
                "\nThe old data directory's keys are set aside ({}): it can no longer start. They are still on that \
                 disk (the state key too, if it was there): wipe it.",
                path.display()
            ));
        }
        text.push_str("\nStart the daemon: hotline daemon");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_period_is_bounded() {
        assert_eq!(grace_secs("0s").unwrap(), 0);
        assert_eq!(grace_secs(" 10m").unwrap(), 600);
        assert!(grace_secs("8d").unwrap_err().to_string().contains("more than a week"));
        assert!(grace_secs("10").unwrap_err().to_string().contains("is not a duration"));
    }
}
