//! The message model: what a point of contact writes to another, inside a
//! sealed envelope (see `hotline-crypto`).
//!
//! Types, TLP 2.0 labels and severity follow UN and OSCE practice. Typed
//! fields are offered for the types that have them; free text (`subject`,
//! `body`) is always allowed and never replaced.

use crate::encoding::{self, DecodeError};
use crate::ids::{ObjectHash, Role, StateCode};
use crate::labels::{MessageType, Tlp};
use crate::limits::MAX_SHORT_TEXT;
use crate::time::Timestamp;
use crate::validate::{self, FieldError, field_error};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Format version of an encoded message.
pub const MESSAGE_FORMAT: u8 = 1;
/// Longest message body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most attachments in one message.
pub const MAX_ATTACHMENTS: usize = 8;
/// Largest total size of a message's attachments, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 512 * 1024;
/// Largest encoded message, in bytes: body, attachments and headroom for the rest.
pub const MAX_MESSAGE_BYTES: usize = MAX_BODY_BYTES + MAX_ATTACHMENT_BYTES + 64 * 1024;
/// Highest severity.
pub const MAX_SEVERITY: u8 = 5;

macro_rules! id16 {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 16]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::ids::hex_in(&self.0, &mut [0u8; 32])?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = crate::ids::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 16];
                hex::decode_to_slice(s.trim(), &mut out)
                    .map_err(|_| crate::ids::IdError::BadShortHex(s.to_string()))?;
                Ok($name(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(crate::ids::hex_in(&self.0, &mut [0u8; 32]).map_err(serde::ser::Error::custom)?)
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    crate::ids::parse_str(d, str::parse)
                } else {
                    Ok($name(<[u8; 16]>::deserialize(d)?))
                }
            }
        }
    };
}

id16!(MessageId, "A message's id: 16 random bytes, shown as 32 hex digits. Duplicates are recognised by it.");
id16!(CaseId, "A case (thread) id: 16 random bytes. Replies carry the case id of the message they answer.");

/// A point of contact: a state and one of its roles.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.state, self.role)
    }
}

/// A file carried inside a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name, for display only.
    pub name: String,
    /// Media type, for example `text/csv`.
    pub media_type: String,
    /// The content.
    pub data: Vec<u8>,
}

/// What a communication check asks of the person who answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComcheckTask {
    /// Only answer.
    None,
    /// Echo the challenge's random code.
    Nonce,
    /// Confirm the current contact record (or publish a new version).
    ConfirmRecord,
    /// The state's other role must answer (tests national coordination).
    Counterpart,
}

/// Structured fields of the message types that have them. Every field is
/// optional in spirit: a message of any type may carry `Fields::None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fields {
    /// No structured fields.
    None,
    /// For notifications, requests and vulnerability notices: what is known.
    Incident {
        /// When the incident was first observed, if known.
        observed_at: Option<Timestamp>,
        /// Affected sectors or systems, free text.
        affected: Vec<String>,
        /// Indicators of compromise (addresses, hashes, domains).
        indicators: Vec<String>,
        /// CVE or other advisory references.
        references: Vec<String>,
    },
    /// A person's acknowledgement of a message.
    HumanAck {
        /// The message acknowledged.
        acknowledged: MessageId,
        /// Free-text note.
        note: Option<String>,
    },
    /// Closes a case.
    CaseClose {
        /// How the case ended.
        resolution: String,
    },
    /// Refers the case to another point of contact.
    Referral {
        /// Who should handle it.
        referred_to: Address,
    },
    /// A communication check challenge.
    ComcheckChallenge {
        /// The comcheck this belongs to.
        comcheck_id: CaseId,
        /// Reply deadline.
        deadline: Timestamp,
        /// What the answer must do.
        task: ComcheckTask,
        /// Random code to echo (task `nonce`).
        nonce: Option<String>,
        /// Whether the check was announced beforehand.
        announced: bool,
    },
    /// The answer to a communication check.
    ComcheckReply {
        /// The comcheck answered.
        comcheck_id: CaseId,
        /// The code echoed (task `nonce`).
        code: Option<String>,
        /// Hash of the contact record confirmed (task `confirm-record`).
        confirmed_record: Option<ObjectHash>,
    },
}

/// One message, as its author wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique id.
    pub msg_id: MessageId,
    /// The case (thread) it belongs to.
    pub case_id: CaseId,
    /// The message it answers, if any.
    pub in_reply_to: Option<MessageId>,
    /// Its type.
    pub kind: MessageType,
    /// The sending point of contact.
    pub from: Address,
    /// The receiving point of contact.
    pub to: Address,
    /// When it was written.
    pub created_at: Timestamp,
    /// BCP 47 language of subject and body.
    pub lang: Option<String>,
    /// Traffic Light Protocol label (default AMBER).
    pub tlp: Tlp,
    /// Severity 0 (none) to 5 (critical), if the sender grades it.
    pub severity: Option<u8>,
    /// An exercise, not a real incident.
    pub is_exercise: bool,
    /// When an answer is expected, if the sender asks for one by a time.
    pub respond_by: Option<Timestamp>,
    /// Subject line.
    pub subject: String,
    /// Free text.
    pub body: String,
    /// Structured fields.
    pub fields: Fields,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

