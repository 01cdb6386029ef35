//! `hotline state rotate-key`: a new state key, carried by a new admission
//! that the stewards sign (K of N, as for the first one).
//!
//! The command makes the next key beside the state key
//! (`keys/state.key.next`) and drafts the admission naming it; the
//! stewards sign it (`hotline admission sign`) and the operator imports it
//! (`hotline admission import`). When that admission is in force, the
//! node takes the next key up, retires the old one (it signs nothing
//! more), and signs its state's records again under the new admission
//! (`docs/operations.md`, "Runbook: rotating the state key").

use super::daemon::{Source, runtime, source};
use super::files::{self, CeremonyFile};
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hotline_core::time::DAY;
use hotline_core::{Admission, DirectoryObject, NetworkId, SignedAdmission, StateCode};
use hotline_node::endpoints::{GetState, GetStatus};
use hotline_store::NodeKeys;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub(crate) enum StateCommand {
    /// Make a new state key and draft the admission that carries it, for
    /// the stewards to sign. Run where the state key is.
    RotateKey(RotateKeyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RotateKeyArgs {
    /// The network's charter file (as given to `hotline init`).
    #[arg(long)]
    charter: PathBuf,
    /// Let the new admission lapse after this many days (default: no expiry).
    #[arg(long)]
    valid_days: Option<u64>,
    /// Where to write the admission file for the stewards (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Give up a rotation under way and start a new one: its key is set
    /// aside (`keys/state.key.abandoned-SECONDS`), never deleted, so that
    /// if the stewards sign its admission after all the node still takes
    /// it up. Tell the stewards to destroy the old draft.
    #[arg(long)]
    start_over: bool,
}

pub(super) fn run(cmd: StateCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        StateCommand::RotateKey(args) => rotate_key(args, data_dir, out),
    }
}

/// The admission of this node's state now in force: its state, network,
/// `seq` and state key.
fn current_admission(data_dir: &Path) -> Result<(StateCode, NetworkId, u64, hotline_core::PublicKey)> {
    match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let status = client.call(GetStatus).await?;
            let state: StateCode = status.state.parse()?;
            let view = client.call(GetState { state }).await?;
            let Some(adm) = view.admission.filter(|a| a.in_force) else {
                bail!("{state} has no admission in force: nothing to rotate");
            };
            let key = adm.state_key.parse().map_err(|e| anyhow::anyhow!("the admission's state key: {e}"))?;
            Ok((state, status.network_id.parse()?, adm.seq, key))
        }),
        Source::Offline(node) => {
            let state = node.store.state();
            let Some(adm) = node.directory.admission(state) else {
                bail!("{state} has no admission here: nothing to rotate");
            };
            Ok((state, node.store.network_id(), adm.admission.seq, adm.admission.state_key))
        }
    }
}

fn rotate_key(args: RotateKeyArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let charter = files::read_charter(&args.charter)?;
    charter.verify().context("the charter is not fully signed")?;
    let (state, network, seq, old_key) = current_admission(data_dir)?;
    if charter.network_id() != network {
        bail!(
            "{} is the charter of network {}, but this node is on {network}",
            args.charter.display(),
            charter.network_id()
        );
    }
    let keys = NodeKeys::load(data_dir)?;
    match keys.state.as_ref() {
        None => bail!("this node holds no state key: run the rotation where the state key is"),
        Some(k) if k.public() != old_key => {
            bail!("this node's state key is not the one {state}'s admission names: a rotation is half done here")
        }
        Some(_) => {}
    }
    if args.out.symlink_metadata().is_ok() {
        bail!("{} exists already", args.out.display());
    }
    if args.start_over && NodeKeys::next_state_key_path(data_dir).symlink_metadata().is_ok() {
        let aside = NodeKeys::abandon_next_state_key(data_dir, now())?;
        eprintln!("The rotation under way is given up; its key is set aside as {}.", aside.display());
    }
    let next = NodeKeys::prepare_next_state_key(data_dir).map_err(|e| match e {
        hotline_store::StoreError::KeyFileExists { path } => anyhow::anyhow!(
            "{} exists: a rotation is under way (its admission is with the stewards); give it up with --start-over",
            path.display()
        ),
        other => other.into(),
    })?;
    let issued_at = now();
    let admission = Admission {
        state,
        state_key: next.public(),
        seq: seq + 1,
        issued_at,
        expires: args.valid_days.map(|d| issued_at.plus(d * DAY)),
    };
    let file = CeremonyFile::new(charter, DirectoryObject::Admission(SignedAdmission::unsigned(admission)));
    if let Err(e) = files::write_new(&args.out, &file.to_bytes()) {
        // Nobody knows the new key yet: take it back, so the next attempt is clean.
        let _ = std::fs::remove_file(NodeKeys::next_state_key_path(data_dir));
        return Err(e);
    }
    let view = json!({
        "state": state,
        "seq": seq + 1,
        "new_state_key": next.public(),
        "old_state_key": old_key,
        "file": args.out,
        "next_key_file": NodeKeys::next_state_key_path(data_dir),
    });
    out.emit(&view, || {
        format!(
            "New state key for {state}: {}\n\
             (Read it to the stewards out of band; they check it against the admission.)\n\
             Admission {} written to {}: each steward signs it (hotline admission sign {} --key STEWARD.key),\n\
             then import it here: hotline admission import {}.\n\
             Until then the current key signs as before; once the admission is in force, this node takes the new key\n\
             up, retires the old one and signs the records again.",
            next.public(),
            seq + 1,
            args.out.display(),
            args.out.display(),
            args.out.display()
        )
    })
}
