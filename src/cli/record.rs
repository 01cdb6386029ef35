//! `hotline record set`: sign and publish the next version of one of this
//! state's contact records; `hotline record withdraw`: withdraw one.

use super::daemon::{Source, runtime, source};
use super::node::commit_objects;
use super::parse::*;
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hotline_core::time::DAY;
use hotline_core::{Availability, DirectoryObject, MessageType, NodeId, RecordDraft, Role, StateCode, Tlp};
use hotline_node::api_types::{PublishRequest, WithdrawRequest};
use hotline_node::endpoints::{GetRecord, GetStatus, PublishRecord, WithdrawRecord};
use hotline_node::views;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub(crate) enum RecordCommand {
    /// Sign the next version of this state's record for a role. Fields not
    /// given keep their value from the current version.
    Set(Box<RecordSetArgs>),
    /// Withdraw this state's record for a role: a revocation signed with
    /// the state key. Other states then refuse to send to that role and
    /// name this state's other points of contact.
    Withdraw(RecordWithdrawArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RecordWithdrawArgs {
    /// The role whose record is withdrawn.
    #[arg(long)]
    role: Role,
    /// Why (kept in the signed revocation, for the audit trail).
    #[arg(long)]
    reason: String,
}

#[derive(Args, Debug)]
pub(crate) struct RecordSetArgs {
    /// The role: policy, technical, or another role the charter declares.
    #[arg(long)]
    role: Role,
    /// Organization (ministry, agency, CERT).
    #[arg(long)]
    organization: Option<String>,
    /// Position title of the point of contact.
    #[arg(long)]
    position: Option<String>,
    /// Role mailbox; repeat or comma-separate for several, preferred first.
    #[arg(long = "email", value_delimiter = ',')]
    emails: Vec<String>,
    /// Office phone in international form; repeat for several.
    #[arg(long = "phone")]
    phones: Vec<String>,
    /// 24/7 phone (required with --availability 24x7).
    #[arg(long = "phone-24x7")]
    phone_24x7: Option<String>,
    /// IANA time zone, for example Europe/Paris.
    #[arg(long)]
    timezone: Option<String>,
    /// 24x7 or business-hours.
    #[arg(long)]
    availability: Option<Availability>,
    /// BCP 47 languages, comma-separated, preferred first (for example fr,en).
    #[arg(long, value_delimiter = ',')]
    languages: Vec<String>,
    /// Peer id of a node that speaks for this contact; repeat for several (default: this node).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Name of the person (optional: roles outlive people).
    #[arg(long)]
    person_name: Option<String>,
    /// Another channel as KIND=ADDRESS (for example signal=+33...); repeat for several.
    #[arg(long = "channel")]
    channels: Vec<String>,
    /// Postal address.
    #[arg(long)]
    postal_address: Option<String>,
    /// OpenPGP fingerprint (40 hex digits).
    #[arg(long)]
    openpgp: Option<String>,
    /// Linked CERT (FIRST or Trusted Introducer id).
    #[arg(long)]
    linked_cert: Option<String>,
    /// Regional membership (OSCE, OAS, ARF…); repeat or comma-separate.
    #[arg(long = "membership", value_delimiter = ',')]
    memberships: Vec<String>,
    /// An alternate as name=…,email=…,phone=… (email and phone optional); repeat for several.
    #[arg(long = "alternate")]
    alternates: Vec<String>,
    /// Nomination reference (note verbale).
    #[arg(long)]
    nomination_ref: Option<String>,
    /// Message types accepted, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    accepts: Vec<MessageType>,
    /// Default TLP for messages to this contact.
    #[arg(long)]
    default_tlp: Option<Tlp>,
    /// Days until the record expires (at most 365, the annual update).
    #[arg(long, default_value_t = 365)]
    valid_days: u64,
}

pub(super) fn run(cmd: RecordCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        RecordCommand::Set(args) => set(*args, data_dir, out),
        RecordCommand::Withdraw(args) => withdraw(args, data_dir, out),
    }
}

fn withdraw(args: RecordWithdrawArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let reason = args.reason.trim().to_string();
    if reason.is_empty() {
        bail!("--reason must say why the record is withdrawn (it is kept in the signed revocation)");
    }
    let entry = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let request = WithdrawRequest { reason };
            anyhow::Ok(client.call(WithdrawRecord { role: args.role.clone(), request }).await?)
        })?,
        Source::Offline(node) => {
            let keys = node.keys()?;
            let state = node.store.state();
            let now = now();
            let Some(record) = node.directory.record(state, &args.role) else {
                bail!("no contact record of {state}/{} is held", args.role);
            };
            if node.directory.record_status(record, now) == hotline_core::RecordStatus::Revoked {
                bail!("the contact record of {state}/{} is withdrawn already", args.role);
            }
            let signed =
                node.directory.sign_record_withdrawal(keys.state_key(&node.data_dir)?, &args.role, reason, now)?;
            commit_objects(&node, vec![DirectoryObject::Revocation(signed)])?.require_all_accepted()?;
            let directory = node.store.load_directory()?;
            let key = hotline_core::ObjectKey::Record(state, args.role.clone());
            views::record_entry(&directory, &key, now).context("the record just withdrawn is missing")?
        }
    };
    let r = &entry.record;
    out.emit(&entry, || {
        format!(
            "Withdrew {}/{} (versions up to {}). Other states refuse to send to it from now on and are told to write to {}'s other points of contact.",
            r.state, r.role, r.seq, r.state
        )
    })
}