impl Message {
    /// Checks every field rule.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::text("subject", &self.subject, MAX_SHORT_TEXT)?;
        validate::optional_text("body", &self.body, MAX_BODY_BYTES)?;
        if let Some(lang) = &self.lang {
            validate::language("lang", lang)?;
        }
        if self.severity.is_some_and(|s| s > MAX_SEVERITY) {
            return Err(field_error("severity", format!("must be 0 to {MAX_SEVERITY}")));
        }
        if self.respond_by.is_some_and(|t| t <= self.created_at) {
            return Err(field_error("respond_by", "must be after created_at"));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(field_error("attachments", format!("at most {MAX_ATTACHMENTS}")));
        }
        let total: usize = self.attachments.iter().map(|a| a.data.len()).sum();
        if total > MAX_ATTACHMENT_BYTES {
            return Err(field_error(
                "attachments",
                format!("{total} bytes in all, the limit is {MAX_ATTACHMENT_BYTES}"),
            ));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            validate::text(&format!("attachments[{i}].name"), &a.name, MAX_SHORT_TEXT)?;
            validate::text(&format!("attachments[{i}].media_type"), &a.media_type, 128)?;
        }
        self.validate_fields()
    }

    fn validate_fields(&self) -> Result<(), FieldError> {
        let expected = match &self.fields {
            // These types are read by machines: their fields are the message.
            Fields::None
                if matches!(
                    self.kind,
                    MessageType::HumanAck | MessageType::ComcheckChallenge | MessageType::ComcheckReply
                ) =>
            {
                return Err(field_error("fields", format!("a {} message needs its typed fields", self.kind)));
            }
            Fields::None => return Ok(()),
            Fields::Incident { affected, indicators, references, .. } => {
                for (name, list) in [("affected", affected), ("indicators", indicators), ("references", references)] {
                    validate::list(&format!("fields.{name}"), list, 256, |f, v: &String| {
                        validate::text(f, v, MAX_SHORT_TEXT)
                    })?;
                }
                return Ok(());
            }
            Fields::HumanAck { note, .. } => {
                if let Some(n) = note {
                    validate::optional_text("fields.note", n, 4096)?;
                }
                MessageType::HumanAck
            }
            Fields::CaseClose { resolution } => {
                validate::optional_text("fields.resolution", resolution, 4096)?;
                MessageType::CaseClose
            }
            Fields::Referral { .. } => MessageType::Referral,
            Fields::ComcheckChallenge { nonce, .. } => {
                if let Some(n) = nonce {
                    validate::text("fields.nonce", n, 64)?;
                }
                MessageType::ComcheckChallenge
            }
            Fields::ComcheckReply { code, .. } => {
                if let Some(c) = code {
                    validate::text("fields.code", c, 64)?;
                }
                MessageType::ComcheckReply
            }
        };
        if self.kind != expected {
            return Err(field_error(
                "fields",
                format!("these fields belong to a {expected} message, not {}", self.kind),
            ));
        }
        Ok(())
    }

    /// The canonical bytes (format byte, then the encoding): the plaintext
    /// that an envelope seals.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(MESSAGE_FORMAT, self)
    }

    /// Decodes and validates a message.
    pub fn from_bytes(bytes: &[u8]) -> Result<Message, DecodeError> {
        let m: Message = encoding::decode_versioned("message", MESSAGE_FORMAT, bytes, MAX_MESSAGE_BYTES)?;
        m.validate().map_err(|e| DecodeError::Invalid { what: "message", detail: e.to_string() })?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            msg_id: MessageId([1; 16]),
            case_id: CaseId([2; 16]),
            in_reply_to: None,
            kind: MessageType::RequestForInformation,
            from: Address { state: "FRA".parse().unwrap(), role: Role::technical() },
            to: Address { state: "DEU".parse().unwrap(), role: Role::technical() },
            created_at: Timestamp(1_800_000_000),
            lang: Some("en".into()),
            tlp: Tlp::Amber,
            severity: Some(3),
            is_exercise: false,
            respond_by: Some(Timestamp(1_800_007_200)),
            subject: "Scanning from AS64500".into(),
            body: "We observe scanning of energy-sector hosts. Can you confirm?".into(),
            fields: Fields::Incident {
                observed_at: Some(Timestamp(1_799_990_000)),
                affected: vec!["energy".into()],
                indicators: vec!["192.0.2.7".into()],
                references: vec![],
            },
            attachments: vec![],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Message::from_bytes(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn rules() {
        let mut m = sample();
        m.severity = Some(6);
        assert_eq!(m.validate().unwrap_err().field, "severity");
        let mut m = sample();
        m.fields = Fields::CaseClose { resolution: "done".into() };
        assert_eq!(m.validate().unwrap_err().field, "fields");
        let mut m = sample();
        m.kind = MessageType::HumanAck;
        m.fields = Fields::None;
        assert_eq!(m.validate().unwrap_err().field, "fields", "an acknowledgement names what it acknowledges");
        let mut m = sample();
        m.subject = String::new();
        assert_eq!(m.validate().unwrap_err().field, "subject");
        let mut m = sample();
        m.attachments =
            vec![Attachment { name: "a".into(), media_type: "x/y".into(), data: vec![0; MAX_ATTACHMENT_BYTES + 1] }];
        assert_eq!(m.validate().unwrap_err().field, "attachments");
    }
}
