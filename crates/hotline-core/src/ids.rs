//! Identifiers: state codes, roles, node ids, network ids and object hashes.

use crate::iso3166::COUNTRIES;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A malformed identifier typed by a user or read from a file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Not an ISO 3166-1 alpha-3 code.
    #[error("'{0}' is not an ISO 3166-1 alpha-3 country code{hint}", hint = crate::iso3166::hint(.0))]
    UnknownState(String),
    /// Not a well-formed role name.
    #[error("'{0}' is not a valid role name: use 1 to 32 characters a-z, 0-9 and '-', starting with a letter")]
    BadRole(String),
    /// Not a libp2p peer id of an Ed25519 key.
    #[error("'{0}' is not an Ed25519 libp2p peer id (it should start with 12D3KooW)")]
    BadPeerId(String),
    /// Not 64 hex digits.
    #[error("'{0}' is not 64 hexadecimal digits")]
    BadHex(String),
    /// Not 32 hex digits (a message or case id).
    #[error("'{0}' is not 32 hexadecimal digits")]
    BadShortHex(String),
}

/// `bytes` as lower-case hex, written into `buf` (twice as long) rather
/// than a new `String`: ids are written thousands of times per answer.
pub(crate) fn hex_in<'b>(bytes: &[u8], buf: &'b mut [u8]) -> Result<&'b str, fmt::Error> {
    hex::encode_to_slice(bytes, buf).map_err(|_| fmt::Error)?;
    std::str::from_utf8(buf).map_err(|_| fmt::Error)
}

/// `bytes` as lower-case hex: what `hex::encode` gives, without its
/// character-at-a-time iterator (a thread's answer writes megabytes of it).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; bytes.len() * 2];
    match hex_in(bytes, &mut buf) {
        Ok(_) => String::from_utf8(buf).unwrap_or_default(),
        // The buffer is always twice as long: never taken.
        Err(_) => String::new(),
    }
}

/// Reads a string and gives it to `parse` without copying it when the
/// format can lend it (serde's `Cow<str>` always copies).
pub(crate) fn parse_str<'de, D, T, E>(d: D, parse: impl FnOnce(&str) -> Result<T, E>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    struct Text<F>(F);
    impl<'de, T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> serde::de::Visitor<'de> for Text<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<X: serde::de::Error>(self, v: &str) -> Result<T, X> {
            (self.0)(v).map_err(X::custom)
        }
    }
    d.deserialize_str(Text(parse))
}

/// Writes `bytes` as lower-case hex for human-readable formats (JSON) and as
/// raw bytes for the binary encoding.
macro_rules! bytes_newtype_serde {
    ($name:ident, $len:expr) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    let mut buf = [0u8; 2 * $len];
                    s.serialize_str(crate::ids::hex_in(&self.0, &mut buf).map_err(serde::ser::Error::custom)?)
                } else {
                    serde::Serialize::serialize(&crate::ids::FixedBytes::<$len>(self.0), s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    crate::ids::parse_str(d, |s| {
                        let mut out = [0u8; $len];
                        hex::decode_to_slice(s, &mut out).map(|()| $name(out))
                    })
                } else {
                    Ok($name(crate::ids::FixedBytes::<$len>::deserialize(d)?.0))
                }
            }
        }
    };
}
pub(crate) use bytes_newtype_serde;

/// A fixed-size byte array encoded as a tuple (no length prefix), for sizes
/// serde does not cover natively.
pub(crate) struct FixedBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> Serialize for FixedBytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(N)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> serde::de::Visitor<'de> for V<N> {
            type Value = FixedBytes<N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0u8; N];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq.next_element()?.ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(FixedBytes(out))
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

/// A state, named by its ISO 3166-1 alpha-3 code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateCode([u8; 3]);

