//! The contact record: one per state and role, signed by the state key.
//!
//! Required and optional fields follow the brief's section 3 and the UN
//! Points of Contact Directory. Roles outlive people, so the person's name is
//! optional and the role mailbox is required.

use crate::charter::Charter;
use crate::ids::{NodeId, Role, StateCode};
use crate::keys::Signature;
use crate::labels::{MessageType, Tlp};
use crate::limits::{MAX_LIST_ITEMS, MAX_LONG_TEXT, MAX_NODES_PER_RECORD, MAX_SHORT_TEXT};
use crate::time::Timestamp;
use crate::validate::{self, FieldError, field_error};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// When the point of contact can be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Availability {
    /// Around the clock; a 24/7 phone number is then required.
    #[serde(rename = "24x7")]
    TwentyFourSeven,
    /// Office hours in the record's time zone.
    #[serde(rename = "business-hours")]
    BusinessHours,
}

impl FromStr for Availability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "24x7" | "24/7" => Ok(Availability::TwentyFourSeven),
            "business-hours" => Ok(Availability::BusinessHours),
            _ => Err(format!("'{s}' is not an availability: use 24x7 or business-hours")),
        }
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Availability::TwentyFourSeven => "24x7",
            Availability::BusinessHours => "business-hours",
        })
    }
}

/// Another way to reach the point of contact (secure fax, Signal, radio…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// The kind of channel, for example `signal` or `fax`.
    pub kind: String,
    /// The address on that channel.
    pub address: String,
}

/// An alternate point of contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternate {
    /// Name or function of the alternate.
    pub name: String,
    /// E-mail, if any.
    pub email: Option<String>,
    /// Phone, if any.
    pub phone: Option<String>,
}

/// A state's point of contact for one role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
    /// The `seq` of the admission whose state key signs this record.
    pub admission_seq: u64,
    /// Version; only grows.
    pub seq: u64,
    /// When the state signed it.
    pub issued_at: Timestamp,
    /// When it stops being valid; at most the charter's maximum validity after `issued_at`.
    pub expires: Timestamp,
    /// The organization (ministry, agency, CERT).
    pub organization: String,
    /// Position title of the point of contact.
    pub position: String,
    /// Role mailboxes, preferred first.
    pub emails: Vec<String>,
    /// Office phones, preferred first.
    pub phones: Vec<String>,
    /// 24/7 phone, required when availability is 24x7.
    pub phone_24x7: Option<String>,
    /// IANA time zone name.
    pub timezone: String,
    /// Availability.
    pub availability: Availability,
    /// BCP 47 language tags, preferred first.
    pub languages: Vec<String>,
    /// The nodes that speak for this point of contact.
    pub nodes: Vec<NodeId>,
    /// Optional: the person's name.
    pub person_name: Option<String>,
    /// Optional: other channels.
    pub other_channels: Vec<Channel>,
    /// Optional: postal address.
    pub postal_address: Option<String>,
    /// Optional: OpenPGP fingerprint, the fallback of CERT practice.
    pub openpgp_fingerprint: Option<String>,
    /// Optional: linked CERT (FIRST or Trusted Introducer id).
    pub linked_cert: Option<String>,
    /// Optional: regional memberships (OSCE, OAS, ARF…).
    pub memberships: Vec<String>,
    /// Optional: alternates.
    pub alternates: Vec<Alternate>,
    /// Optional: nomination reference (note verbale).
    pub nomination_ref: Option<String>,
    /// Optional: message types this point of contact accepts (empty: all).
    pub accepted_message_types: Vec<MessageType>,
    /// Optional: default TLP for messages to this point of contact.
    pub default_tlp: Option<Tlp>,
}

/// A contact record with the state key's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The body.
    pub record: ContactRecord,
    /// Signature by the admitted state key.
    pub signature: Signature,
}

fn short(field: &str, value: &str) -> Result<(), FieldError> {
    validate::text(field, value, MAX_SHORT_TEXT)
}

fn optional_short(field: &str, value: &Option<String>) -> Result<(), FieldError> {
    value.as_deref().map_or(Ok(()), |v| short(field, v))
}

impl ContactRecord {
    /// Checks every field rule that needs no clock (the directory checks the
    /// time rules).
    pub fn validate(&self, charter: &Charter) -> Result<(), FieldError> {
        if !charter.has_role(&self.role) {
            return Err(field_error("role", format!("'{}' is not a role this network's charter declares", self.role)));
        }
        if self.expires <= self.issued_at {
            return Err(field_error("expires", "must be after issued_at"));
        }
        short("organization", &self.organization)?;
        short("position", &self.position)?;
        validate::required_list("emails", &self.emails, |f, e: &String| validate::email(f, e))?;
        validate::required_list("phones", &self.phones, |f, p: &String| validate::phone(f, p))?;
        match (&self.availability, &self.phone_24x7) {
            (Availability::TwentyFourSeven, None) => {
                return Err(field_error("phone_24x7", "is required when availability is 24x7"));
            }
            (_, Some(p)) => validate::phone("phone_24x7", p)?,
            _ => {}
        }
        validate::timezone("timezone", &self.timezone)?;
        validate::required_list("languages", &self.languages, |f, l: &String| validate::language(f, l))?;
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES_PER_RECORD {
            return Err(field_error("nodes", format!("needs 1 to {MAX_NODES_PER_RECORD} node ids")));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.public_key().is_valid() {
                return Err(field_error(format!("nodes[{i}]"), "is not a valid Ed25519 node key"));
            }
            if self.nodes[..i].contains(node) {
                return Err(field_error(format!("nodes[{i}]"), "is listed twice"));
            }
        }
        optional_short("person_name", &self.person_name)?;
        validate::list("other_channels", &self.other_channels, MAX_LIST_ITEMS, |f, c: &Channel| {
            short(&format!("{f}.kind"), &c.kind)?;
            short(&format!("{f}.address"), &c.address)
        })?;
        if let Some(a) = &self.postal_address {
            validate::text("postal_address", a, MAX_LONG_TEXT)?;
        }
        if let Some(fp) = &self.openpgp_fingerprint {
            validate::openpgp_fingerprint("openpgp_fingerprint", fp)?;
        }
        optional_short("linked_cert", &self.linked_cert)?;
        validate::list("memberships", &self.memberships, MAX_LIST_ITEMS, |f, m: &String| short(f, m))?;
        validate::list("alternates", &self.alternates, MAX_LIST_ITEMS, |f, a: &Alternate| {
            short(&format!("{f}.name"), &a.name)?;
            if let Some(e) = &a.email {
                validate::email(&format!("{f}.email"), e)?;
            }
            if let Some(p) = &a.phone {
                validate::phone(&format!("{f}.phone"), p)?;
            }
            Ok(())
        })?;
        optional_short("nomination_ref", &self.nomination_ref)?;
        validate::list("accepted_message_types", &self.accepted_message_types, MessageType::ALL.len(), |_, _| Ok(()))?;
        Ok(())
    }
}

