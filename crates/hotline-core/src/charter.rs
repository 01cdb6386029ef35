//! The charter: the network's genesis document.
//!
//! It names the network, its stewards and the admission threshold `k`, the
//! roles a state may publish, the bootstrap addresses and the record policy.
//! It is valid once at least `threshold` stewards have signed it. Its hash is
//! the [`NetworkId`].

use crate::encoding::{self, DecodeError};
use crate::ids::{NetworkId, Role};
use crate::keys::{Context, PublicKey, SecretKey, Signature, sha256};
use crate::limits::{MAX_BOOTSTRAP, MAX_CHARTER_BYTES, MAX_ROLES, MAX_SHORT_TEXT, MAX_STEWARDS};
use crate::time::{DAY, Timestamp};
use crate::validate::{self, FieldError, field_error};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Format version of charter files.
pub const CHARTER_FORMAT: u8 = 1;
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The network's record policy. The OSCE and UN practice of an annual update
/// caps a record's validity at 365 days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPolicy {
    /// Longest allowed `expires - issued_at` of a contact record, in seconds.
    pub max_record_validity_secs: u64,
    /// A record with less than this left before it expires shows as `expiring`.
    pub expiring_warning_secs: u64,
    /// How far in the future an `issued_at` may be, to allow for clock skew.
    pub max_clock_skew_secs: u64,
}

impl Default for RecordPolicy {
    fn default() -> Self {
        RecordPolicy { max_record_validity_secs: 365 * DAY, expiring_warning_secs: 30 * DAY, max_clock_skew_secs: 300 }
    }
}

/// The charter body: what the stewards sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charter {
    /// Protocol version of the network ([`PROTOCOL_VERSION`]).
    pub protocol_version: u16,
    /// Human-readable network name.
    pub name: String,
    /// When the charter was drawn up.
    pub created_at: Timestamp,
    /// Steward public keys. A steward is referred to by its index here.
    pub stewards: Vec<PublicKey>,
    /// How many stewards must sign the charter, an admission or an admission revocation.
    pub threshold: u8,
    /// Roles a state may publish a record for; always includes `policy` and `technical`.
    pub roles: Vec<Role>,
    /// libp2p multiaddresses of bootstrap nodes.
    pub bootstrap: Vec<String>,
    /// The record policy.
    pub policy: RecordPolicy,
}

/// One steward's signature, naming the steward by its index in the charter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StewardSignature {
    /// Index into [`Charter::stewards`].
    pub steward: u8,
    /// The signature.
    pub signature: Signature,
}

/// A charter with its steward signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCharter {
    /// The body.
    pub charter: Charter,
    /// Signatures, sorted by steward index, at most one per steward.
    pub signatures: Vec<StewardSignature>,
}

/// Why a charter, or a steward-signed object, is not acceptable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CharterError {
    /// The bytes do not decode.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// A field breaks a rule.
    #[error("charter field {0}")]
    Field(#[from] FieldError),
    /// The signing key is not one of the charter's stewards.
    #[error("key {0} is not a steward of this charter")]
    NotASteward(PublicKey),
    /// A steward signature does not verify.
    #[error(
        "the signature of steward #{steward} ({key}) does not verify: the file was altered or signed for another network"
    )]
    BadSignature {
        /// Steward index.
        steward: u8,
        /// Steward key.
        key: PublicKey,
    },
    /// Signatures are out of order, duplicated, or name an unknown steward.
    #[error("steward signatures must name distinct stewards of the charter, in increasing order")]
    MalformedSignatures,
    /// Not enough valid steward signatures.
    #[error("{valid} valid steward signature(s), the threshold is {threshold}")]
    QuorumNotMet {
        /// Valid signatures found.
        valid: usize,
        /// Required.
        threshold: u8,
    },
}

impl Charter {
    /// A charter with the default roles and record policy.
    pub fn new(
        name: String,
        created_at: Timestamp,
        stewards: Vec<PublicKey>,
        threshold: u8,
        bootstrap: Vec<String>,
    ) -> Charter {
        Charter {
            protocol_version: PROTOCOL_VERSION,
            name,
            created_at,
            stewards,
            threshold,
            roles: vec![Role::policy(), Role::technical()],
            bootstrap,
            policy: RecordPolicy::default(),
        }
    }

    /// The network id: SHA-256 over a label and the canonical charter body.
    pub fn network_id(&self) -> NetworkId {
        let mut input = b"hotline/v1/network-id\0".to_vec();
        input.extend_from_slice(&encoding::encode(self));
        NetworkId(sha256(&input))
    }

