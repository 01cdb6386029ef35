//! The offline key ceremony: steward and state keys, the charter, and
//! admissions. None of these commands needs a running daemon.

use super::daemon::{Source, runtime, source};
use super::files::{self, CeremonyFile};
use super::node::commit_objects;
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hotline_core::time::DAY;
use hotline_core::{
    Admission, Charter, DirectoryObject, NetworkId, PublicKey, Revocation, RevocationAuthority, RevocationTarget,
    SignedAdmission, SignedCharter, SignedRevocation, StateCode,
};
use hotline_node::endpoints::{GetStatus, SubmitObject};
use hotline_store::keyfile;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Where to write the secret key (created with mode 0600; must not exist).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Print the public key (hex) of a secret key file, and nothing else
    /// (with --json, also the peer id it has as a node key).
    Public {
        /// The secret key file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum CharterCommand {
    /// Draw up a new, unsigned charter.
    New {
        /// The network's name.
        #[arg(long)]
        name: String,
        /// A steward's public key (hex); repeat for each steward.
        #[arg(long = "steward", required = true)]
        stewards: Vec<PublicKey>,
        /// How many stewards must sign the charter, an admission or an admission revocation.
        #[arg(long)]
        threshold: u8,
        /// A bootstrap node's multiaddress; repeat for several.
        #[arg(long)]
        bootstrap: Vec<String>,
        /// An extra point-of-contact role besides policy and technical; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Where to write the charter (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a steward's signature to a charter file.
    Sign {
        /// The charter file.
        file: PathBuf,
        /// The steward's secret key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Show a charter: its network id, stewards, threshold and valid signatures.
    Show {
        /// The charter file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AdmissionCommand {
    /// Draw up an unsigned admission of a state.
    New {
        /// The charter file.
        #[arg(long)]
        charter: PathBuf,
        /// The state (ISO 3166-1 alpha-3).
        #[arg(long)]
        state: StateCode,
        /// The state's public key (hex), as `hotline init` printed it.
        #[arg(long)]
        state_key: PublicKey,
        /// Version of the admission; a re-keyed state gets a higher one.
        #[arg(long, default_value_t = 1)]
        seq: u64,
        /// Let the admission lapse after this many days (default: no expiry).
        #[arg(long)]
        valid_days: Option<u64>,
        /// Where to write the admission file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a steward's signature to an admission file.
    Sign {
        /// The admission file.
        file: PathBuf,
        /// The steward's secret key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Import a signed admission, or a signed admission revocation, into
    /// this node's directory (from where it spreads to every member).
    Import {
        /// The admission or revocation file.
        file: PathBuf,
    },
    /// Draw up the stewards' suspension of a state: an unsigned revocation
    /// of its admissions up to `--up-to-seq`. Stewards sign it as an
    /// admission (`admission sign`); once imported, the state's records
    /// are revoked and its nodes are members no more, until `admission
    /// renew`.
    Revoke {
        /// The charter file.
        #[arg(long)]
        charter: PathBuf,
        /// The state suspended.
        #[arg(long)]
        state: StateCode,
        /// The highest admission `seq` revoked: the one in force (see
        /// `hotline directory show STATE`, or the admission file).
        #[arg(long)]
        up_to_seq: u64,
        /// Why, for the record every member keeps.
        #[arg(long)]
        reason: String,
        /// Where to write the revocation file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw up the next admission of a state from its admission file: one
    /// `seq` higher (above any revoked), the same state key unless
    /// `--state-key` names a new one. Stewards sign it as any admission;
    /// once imported, the state's node re-signs its records under it.
    Renew {
        /// The state's current admission file.
        file: PathBuf,
        /// A new state key (hex), for a state that rotates its key.
        #[arg(long)]
        state_key: Option<PublicKey>,
        /// The new admission's `seq` (default: one more than the file's).
        #[arg(long)]
        seq: Option<u64>,
        /// Let the admission lapse after this many days (default: no expiry).
        #[arg(long)]
        valid_days: Option<u64>,
        /// Where to write the admission file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

pub(super) fn keygen(args: KeygenArgs, out: &Out) -> Result<()> {
    let key = keyfile::generate()?;
    keyfile::write_new(&args.out, &key)?;
    let public = key.public();
    out.emit(&json!({ "public_key": public, "file": args.out }), || {
        format!("Public key: {public}\nSecret key written to {} (mode 0600). Keep it offline.", args.out.display())
    })
}

pub(super) fn key(cmd: KeyCommand, out: &Out) -> Result<()> {
    match cmd {
        KeyCommand::Public { file } => {
            let key = keyfile::read(&file)?;
            let public = key.public();
            // A node key names its node by this peer id (`record set --node`).
            let peer_id = key.node_id().to_peer_id();
            out.emit(&json!({ "public_key": public, "peer_id": peer_id }), || public.to_string())
        }
    }
}

pub(super) fn charter(cmd: CharterCommand, out: &Out) -> Result<()> {
    match cmd {
        CharterCommand::New { name, stewards, threshold, bootstrap, roles, out: path } => {
            let mut charter = Charter::new(name, now(), stewards, threshold, bootstrap);
            for role in roles {
                charter.roles.push(role.parse()?);
            }
            charter.validate().context("the charter is not valid")?;
            let signed = SignedCharter::unsigned(charter);
            files::write_new(&path, &signed.to_bytes())?;
            let net = signed.network_id();
            out.emit(&json!({ "network_id": net, "file": path }), || {
                format!(
                    "Charter written to {}\nNetwork id: {net}\nIt needs {} steward signatures: hotline charter sign {} --key STEWARD.key",
                    path.display(),
                    signed.charter.threshold,
                    path.display()
                )
            })
        }
        CharterCommand::Sign { file, key } => {
            let mut charter = files::read_charter(&file)?;
            let key = keyfile::read(&key)?;
            charter.sign(&key).context("cannot sign the charter")?;
            files::replace(&file, &charter.to_bytes())?;
            let valid = charter.valid_signers().len();
            let threshold = charter.charter.threshold;
            out.emit(
                &json!({ "signatures": valid, "threshold": threshold, "complete": valid >= threshold as usize }),
                || format!("Signed. {valid} of the {threshold} required steward signatures are present."),
            )
        }
        CharterCommand::Show { file } => show_charter(&files::read_charter(&file)?, out),
    }
}

fn show_charter(charter: &SignedCharter, out: &Out) -> Result<()> {
    let c = &charter.charter;
    let signers = charter.valid_signers();
    let verdict = charter.verify();
    let stewards: Vec<_> = c
        .stewards
        .iter()
        .enumerate()
        .map(|(i, k)| json!({ "index": i, "public_key": k, "signed": signers.contains(&(i as u8)) }))
        .collect();
    let value = json!({
        "network_id": charter.network_id(),
        "name": c.name,
        "created_at": c.created_at.to_rfc3339(),
        "protocol_version": c.protocol_version,
        "stewards": stewards,
        "threshold": c.threshold,
        "valid_signatures": signers.len(),
        "valid": verdict.is_ok(),
        "problem": verdict.as_ref().err().map(|e| e.to_string()),
        "roles": c.roles,
        "bootstrap": c.bootstrap,
        "policy": c.policy,
    });
    out.emit(&value, || {
        let mut s =
            format!("Charter:    {}\nNetwork id: {}\nCreated:    {}\n", c.name, charter.network_id(), c.created_at);
        s += &format!("Threshold:  {} of {} stewards\nStewards:\n", c.threshold, c.stewards.len());
        for (i, k) in c.stewards.iter().enumerate() {
            let mark = if signers.contains(&(i as u8)) { "signed" } else { "-" };
            s += &format!("  #{i}  {k}  {mark}\n");
        }
        s += &format!("Roles:      {}\n", c.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "));
        if !c.bootstrap.is_empty() {
            s += &format!("Bootstrap:  {}\n", c.bootstrap.join(", "));
        }
        s += &format!("Records:    valid at most {} days\n", c.policy.max_record_validity_secs / DAY);
        match &verdict {
            Ok(_) => s += &format!("Status:     valid ({} valid signatures)", signers.len()),
            Err(e) => s += &format!("Status:     NOT VALID: {e}"),
        }
        s
    })
}

pub(super) fn admission(cmd: AdmissionCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        AdmissionCommand::New { charter, state, state_key, seq, valid_days, out: path } => {
            let charter = files::read_charter(&charter)?;
            charter.verify().context("the charter is not fully signed yet")?;
            if !state_key.is_valid() {
                bail!("--state-key {state_key} is not a valid Ed25519 public key");
            }
            let issued_at = now();
            let admission =
                Admission { state, state_key, seq, issued_at, expires: valid_days.map(|d| issued_at.plus(d * DAY)) };
            let file = CeremonyFile::new(charter, DirectoryObject::Admission(SignedAdmission::unsigned(admission)));
            files::write_new(&path, &file.to_bytes())?;
            out.emit(&json!({ "file": path, "state": state, "seq": seq }), || {
                format!("Admission of {state} ({}) written to {}", state.country_name(), path.display())
            })
        }
        AdmissionCommand::Sign { file: path, key } => {
            let mut file = CeremonyFile::read(&path)?;
            let key = keyfile::read(&key)?;
            let charter = &file.charter.charter;
            let (what, state, count) = match &mut file.object {
                DirectoryObject::Admission(adm) => {
                    adm.sign(charter, &key).context("cannot sign the admission")?;
                    ("admission", adm.admission.state, adm.signatures.len())
                }
                DirectoryObject::Revocation(rev) => {
                    let RevocationTarget::Admission { state, .. } = rev.revocation.target else {
                        bail!("{} holds a revocation that stewards do not sign", path.display());
                    };
                    rev.sign_as_steward(charter, &key).context("cannot sign the admission revocation")?;
                    let count = match &rev.authority {
                        RevocationAuthority::Stewards(sigs) => sigs.len(),
                        RevocationAuthority::State(_) => 0,
                    };
                    ("admission revocation", state, count)
                }
                _ => bail!("{} does not hold an admission or an admission revocation", path.display()),
            };
            let threshold = charter.threshold;
            files::replace(&path, &file.to_bytes())?;
            out.emit(&json!({ "state": state, "object": what, "signatures": count, "threshold": threshold }), || {
                format!("Signed the {what} of {state}: {count} of the {threshold} required steward signatures.")
            })
        }
        AdmissionCommand::Revoke { charter, state, up_to_seq, reason, out: path } => {
            let charter = files::read_charter(&charter)?;
            charter.verify().context("the charter is not fully signed yet")?;
            hotline_core::validate::text("--reason", &reason, hotline_core::limits::MAX_LONG_TEXT)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if up_to_seq == 0 {
                bail!("--up-to-seq must be at least 1 (admissions are numbered from 1)");
            }
            let revocation =
                Revocation { target: RevocationTarget::Admission { state, up_to_seq }, issued_at: now(), reason };
            let object = DirectoryObject::Revocation(SignedRevocation::unsigned_by_stewards(revocation));
            let file = CeremonyFile::new(charter, object);
            files::write_new(&path, &file.to_bytes())?;
            out.emit(&json!({ "file": path, "state": state, "up_to_seq": up_to_seq }), || {
                format!(
                    "Suspension of {state} ({}), admissions up to seq {up_to_seq}, written to {}.\n\
                     Each steward signs it: hotline admission sign {} --key STEWARD.key",
                    state.country_name(),
                    path.display(),
                    path.display()
                )
            })
        }
        AdmissionCommand::Renew { file: current, state_key, seq, valid_days, out: path } => {
            let file = CeremonyFile::read(&current)?;
            let DirectoryObject::Admission(adm) = &file.object else {
                bail!("{} does not hold an admission", current.display());
            };
            let old = &adm.admission;
            let seq = seq.unwrap_or(old.seq + 1);
            if seq <= old.seq {
                bail!("--seq {seq} is not above the current admission's {}", old.seq);
            }
            let state_key = state_key.unwrap_or(old.state_key);
            if !state_key.is_valid() {
                bail!("--state-key {state_key} is not a valid Ed25519 public key");
            }
            let issued_at = now();
            let admission = Admission {
                state: old.state,
                state_key,
                seq,
                issued_at,
                expires: valid_days.map(|d| issued_at.plus(d * DAY)),
            };
            let rekeyed = state_key != old.state_key;
            let state = old.state;
            let next =
                CeremonyFile::new(file.charter, DirectoryObject::Admission(SignedAdmission::unsigned(admission)));
            files::write_new(&path, &next.to_bytes())?;
            out.emit(&json!({ "file": path, "state": state, "seq": seq, "new_state_key": rekeyed }), || {
                format!(
                    "Admission {seq} of {state} ({}){} written to {}.\n\
                     Each steward signs it: hotline admission sign {} --key STEWARD.key",
                    state.country_name(),
                    if rekeyed { " under a new state key" } else { "" },
                    path.display(),
                    path.display()
                )
            })
        }
        AdmissionCommand::Import { file: path } => {
            let file = CeremonyFile::read(&path)?;
            let description = file.object.describe();
            let check_network = |network: NetworkId| {
                if file.charter.network_id() != network {
                    bail!(
                        "{} belongs to network {} ({}), but this node is on network {network}",
                        path.display(),
                        file.charter.network_id(),
                        file.charter.charter.name,
                    );
                }
                Ok(())
            };
            match source(data_dir)? {
                Source::Daemon(client) => {
                    let rt = runtime()?;
                    let status = rt.block_on(client.call(GetStatus))?;
                    check_network(status.network_id.parse()?)?;
                    let answer = rt.block_on(client.call(SubmitObject(file.object.clone())))?;
                    out.emit(&answer, || format!("Imported {description} ({:?}).", answer.outcome))
                }
                Source::Offline(node) => {
                    check_network(node.store.network_id())?;
                    let report = commit_objects(&node, vec![file.object.clone()])?;
                    report.require_all_accepted()?;
                    out.emit(&report, || format!("Imported {description}."))
                }
            }
        }
    }
}
