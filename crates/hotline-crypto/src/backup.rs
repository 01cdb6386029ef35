//! The encryption of backup files: a passphrase, stretched with argon2id
//! (RFC 9106), keys XChaCha20-Poly1305 in the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway and Vizár), one chunk at a time.
//!
//! STREAM authenticates every chunk with its position and marks the last
//! one, so a backup with a chunk changed, dropped, reordered, or cut off
//! after any chunk is refused; the header (format, key-derivation
//! parameters, salt, nonce) is the associated data of every chunk, so it
//! cannot be changed either. Pure: the caller reads and writes the file,
//! and supplies the salt and nonce from its random source.

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use thiserror::Error;
use zeroize::Zeroizing;

/// The first bytes of every backup file.
pub const BACKUP_MAGIC: &[u8; 14] = b"hotline-backup";
/// The format version this build writes and reads.
pub const BACKUP_VERSION: u8 = 1;
/// The key derivation named in the header: argon2id, version 0x13.
const KDF_ARGON2ID: u8 = 1;
/// Salt length.
pub const SALT_BYTES: usize = 16;
/// STREAM's nonce prefix for XChaCha20 (24 bytes less its 5-byte counter
/// and last-chunk flag).
pub const NONCE_BYTES: usize = 19;
/// The header's length: magic, version, KDF, three parameters, salt, nonce.
pub const HEADER_BYTES: usize = BACKUP_MAGIC.len() + 2 + 12 + SALT_BYTES + NONCE_BYTES;
/// The most plaintext one chunk carries.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// The most ciphertext one chunk carries: the plaintext and its tag.
pub const MAX_SEALED_CHUNK_BYTES: usize = CHUNK_BYTES + 16;

/// Why a backup could not be sealed or opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupError {
    /// The file does not start as a Hotline backup does.
    #[error("this is not a Hotline backup file")]
    NotABackup,
    /// A later format.
    #[error("backup format version {0} is newer than this build reads (version {BACKUP_VERSION}): upgrade hotline")]
    UnsupportedVersion(u8),
    /// Key-derivation parameters out of the bounds this build accepts
    /// (so that a crafted header cannot make it allocate gigabytes).
    #[error("the backup's key-derivation parameters are out of bounds: {0}")]
    BadParams(String),
    /// The first chunk does not open: the passphrase is wrong, or the
    /// header or the chunk was changed.
    #[error("the passphrase is wrong, or the backup file was changed")]
    WrongPassphrase,
    /// A later chunk does not open: changed, reordered, or from another
    /// backup.
    #[error("chunk {0} of the backup was changed, moved or replaced")]
    Tampered(u64),
    /// The file ends before the last chunk.
    #[error("the backup file is truncated: it ends before its last chunk")]
    Truncated,
    /// A chunk larger than any this format writes.
    #[error("a chunk of {0} bytes is larger than any backup holds")]
    ChunkTooLarge(usize),
    /// The key derivation itself failed.
    #[error("cannot derive the backup key: {0}")]
    Kdf(String),
    /// More chunks than a 32-bit counter numbers.
    #[error("the backup is too large")]
    TooLarge,
}

impl BackupError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::NotABackup => "not_a_backup",
            BackupError::UnsupportedVersion(_) => "unsupported_version",
            BackupError::BadParams(_) => "bad_params",
            BackupError::WrongPassphrase => "wrong_passphrase",
            BackupError::Tampered(_) => "tampered",
            BackupError::Truncated => "truncated",
            BackupError::ChunkTooLarge(_) => "chunk_too_large",
            BackupError::Kdf(_) => "kdf_failed",
            BackupError::TooLarge => "too_large",
        }
    }
}