impl StateCode {
    /// The code as text, for example `FRA`.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (checked in `from_str`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Every ISO 3166-1 alpha-3 code, in alphabetical order.
    pub fn all() -> impl Iterator<Item = StateCode> {
        COUNTRIES.iter().map(|(code, _)| {
            let b = code.as_bytes();
            StateCode([b[0], b[1], b[2]])
        })
    }

    /// The English short name of the country.
    pub fn country_name(&self) -> &'static str {
        COUNTRIES.binary_search_by(|(code, _)| code.as_bytes().cmp(&self.0[..])).map(|i| COUNTRIES[i].1).unwrap_or("")
    }
}

impl FromStr for StateCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let upper = s.trim().to_ascii_uppercase();
        match COUNTRIES.binary_search_by(|(code, _)| (*code).cmp(upper.as_str())) {
            Ok(_) => {
                let b = upper.as_bytes();
                Ok(StateCode([b[0], b[1], b[2]]))
            }
            Err(_) => Err(IdError::UnknownState(s.to_string())),
        }
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StateCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StateCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // Only the canonical upper-case spelling is accepted off the wire.
        if s.len() != 3 || s.chars().any(|c| !c.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom(IdError::UnknownState(s.into_owned())));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A point-of-contact role: `policy`, `technical`, or another role that the
/// charter declares.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    /// The diplomatic / policy point of contact.
    pub fn policy() -> Role {
        Role("policy".into())
    }
    /// The technical point of contact.
    pub fn technical() -> Role {
        Role("technical".into())
    }
    /// The role name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value below every valid role (which is never empty): the start of
    /// an ordered range over one state's records. Never a real role.
    pub(crate) fn range_start() -> Role {
        Role(String::new())
    }
}

impl FromStr for Role {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok { Ok(Role(s.to_string())) } else { Err(IdError::BadRole(s.to_string())) }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's identity: the 32-byte Ed25519 public key that is also its libp2p
/// `PeerId`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 32]);

// JSON shows a node as its peer id (`12D3KooW…`), the form operators see in
// libp2p tools; the binary encoding is the raw 32-byte key.
impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&self.to_peer_id()) } else { FixedBytes::<32>(self.0).serialize(s) }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            NodeId::from_peer_id(&s).map_err(serde::de::Error::custom)
        } else {
            Ok(NodeId(FixedBytes::<32>::deserialize(d)?.0))
        }
    }
}

/// The protobuf header of a libp2p Ed25519 public key (`KeyType = Ed25519`,
/// then a 32-byte `data` field), behind the identity-multihash header.
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

impl NodeId {
    /// The libp2p peer id text form (`12D3KooW…`).
    pub fn to_peer_id(&self) -> String {
        let mut bytes = Vec::with_capacity(38);
        bytes.extend_from_slice(&PEER_ID_PREFIX);
        bytes.extend_from_slice(&self.0);
        base58::encode(&bytes)
    }

    /// Parses the libp2p peer id text form of an Ed25519 key.
    pub fn from_peer_id(s: &str) -> Result<NodeId, IdError> {
        let bad = || IdError::BadPeerId(s.to_string());
        if s.len() > 64 {
            return Err(bad());
        }
        let bytes = base58::decode(s).ok_or_else(bad)?;
        if bytes.len() != 38 || bytes[..6] != PEER_ID_PREFIX {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes[6..]);
        Ok(NodeId(out))
    }

    /// The node's key as a signature-verification key.
    pub fn public_key(&self) -> crate::PublicKey {
        crate::PublicKey(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_peer_id())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_peer_id())
    }
}

/// The network id: the SHA-256 hash of the charter body. It is in every
/// signature, protocol name and gossip topic, so two networks never mix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetworkId(pub [u8; 32]);
bytes_newtype_serde!(NetworkId, 32);

/// The SHA-256 hash that identifies one directory object (see
/// [`crate::object::DirectoryObject::hash`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectHash(pub [u8; 32]);
bytes_newtype_serde!(ObjectHash, 32);