/// The fields of a contact record that a person chooses; the rest (state,
/// admission, seq, times) are filled in when the state key signs it. The CLI
/// and the control API both build records from a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDraft {
    /// The role.
    pub role: Role,
    /// See [`ContactRecord::organization`].
    pub organization: String,
    /// See [`ContactRecord::position`].
    pub position: String,
    /// See [`ContactRecord::emails`].
    pub emails: Vec<String>,
    /// See [`ContactRecord::phones`].
    pub phones: Vec<String>,
    /// See [`ContactRecord::phone_24x7`].
    pub phone_24x7: Option<String>,
    /// See [`ContactRecord::timezone`].
    pub timezone: String,
    /// See [`ContactRecord::availability`].
    pub availability: Availability,
    /// See [`ContactRecord::languages`].
    pub languages: Vec<String>,
    /// See [`ContactRecord::nodes`].
    pub nodes: Vec<NodeId>,
    /// See [`ContactRecord::person_name`].
    #[serde(default)]
    pub person_name: Option<String>,
    /// See [`ContactRecord::other_channels`].
    #[serde(default)]
    pub other_channels: Vec<Channel>,
    /// See [`ContactRecord::postal_address`].
    #[serde(default)]
    pub postal_address: Option<String>,
    /// See [`ContactRecord::openpgp_fingerprint`].
    #[serde(default)]
    pub openpgp_fingerprint: Option<String>,
    /// See [`ContactRecord::linked_cert`].
    #[serde(default)]
    pub linked_cert: Option<String>,
    /// See [`ContactRecord::memberships`].
    #[serde(default)]
    pub memberships: Vec<String>,
    /// See [`ContactRecord::alternates`].
    #[serde(default)]
    pub alternates: Vec<Alternate>,
    /// See [`ContactRecord::nomination_ref`].
    #[serde(default)]
    pub nomination_ref: Option<String>,
    /// See [`ContactRecord::accepted_message_types`].
    #[serde(default)]
    pub accepted_message_types: Vec<MessageType>,
    /// See [`ContactRecord::default_tlp`].
    #[serde(default)]
    pub default_tlp: Option<Tlp>,
}

impl RecordDraft {
    /// The draft of an existing record, to edit a few fields of it.
    pub fn from_record(r: &ContactRecord) -> RecordDraft {
        RecordDraft {
            role: r.role.clone(),
            organization: r.organization.clone(),
            position: r.position.clone(),
            emails: r.emails.clone(),
            phones: r.phones.clone(),
            phone_24x7: r.phone_24x7.clone(),
            timezone: r.timezone.clone(),
            availability: r.availability,
            languages: r.languages.clone(),
            nodes: r.nodes.clone(),
            person_name: r.person_name.clone(),
            other_channels: r.other_channels.clone(),
            postal_address: r.postal_address.clone(),
            openpgp_fingerprint: r.openpgp_fingerprint.clone(),
            linked_cert: r.linked_cert.clone(),
            memberships: r.memberships.clone(),
            alternates: r.alternates.clone(),
            nomination_ref: r.nomination_ref.clone(),
            accepted_message_types: r.accepted_message_types.clone(),
            default_tlp: r.default_tlp,
        }
    }

    /// The record body for this draft.
    pub fn into_record(
        self,
        state: StateCode,
        admission_seq: u64,
        seq: u64,
        issued_at: Timestamp,
        expires: Timestamp,
    ) -> ContactRecord {
        ContactRecord {
            state,
            role: self.role,
            admission_seq,
            seq,
            issued_at,
            expires,
            organization: self.organization,
            position: self.position,
            emails: self.emails,
            phones: self.phones,
            phone_24x7: self.phone_24x7,
            timezone: self.timezone,
            availability: self.availability,
            languages: self.languages,
            nodes: self.nodes,
            person_name: self.person_name,
            other_channels: self.other_channels,
            postal_address: self.postal_address,
            openpgp_fingerprint: self.openpgp_fingerprint,
            linked_cert: self.linked_cert,
            memberships: self.memberships,
            alternates: self.alternates,
            nomination_ref: self.nomination_ref,
            accepted_message_types: self.accepted_message_types,
            default_tlp: self.default_tlp,
        }
    }
}