/// argon2id's cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// What backups are written with: 64 MiB, 3 passes, 1 lane (RFC 9106's
    /// second recommended option, for memory-constrained machines).
    pub const DEFAULT: KdfParams = KdfParams { memory_kib: 64 * 1024, passes: 3, lanes: 1 };
    /// The most memory a header may ask for: 256 MiB, four times what
    /// backups are written with (a crafted header must not exhaust a small
    /// machine's memory before anything is authenticated).
    pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
    /// The most passes a header may ask for.
    pub const MAX_PASSES: u32 = 8;
    /// The most lanes a header may ask for.
    pub const MAX_LANES: u32 = 4;

    fn check(&self) -> Result<argon2::Params, BackupError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB || self.passes > Self::MAX_PASSES || self.lanes > Self::MAX_LANES {
            return Err(BackupError::BadParams(format!(
                "{} KiB, {} passes, {} lanes (at most {} KiB, {} passes, {} lanes)",
                self.memory_kib,
                self.passes,
                self.lanes,
                Self::MAX_MEMORY_KIB,
                Self::MAX_PASSES,
                Self::MAX_LANES
            )));
        }
        argon2::Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|e| BackupError::BadParams(e.to_string()))
    }
}

/// A backup file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupHeader {
    /// How the key is derived from the passphrase.
    pub params: KdfParams,
    /// The key derivation's salt.
    pub salt: [u8; SALT_BYTES],
    /// STREAM's nonce prefix.
    pub nonce: [u8; NONCE_BYTES],
}

impl BackupHeader {
    /// The header's bytes, as the file starts.
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(BACKUP_MAGIC);
        put(&[BACKUP_VERSION, KDF_ARGON2ID]);
        put(&self.params.memory_kib.to_be_bytes());
        put(&self.params.passes.to_be_bytes());
        put(&self.params.lanes.to_be_bytes());
        put(&self.salt);
        put(&self.nonce);
        out
    }

    /// Reads a header from the start of a file (`bytes` may be longer).
    pub fn from_bytes(bytes: &[u8]) -> Result<BackupHeader, BackupError> {
        let Some(rest) = bytes.strip_prefix(BACKUP_MAGIC.as_slice()) else { return Err(BackupError::NotABackup) };
        let Some((&[version, kdf], rest)) = rest.split_first_chunk::<2>() else { return Err(BackupError::Truncated) };
        if version != BACKUP_VERSION {
            return Err(BackupError::UnsupportedVersion(version));
        }
        if kdf != KDF_ARGON2ID {
            return Err(BackupError::BadParams(format!("unknown key derivation {kdf}")));
        }
        let Some((numbers, rest)) = rest.split_first_chunk::<12>() else { return Err(BackupError::Truncated) };
        let Some((salt, rest)) = rest.split_first_chunk::<SALT_BYTES>() else { return Err(BackupError::Truncated) };
        let Some((nonce, _)) = rest.split_first_chunk::<NONCE_BYTES>() else { return Err(BackupError::Truncated) };
        let number = |i: usize| u32::from_be_bytes([numbers[i], numbers[i + 1], numbers[i + 2], numbers[i + 3]]);
        let params = KdfParams { memory_kib: number(0), passes: number(4), lanes: number(8) };
        params.check()?;
        Ok(BackupHeader { params, salt: *salt, nonce: *nonce })
    }

    /// The chunk key, from `passphrase`.
    fn key(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; 32]>, BackupError> {
        let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, self.params.check()?);
        let mut key = Zeroizing::new([0u8; 32]);
        kdf.hash_password_into(passphrase, &self.salt, key.as_mut_slice())
            .map_err(|e| BackupError::Kdf(e.to_string()))?;
        Ok(key)
    }
}

/// Seals a backup chunk by chunk. Each chunk but the last goes through
/// [`BackupSealer::seal_next`]; the last (possibly empty) through
/// [`BackupSealer::seal_last`], which the reader requires.
pub struct BackupSealer {
    stream: EncryptorBE32<XChaCha20Poly1305>,
    header: [u8; HEADER_BYTES],
}

impl BackupSealer {
    /// A sealer for a new backup under `passphrase`; `salt` and `nonce`
    /// must be fresh random bytes. Returns the header to write first.
    pub fn new(passphrase: &[u8], header: BackupHeader) -> Result<BackupSealer, BackupError> {
        let key = header.key(passphrase)?;
        let aead = XChaCha20Poly1305::new(key.as_slice().into());
        Ok(BackupSealer {
            stream: EncryptorBE32::from_aead(aead, header.nonce.as_slice().into()),
            header: header.to_bytes(),
        })
    }

    /// The header, to write before the first chunk.
    pub fn header(&self) -> [u8; HEADER_BYTES] {
        self.header
    }