    /// Checks every field rule.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(field_error(
                "protocol_version",
                format!("is {}, this build speaks {PROTOCOL_VERSION}", self.protocol_version),
            ));
        }
        validate::text("name", &self.name, MAX_SHORT_TEXT)?;
        if self.stewards.is_empty() || self.stewards.len() > MAX_STEWARDS {
            return Err(field_error("stewards", format!("needs 1 to {MAX_STEWARDS} keys")));
        }
        for (i, key) in self.stewards.iter().enumerate() {
            if !key.is_valid() {
                return Err(field_error(format!("stewards[{i}]"), "is not a valid Ed25519 public key"));
            }
            if self.stewards[..i].contains(key) {
                return Err(field_error(format!("stewards[{i}]"), "is listed twice"));
            }
        }
        if self.threshold == 0 || self.threshold as usize > self.stewards.len() {
            return Err(field_error(
                "threshold",
                format!("is {}, it must be between 1 and the {} stewards", self.threshold, self.stewards.len()),
            ));
        }
        if self.roles.len() > MAX_ROLES {
            return Err(field_error("roles", format!("has more than {MAX_ROLES} roles")));
        }
        for required in [Role::policy(), Role::technical()] {
            if !self.roles.contains(&required) {
                return Err(field_error("roles", format!("must include '{required}'")));
            }
        }
        for (i, role) in self.roles.iter().enumerate() {
            if self.roles[..i].contains(role) {
                return Err(field_error(format!("roles[{i}]"), "is listed twice"));
            }
        }
        validate::list("bootstrap", &self.bootstrap, MAX_BOOTSTRAP, |f, a: &String| {
            validate::text(f, a, MAX_SHORT_TEXT)?;
            if a.starts_with('/') { Ok(()) } else { Err(field_error(f, "is not a multiaddress")) }
        })?;
        let p = &self.policy;
        if p.max_record_validity_secs == 0 || p.max_record_validity_secs > 365 * DAY {
            return Err(field_error("policy.max_record_validity_secs", "must be between 1 s and 365 days"));
        }
        if p.expiring_warning_secs > p.max_record_validity_secs {
            return Err(field_error("policy.expiring_warning_secs", "exceeds the record validity"));
        }
        if p.max_clock_skew_secs > 3600 {
            return Err(field_error("policy.max_clock_skew_secs", "must be at most one hour"));
        }
        Ok(())
    }

    /// Whether `role` is one the charter declares.
    pub fn has_role(&self, role: &Role) -> bool {
        self.roles.contains(role)
    }

    /// The index of `key` among the stewards.
    pub fn steward_index(&self, key: &PublicKey) -> Option<u8> {
        self.stewards.iter().position(|k| k == key).map(|i| i as u8)
    }

    /// Checks that `signatures` hold at least `threshold` valid, distinct
    /// steward signatures over `body` and that none is invalid. Returns how
    /// many there are.
    pub fn verify_quorum(
        &self,
        context: Context,
        network: &NetworkId,
        body: &[u8],
        signatures: &[StewardSignature],
    ) -> Result<usize, CharterError> {
        check_signature_order(self, signatures)?;
        for s in signatures {
            let key = self.stewards[s.steward as usize];
            key.verify(context, network, body, &s.signature)
                .map_err(|_| CharterError::BadSignature { steward: s.steward, key })?;
        }
        if signatures.len() < self.threshold as usize {
            return Err(CharterError::QuorumNotMet { valid: signatures.len(), threshold: self.threshold });
        }
        Ok(signatures.len())
    }

    /// Signs `body` as steward `key`, inserting the signature into `signatures`
    /// in canonical order (replacing an earlier one by the same steward).
    pub fn add_steward_signature(
        &self,
        context: Context,
        network: &NetworkId,
        body: &[u8],
        key: &SecretKey,
        signatures: &mut Vec<StewardSignature>,
    ) -> Result<(), CharterError> {
        let public = key.public();
        let steward = self.steward_index(&public).ok_or(CharterError::NotASteward(public))?;
        let signature = key.sign(context, network, body);
        signatures.retain(|s| s.steward != steward);
        signatures.push(StewardSignature { steward, signature });
        signatures.sort_by_key(|s| s.steward);
        Ok(())
    }
}

