//! `hotline node`: the nodes of this state over their life. Adding one (a
//! standby on a new machine, without the state key) and revoking one (a
//! stolen laptop, a compromised server) are here; a new node key, in place
//! or on a new server, is in `node_key`.

use super::daemon::{Source, runtime, source};
use super::node::commit_objects;
use super::{Out, now};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use hotline_core::{DirectoryObject, NodeId};
use hotline_node::api_types::{RevokeNodeRequest, RevokedNode};
use hotline_node::endpoints::RevokeNode;

#[derive(Subcommand, Debug)]
pub(crate) enum NodeCommand {
    /// Create a node for a state that already runs one, on a new machine:
    /// a node key only (the state key stays where it is). Then list its
    /// peer id with `hotline record set --node` where the state key is.
    Add(super::node::InitArgs),
    /// Revoke a node of this state, signed with the state key: every
    /// member disconnects it at once and refuses it from then on.
    Revoke(RevokeArgs),
    /// Give this node a new node key (the daemon stopped): the records
    /// list the new key, the old one is revoked after a grace period, and
    /// queued deliveries are sealed again with the new key.
    RotateKey(super::node_key::RotateKeyArgs),
    /// Move a stopped node to a new server in one step: its store and keys
    /// copied from --from into --data-dir, a new node key, the records
    /// listing it, the old node revoked and its directory's key retired.
    Replace(super::node_key::ReplaceArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The node's peer id (12D3KooW…), as `hotline peers` or `hotline
    /// directory show` print it.
    #[arg(value_name = "PEER_ID")]
    node: String,
    /// Why (kept in the signed revocation, for the audit trail).
    #[arg(long)]
    reason: String,
}

pub(super) fn run(cmd: NodeCommand, data_dir: &std::path::Path, out: &Out) -> Result<()> {
    match cmd {
        NodeCommand::Add(args) => super::node::add(args, data_dir, out),
        NodeCommand::Revoke(args) => revoke(args, data_dir, out),
        NodeCommand::RotateKey(args) => super::node_key::rotate_key(args, data_dir, out),
        NodeCommand::Replace(args) => super::node_key::replace(args, data_dir, out),
    }
}

fn revoke(args: RevokeArgs, data_dir: &std::path::Path, out: &Out) -> Result<()> {
    let node = NodeId::from_peer_id(args.node.trim())
        .map_err(|e| anyhow::anyhow!("'{}' is not a node's peer id: {e}", args.node.trim()))?;
    let reason = args.reason.trim().to_string();
    if reason.is_empty() {
        bail!("--reason must say why the node is revoked (it is kept in the signed revocation)");
    }
    let mut offline = false;
    let view = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let request = RevokeNodeRequest { reason };
            anyhow::Ok(client.call(RevokeNode { node, request }).await?)
        })?,
        Source::Offline(open) => {
            offline = true;
            let keys = open.keys()?;
            let state = open.store.state();
            if keys.node.node_id() == node {
                bail!("{} is this node: revoke it from another node of {state}", args.node.trim());
            }
            let at = now();
            // As the daemon does: a second revocation of the same node
            // would only compete with the first (same slot, another hash).
            if open.directory.revoked_nodes(at).contains(&(state, node)) {
                bail!("node {} is revoked already", args.node.trim());
            }
            let signed =
                open.directory.sign_node_revocation(keys.state_key(&open.data_dir)?, node, reason.clone(), at)?;
            let hash = DirectoryObject::Revocation(signed.clone()).hash(&open.directory.network_id());
            commit_objects(&open, vec![DirectoryObject::Revocation(signed)])?.require_all_accepted()?;
            let directory = open.store.load_directory()?;
            let still_listed_by = directory.roles_listing(state, &node, at);
            RevokedNode { node: node.to_peer_id(), state, issued_at: at, reason, still_listed_by, hash }
        }
    };
    out.emit(&view, || {
        let mut text = format!(
            "Revoked node {} of {} ({}).\nEvery member that takes the revocation disconnects it and refuses it from \
             then on.\nRevocation {} (compare it out of band with the other states' operators).",
            view.node,
            view.state,
            super::note::clean_line(&view.reason),
            view.hash
        );
        if offline {
            text.push_str("\nThe daemon is not running: it publishes the revocation when it starts.");
        }
        for role in &view.still_listed_by {
            text.push_str(&format!(
                "\n{}/{role} still lists it: publish it anew without it (hotline record set --role {role} --node …).",
                view.state
            ));
        }
        text
    })
}