    /// Seals a chunk that is not the last, at most [`CHUNK_BYTES`].
    pub fn seal_next(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BackupError> {
        if chunk.len() > CHUNK_BYTES {
            return Err(BackupError::ChunkTooLarge(chunk.len()));
        }
        self.stream.encrypt_next(Payload { msg: chunk, aad: &self.header }).map_err(|_| BackupError::TooLarge)
    }

    /// Seals the last chunk, at most [`CHUNK_BYTES`].
    pub fn seal_last(self, chunk: &[u8]) -> Result<Vec<u8>, BackupError> {
        if chunk.len() > CHUNK_BYTES {
            return Err(BackupError::ChunkTooLarge(chunk.len()));
        }
        let header = self.header;
        self.stream.encrypt_last(Payload { msg: chunk, aad: &header }).map_err(|_| BackupError::TooLarge)
    }
}

/// Opens a backup chunk by chunk, in order.
pub struct BackupOpener {
    stream: DecryptorBE32<XChaCha20Poly1305>,
    header: [u8; HEADER_BYTES],
    /// The position of the next chunk.
    next: u64,
}

impl BackupOpener {
    /// An opener for the backup whose header is `header`.
    pub fn new(passphrase: &[u8], header: &BackupHeader) -> Result<BackupOpener, BackupError> {
        let key = header.key(passphrase)?;
        let aead = XChaCha20Poly1305::new(key.as_slice().into());
        Ok(BackupOpener {
            stream: DecryptorBE32::from_aead(aead, header.nonce.as_slice().into()),
            header: header.to_bytes(),
            next: 0,
        })
    }

    fn failed(&self) -> BackupError {
        if self.next == 0 { BackupError::WrongPassphrase } else { BackupError::Tampered(self.next) }
    }

    /// Opens the next chunk, which the file says is not the last.
    pub fn open_next(&mut self, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
        if sealed.len() > MAX_SEALED_CHUNK_BYTES {
            return Err(BackupError::ChunkTooLarge(sealed.len()));
        }
        let opened = self.stream.decrypt_next(Payload { msg: sealed, aad: &self.header }).map_err(|_| self.failed())?;
        self.next += 1;
        Ok(opened)
    }

