//! Canonical binary encoding.
//!
//! Every signed or hashed structure is encoded with the postcard wire format
//! (varint integers, length-prefixed byte strings and sequences, enum
//! variants as varint indices; see `docs/protocol.md`). Our types contain no
//! maps and no floats, so each value has exactly one encoding.
//!
//! Decoding is strict: the input length is bounded before anything is
//! allocated, trailing bytes are refused, and the decoded value must encode
//! back to exactly the input. The last rule refuses overlong varints and any
//! other alternative spelling, so a hash or signature over the bytes is a
//! hash or signature over the value.

use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is larger than this kind of object may be.
    #[error("{what} is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is empty, truncated or malformed.
    #[error("{what} is malformed or truncated: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's description.
        detail: String,
    },
    /// The bytes decode, but are not the one canonical encoding of the value.
    #[error("{what} is not canonically encoded")]
    NotCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// The format version byte is not one this build understands.
    #[error("{what} has format version {found}, this build reads version {expected}")]
    UnsupportedVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// A decoded value broke a field rule.
    #[error("{what} is invalid: {detail}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// Which rule it broke.
        detail: String,
    },
}

/// Canonical encoding of `value`. Encoding our own types cannot fail; the
/// `expect` documents that invariant rather than handling outside input.
#[allow(clippy::expect_used)]
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encoding of an in-memory value never fails")
}

/// Decodes `bytes` as a `T`, refusing inputs over `max` bytes, trailing bytes
/// and non-canonical encodings.
pub fn decode<T: Serialize + DeserializeOwned>(what: &'static str, bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { what, len: bytes.len(), max });
    }
    let (value, rest): (T, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| DecodeError::Malformed { what, detail: e.to_string() })?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed { what, detail: format!("{} trailing bytes", rest.len()) });
    }
    if encode(&value) != bytes {
        return Err(DecodeError::NotCanonical { what });
    }
    Ok(value)
}

/// Encodes `value` behind a one-byte format version.
pub fn encode_versioned<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(version);
    out.extend_from_slice(&encode(value));
    out
}

/// Decodes a value written by [`encode_versioned`].
pub fn decode_versioned<T: Serialize + DeserializeOwned>(
    what: &'static str,
    version: u8,
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { what, len: bytes.len(), max });
    }
    match bytes.split_first() {
        None => Err(DecodeError::Malformed { what, detail: "empty input".into() }),
        Some((&v, _)) if v != version => Err(DecodeError::UnsupportedVersion { what, found: v, expected: version }),
        Some((_, body)) => decode(what, body, max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_overlong_varint() {
        // 5 as a canonical varint is [0x05]; [0x85, 0x00] is an overlong spelling.
        assert_eq!(decode::<u32>("n", &[0x05], 8), Ok(5));
        assert_eq!(decode::<u32>("n", &[0x85, 0x00], 8), Err(DecodeError::NotCanonical { what: "n" }));
    }

    #[test]
    fn refuses_trailing_and_oversized_input() {
        assert!(matches!(decode::<u8>("n", &[1, 2], 8), Err(DecodeError::Malformed { .. })));
        assert!(matches!(decode::<u8>("n", &[1; 9], 8), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate() {
        // A byte string claiming 2^32 bytes in a 6-byte input must fail cleanly.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(decode::<Vec<u8>>("v", &bytes, 64), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn versioned_round_trip_and_wrong_version() {
        let bytes = encode_versioned(1, &"hi".to_string());
        assert_eq!(decode_versioned::<String>("s", 1, &bytes, 64).as_deref(), Ok("hi"));
        assert!(matches!(
            decode_versioned::<String>("s", 2, &bytes, 64),
            Err(DecodeError::UnsupportedVersion { found: 1, expected: 2, .. })
        ));
    }
}