macro_rules! hex_display {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(&self.0[..8]))
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s.trim(), &mut out).map_err(|_| IdError::BadHex(s.to_string()))?;
                Ok($name(out))
            }
        }
    };
}
hex_display!(NetworkId);
hex_display!(ObjectHash);

/// Base58 (Bitcoin alphabet), as libp2p uses for peer ids. Inputs here are
/// at most 64 characters, so the quadratic algorithm is fine.
mod base58 {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    pub(super) fn encode(input: &[u8]) -> String {
        let zeros = input.iter().take_while(|&&b| b == 0).count();
        let mut digits: Vec<u8> = Vec::with_capacity(input.len() * 138 / 100 + 1);
        for &byte in input {
            let mut carry = byte as u32;
            for d in digits.iter_mut() {
                carry += (*d as u32) << 8;
                *d = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits.push((carry % 58) as u8);
                carry /= 58;
            }
        }
        let mut out = String::with_capacity(zeros + digits.len());
        out.extend(std::iter::repeat_n('1', zeros));
        out.extend(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char));
        out
    }

    pub(super) fn decode(input: &str) -> Option<Vec<u8>> {
        let zeros = input.bytes().take_while(|&b| b == b'1').count();
        let mut bytes: Vec<u8> = Vec::with_capacity(input.len());
        for c in input.bytes() {
            let mut carry = ALPHABET.iter().position(|&a| a == c)? as u32;
            for b in bytes.iter_mut() {
                carry += (*b as u32) * 58;
                *b = (carry & 0xff) as u8;
                carry >>= 8;
            }
            while carry > 0 {
                bytes.push((carry & 0xff) as u8);
                carry >>= 8;
            }
        }
        let mut out = vec![0u8; zeros];
        out.extend(bytes.iter().rev());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_written_as_the_hex_crate_writes_it_and_read_back_borrowed_or_escaped() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&bytes), hex::encode(&bytes));
        assert_eq!(to_hex(&[]), "");
        let hash = ObjectHash([0xa5; 32]);
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{}\"", "a5".repeat(32)));
        assert_eq!(serde_json::from_str::<ObjectHash>(&json).unwrap(), hash);
        // An escaped string cannot be lent; it is read all the same.
        let escaped = format!("\"\\u0061{}\"", "5a".repeat(31) + "5");
        assert_eq!(serde_json::from_str::<ObjectHash>(&escaped).unwrap(), ObjectHash([0xa5; 32]));
        assert!(serde_json::from_str::<ObjectHash>("\"zz\"").is_err());
        let id = crate::MessageId([7; 16]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "07".repeat(16)));
        assert_eq!(serde_json::from_str::<crate::MessageId>(&json).unwrap(), id);
        assert_eq!(id.to_string(), "07".repeat(16));
    }

    #[test]
    fn state_codes_are_checked_against_iso_3166() {
        assert_eq!("fra".parse::<StateCode>().map(|s| s.to_string()), Ok("FRA".to_string()));
        assert_eq!("DEU".parse::<StateCode>().map(|s| s.country_name()), Ok("Germany"));
        assert!("FRX".parse::<StateCode>().is_err());
        assert!("FR".parse::<StateCode>().is_err());
    }

    #[test]
    fn roles_are_restricted() {
        assert!("policy".parse::<Role>().is_ok());
        assert!("incident-response".parse::<Role>().is_ok());
        assert!("Policy".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
        assert!("1x".parse::<Role>().is_err());
    }

    #[test]
    fn peer_id_round_trip() {
        let id = NodeId([7u8; 32]);
        let text = id.to_peer_id();
        assert!(text.starts_with("12D3KooW"), "{text}");
        assert_eq!(NodeId::from_peer_id(&text), Ok(id));
        assert!(NodeId::from_peer_id("12D3KooWnotapeer").is_err());
        assert!(NodeId::from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").is_err());
    }
}