    /// Opens the last chunk.
    pub fn open_last(self, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
        if sealed.len() > MAX_SEALED_CHUNK_BYTES {
            return Err(BackupError::ChunkTooLarge(sealed.len()));
        }
        let failed = self.failed();
        let header = self.header;
        self.stream.decrypt_last(Payload { msg: sealed, aad: &header }).map_err(|_| failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters: the tests check the construction, not the cost.
    const FAST: KdfParams = KdfParams { memory_kib: 64, passes: 1, lanes: 1 };

    fn header(salt: u8) -> BackupHeader {
        BackupHeader { params: FAST, salt: [salt; SALT_BYTES], nonce: [7; NONCE_BYTES] }
    }

    fn seal(chunks: &[&[u8]]) -> (BackupHeader, Vec<Vec<u8>>) {
        let h = header(1);
        let mut sealer = BackupSealer::new(b"correct horse", h).unwrap();
        let (last, rest) = chunks.split_last().unwrap();
        let mut out: Vec<Vec<u8>> = rest.iter().map(|c| sealer.seal_next(c).unwrap()).collect();
        out.push(sealer.seal_last(last).unwrap());
        (h, out)
    }

    fn open(h: &BackupHeader, pass: &[u8], sealed: &[Vec<u8>]) -> Result<Vec<u8>, BackupError> {
        let mut opener = BackupOpener::new(pass, h)?;
        let (last, rest) = sealed.split_last().ok_or(BackupError::Truncated)?;
        let mut out = Vec::new();
        for c in rest {
            out.extend(opener.open_next(c)?);
        }
        out.extend(opener.open_last(last)?);
        Ok(out)
    }

    #[test]
    fn a_backup_opens_with_its_passphrase_and_nothing_else() {
        let (h, sealed) = seal(&[b"one", b"two", b""]);
        assert_eq!(open(&h, b"correct horse", &sealed).unwrap(), b"onetwo");
        assert_eq!(open(&h, b"wrong horse", &sealed), Err(BackupError::WrongPassphrase));
    }

    #[test]
    fn every_change_is_refused_with_its_reason() {
        let (h, sealed) = seal(&[b"one", b"two", b"three"]);
        let mut flipped = sealed.clone();
        flipped[1][0] ^= 1;
        assert_eq!(open(&h, b"correct horse", &flipped), Err(BackupError::Tampered(1)));
        let mut swapped = sealed.clone();
        swapped.swap(0, 1);
        assert_eq!(open(&h, b"correct horse", &swapped), Err(BackupError::WrongPassphrase));
        // Cut after a chunk: the chunk now read as last was not sealed last.
        assert_eq!(open(&h, b"correct horse", &sealed[..2]), Err(BackupError::Tampered(1)));
        // A header changed (another salt) derives another key.
        assert_eq!(open(&header(2), b"correct horse", &sealed), Err(BackupError::WrongPassphrase));
        // The header is bound as associated data too: same key, other nonce.
        let other = BackupHeader { nonce: [8; NONCE_BYTES], ..h };
        assert_eq!(open(&other, b"correct horse", &sealed), Err(BackupError::WrongPassphrase));
    }

    #[test]
    fn headers_round_trip_and_bad_ones_are_refused_before_any_work() {
        let h = BackupHeader { params: KdfParams::DEFAULT, salt: [3; SALT_BYTES], nonce: [4; NONCE_BYTES] };
        let bytes = h.to_bytes();
        assert_eq!(BackupHeader::from_bytes(&bytes), Ok(h));
        assert_eq!(BackupHeader::from_bytes(b"not a backup at all, no"), Err(BackupError::NotABackup));
        assert_eq!(BackupHeader::from_bytes(&bytes[..20]), Err(BackupError::Truncated));
        let mut newer = bytes;
        newer[BACKUP_MAGIC.len()] = 9;
        assert_eq!(BackupHeader::from_bytes(&newer), Err(BackupError::UnsupportedVersion(9)));
        let greedy = BackupHeader { params: KdfParams { memory_kib: u32::MAX, ..KdfParams::DEFAULT }, ..h };
        assert!(matches!(BackupHeader::from_bytes(&greedy.to_bytes()), Err(BackupError::BadParams(_))));
        let too_big = vec![0u8; MAX_SEALED_CHUNK_BYTES + 1];
        let mut opener = BackupOpener::new(b"x", &header(1)).unwrap();
        assert_eq!(opener.open_next(&too_big), Err(BackupError::ChunkTooLarge(too_big.len())));
    }
}

#[cfg(test)]
mod vector {
    use super::*;

    const HEADER: &str = "686f746c696e652d6261636b757001010000004000000001000000011111111111111111111111111111111122222222222222222222222222222222222222";
    const FIRST: &str = "e9833c178196f8c86a49fc64053a6333b3f864912c13cc88";
    const LAST: &str = "0b2fc022f1b6eb1d0ddb90c6c9b07dc879b43d2ed39a";

    /// The test vector of `docs/protocol.md` section 14: a fixed header,
    /// passphrase and two chunks give these exact bytes, and open back.
    #[test]
    fn the_published_vector_seals_and_opens() {
        let header = BackupHeader {
            params: KdfParams { memory_kib: 64, passes: 1, lanes: 1 },
            salt: [0x11; SALT_BYTES],
            nonce: [0x22; NONCE_BYTES],
        };
        let mut sealer = BackupSealer::new(b"correct horse battery staple", header).unwrap();
        let first = sealer.seal_next(b"hotline ").unwrap();
        let last = sealer.seal_last(b"backup").unwrap();
        assert_eq!(hex::encode(header.to_bytes()), HEADER);
        assert_eq!(hex::encode(&first), FIRST);
        assert_eq!(hex::encode(&last), LAST);
        let read = BackupHeader::from_bytes(&hex::decode(HEADER).unwrap()).unwrap();
        let mut opener = BackupOpener::new(b"correct horse battery staple", &read).unwrap();
        assert_eq!(opener.open_next(&first).unwrap(), b"hotline ");
        assert_eq!(opener.open_last(&last).unwrap(), b"backup");
    }
}