fn set(args: RecordSetArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let validity_days = args.valid_days;
    let entry = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let status = client.call(GetStatus).await?;
            let state: StateCode = status.state.parse()?;
            let own_node = NodeId::from_peer_id(&status.peer_id)?;
            let current = match client.call(GetRecord { state, role: args.role.clone() }).await {
                Ok(entry) => Some(RecordDraft::from_record(&entry.record)),
                Err(e) if e.code() == Some("not_found") => None,
                Err(e) => return Err(e.into()),
            };
            let draft = build_draft(args, current, own_node)?;
            anyhow::Ok(
                client
                    .call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: Some(validity_days) }))
                    .await?,
            )
        })?,
        Source::Offline(node) => {
            let keys = node.keys()?;
            let state = node.store.state();
            if !node.directory.is_admitted(state, now()) {
                bail!(
                    "{state} is not admitted in this node's directory yet: import its admission first (hotline admission import FILE)"
                );
            }
            let state_key = keys.state_key(&node.data_dir)?;
            let own_node = keys.node.node_id();
            let current = node.directory.record(state, &args.role).map(|r| RecordDraft::from_record(&r.record));
            let draft = build_draft(args, current, own_node)?;
            let record = node
                .directory
                .sign_next_record(draft, state_key, now(), validity_days.saturating_mul(DAY))
                .context("cannot sign the record")?;
            let key = DirectoryObject::Record(Box::new(record.clone())).key();
            commit_objects(&node, vec![DirectoryObject::Record(Box::new(record))])?.require_all_accepted()?;
            let directory = node.store.load_directory()?;
            views::record_entry(&directory, &key, now()).context("the record just stored is missing")?
        }
    };
    let r = &entry.record;
    out.emit(&entry, || format!("Signed {}/{} version {}, valid until {}.", r.state, r.role, r.seq, r.expires))
}

/// Merges the flags given over the current version (if any). A new record
/// needs every required field; the error names the missing flags.
pub(super) fn build_draft(args: RecordSetArgs, current: Option<RecordDraft>, own_node: NodeId) -> Result<RecordDraft> {
    let nodes =
        args.nodes.iter().map(|n| NodeId::from_peer_id(n).map_err(anyhow::Error::from)).collect::<Result<Vec<_>>>()?;
    let channels = args.channels.iter().map(|c| parse_channel(c)).collect::<Result<Vec<_>>>()?;
    let alternates = args.alternates.iter().map(|a| parse_alternate(a)).collect::<Result<Vec<_>>>()?;
    let mut draft = match current {
        Some(d) => d,
        None => {
            let mut missing = Vec::new();
            if args.organization.is_none() {
                missing.push("--organization");
            }
            if args.position.is_none() {
                missing.push("--position");
            }
            if args.emails.is_empty() {
                missing.push("--email");
            }
            if args.phones.is_empty() {
                missing.push("--phone");
            }
            if args.timezone.is_none() {
                missing.push("--timezone");
            }
            if args.availability.is_none() {
                missing.push("--availability");
            }
            if args.languages.is_empty() {
                missing.push("--languages");
            }
            if !missing.is_empty() {
                bail!("there is no {} record yet, so these are required: {}", args.role, missing.join(", "));
            }
            RecordDraft {
                role: args.role.clone(),
                organization: String::new(),
                position: String::new(),
                emails: vec![],
                phones: vec![],
                phone_24x7: None,
                timezone: String::new(),
                availability: Availability::BusinessHours,
                languages: vec![],
                nodes: vec![own_node],
                person_name: None,
                other_channels: vec![],
                postal_address: None,
                openpgp_fingerprint: None,
                linked_cert: None,
                memberships: vec![],
                alternates: vec![],
                nomination_ref: None,
                accepted_message_types: vec![],
                default_tlp: None,
            }
        }
    };
    fn set<T>(slot: &mut T, value: Option<T>) {
        if let Some(v) = value {
            *slot = v;
        }
    }
    fn set_list<T>(slot: &mut Vec<T>, value: Vec<T>) {
        if !value.is_empty() {
            *slot = value;
        }
    }
    set(&mut draft.organization, args.organization);
    set(&mut draft.position, args.position);
    set_list(&mut draft.emails, args.emails);
    set_list(&mut draft.phones, args.phones);
    if args.phone_24x7.is_some() {
        draft.phone_24x7 = args.phone_24x7;
    }
    set(&mut draft.timezone, args.timezone);
    set(&mut draft.availability, args.availability);
    set_list(&mut draft.languages, args.languages);
    set_list(&mut draft.nodes, nodes);
    if args.person_name.is_some() {
        draft.person_name = args.person_name;
    }
    set_list(&mut draft.other_channels, channels);
    if args.postal_address.is_some() {
        draft.postal_address = args.postal_address;
    }
    if args.openpgp.is_some() {
        draft.openpgp_fingerprint = args.openpgp;
    }
    if args.linked_cert.is_some() {
        draft.linked_cert = args.linked_cert;
    }
    set_list(&mut draft.memberships, args.memberships);
    set_list(&mut draft.alternates, alternates);
    if args.nomination_ref.is_some() {
        draft.nomination_ref = args.nomination_ref;
    }
    set_list(&mut draft.accepted_message_types, args.accepts);
    if args.default_tlp.is_some() {
        draft.default_tlp = args.default_tlp;
    }
    Ok(draft)
}