fn check_signature_order(charter: &Charter, signatures: &[StewardSignature]) -> Result<(), CharterError> {
    let in_range = signatures.iter().all(|s| (s.steward as usize) < charter.stewards.len());
    let increasing = signatures.windows(2).all(|w| w[0].steward < w[1].steward);
    if in_range && increasing { Ok(()) } else { Err(CharterError::MalformedSignatures) }
}

impl SignedCharter {
    /// An unsigned charter, ready to be passed around the stewards.
    pub fn unsigned(charter: Charter) -> SignedCharter {
        SignedCharter { charter, signatures: Vec::new() }
    }

    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        self.charter.network_id()
    }

    /// Adds (or replaces) the signature of steward `key`.
    pub fn sign(&mut self, key: &SecretKey) -> Result<(), CharterError> {
        self.charter.validate()?;
        let body = encoding::encode(&self.charter);
        let net = self.network_id();
        self.charter.add_steward_signature(Context::CHARTER, &net, &body, key, &mut self.signatures)
    }

    /// Indices of the stewards whose signatures verify.
    pub fn valid_signers(&self) -> Vec<u8> {
        let body = encoding::encode(&self.charter);
        let net = self.network_id();
        self.signatures
            .iter()
            .filter(|s| {
                self.charter
                    .stewards
                    .get(s.steward as usize)
                    .is_some_and(|k| k.verify(Context::CHARTER, &net, &body, &s.signature).is_ok())
            })
            .map(|s| s.steward)
            .collect()
    }

    /// Checks every field rule and the steward quorum; returns the network id.
    pub fn verify(&self) -> Result<NetworkId, CharterError> {
        self.charter.validate()?;
        let net = self.network_id();
        let body = encoding::encode(&self.charter);
        self.charter.verify_quorum(Context::CHARTER, &net, &body, &self.signatures)?;
        Ok(net)
    }

    /// The charter file bytes: a format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(CHARTER_FORMAT, self)
    }

    /// Decodes a charter file. It checks the field rules but not the
    /// signatures, so that a charter still being signed can be read; call
    /// [`SignedCharter::verify`] before trusting it.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedCharter, CharterError> {
        let charter: SignedCharter = encoding::decode_versioned("charter", CHARTER_FORMAT, bytes, MAX_CHARTER_BYTES)?;
        charter.charter.validate()?;
        check_signature_order(&charter.charter, &charter.signatures)?;
        Ok(charter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stewards() -> Vec<SecretKey> {
        (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect()
    }

    fn charter(keys: &[SecretKey]) -> SignedCharter {
        SignedCharter::unsigned(Charter::new(
            "Test network".into(),
            Timestamp(1_790_000_000),
            keys.iter().map(|k| k.public()).collect(),
            2,
            vec![],
        ))
    }

    #[test]
    fn valid_with_threshold_signatures() {
        let keys = stewards();
        let mut c = charter(&keys);
        assert_eq!(c.verify(), Err(CharterError::QuorumNotMet { valid: 0, threshold: 2 }));
        c.sign(&keys[2]).unwrap();
        c.sign(&keys[0]).unwrap();
        assert_eq!(c.valid_signers(), vec![0, 2]);
        let net = c.verify().unwrap();
        let back = SignedCharter::from_bytes(&c.to_bytes()).unwrap();
        assert_eq!(back.verify(), Ok(net));
    }

    #[test]
    fn outsider_cannot_sign() {
        let keys = stewards();
        let mut c = charter(&keys);
        let outsider = SecretKey::from_seed(&[9; 32]);
        assert_eq!(c.sign(&outsider), Err(CharterError::NotASteward(outsider.public())));
    }

    #[test]
    fn tampering_breaks_signatures_and_changes_network_id() {
        let keys = stewards();
        let mut c = charter(&keys);
        c.sign(&keys[0]).unwrap();
        c.sign(&keys[1]).unwrap();
        let net = c.verify().unwrap();
        c.charter.name = "Other network".into();
        assert_ne!(c.network_id(), net);
        assert!(matches!(c.verify(), Err(CharterError::BadSignature { .. })));
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let keys = stewards();
        let bytes = charter(&keys).to_bytes();
        assert!(matches!(
            SignedCharter::from_bytes(&bytes[..bytes.len() - 3]),
            Err(CharterError::Decode(DecodeError::Malformed { .. }))
        ));
    }

    #[test]
    fn threshold_above_stewards_is_refused() {
        let keys = stewards();
        let mut c = charter(&keys);
        c.charter.threshold = 4;
        assert!(matches!(c.verify(), Err(CharterError::Field(f)) if f.field == "threshold"));
    }
}
