//! X-Wing prekeys: a node's ring of prekey secrets, its rotation and
//! deletion schedule, and the public bundle it publishes.
//!
//! # Lifetime of one prekey (defaults in brackets)
//! ```text
//! created_at ── rotate_every [7 d] ──► successor created ── grace/2 [7 d] ──► expires ── grace/2 [7 d] ──► deleted
//!            │◄──────────── published; senders may seal to it ────────────►│
//!            │◄────────────────────── the secret exists (forward-secrecy window, 21 d) ───────────────────►│
//! ```
//! - `expires = created_at + rotate_every + grace/2` is published in the
//!   bundle: senders stop sealing to the prekey then. It leaves room for a
//!   node that rotates late, since senders always pick the newest prekey.
//! - `delete_at = created_at + rotate_every + grace` is when the secret is
//!   deleted. Between `expires` and `delete_at` no new envelope is sealed to
//!   the prekey, but envelopes already sealed (and waiting in a sender's
//!   outbox) still open.
//! - After `delete_at`, [`crate::Envelope::open`] refuses envelopes sealed to
//!   it with [`crate::OpenError::PrekeyExpired`], even before
//!   [`PrekeyRing::rotate`] has physically dropped the secret. A sender that
//!   gets that error re-seals to the recipient's current bundle.
//!
//! Both times are fixed when the prekey is created, from the policy in force
//! then, and are kept with the secret.

use crate::suite::Kem;
use hotline_core::limits::{MAX_PREKEYS, XWING_PUBLIC_KEY_BYTES};
use hotline_core::time::DAY;
use hotline_core::{NodeId, Prekey, PrekeyBundle, StateCode, Timestamp};
use hpke::{Deserializable, Kem as _, Serializable};
use rand_core::CryptoRng;
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

/// Most prekey secrets a ring keeps. Older ones beyond this are deleted at
/// the next rotation whatever their age (with the default policy a ring
/// holds at most 4).
pub const MAX_RING_KEYS: usize = 32;

/// Size of an X-Wing decapsulation (secret) key: a 32-byte seed.
const SECRET_KEY_BYTES: usize = 32;
/// Stored form of one prekey secret: id, created_at, expires, delete_at, key.
const SECRET_RECORD_BYTES: usize = 4 + 8 + 8 + 8 + SECRET_KEY_BYTES;
/// Format byte of a stored ring.
const RING_FORMAT: u8 = 1;
/// Stored ring header: format, next_id, count.
const RING_HEADER_BYTES: usize = 1 + 4 + 1;

const HOUR: u64 = 3_600;

/// Errors of prekey handling.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PrekeyError {
    /// Stored secret bytes are not a valid prekey secret or ring.
    #[error("stored prekey secrets are malformed: {0}")]
    Malformed(&'static str),
    /// The ring has no prekey that senders may still use: rotate first.
    #[error("the prekey ring has no unexpired prekey; call rotate first")]
    NoUsablePrekey,
    /// A rotation policy out of bounds.
    #[error("bad prekey policy: {0}")]
    BadPolicy(&'static str),
}

impl PrekeyError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PrekeyError::Malformed(_) => "prekey_store_malformed",
            PrekeyError::NoUsablePrekey => "no_usable_prekey",
            PrekeyError::BadPolicy(_) => "bad_prekey_policy",
        }
    }
}

/// How often prekeys rotate and how long their secrets outlive rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrekeyPolicy {
    rotate_every: u64,
    grace: u64,
}

impl Default for PrekeyPolicy {
    /// Rotate every 7 days, keep secrets 14 days more.
    fn default() -> Self {
        PrekeyPolicy { rotate_every: 7 * DAY, grace: 14 * DAY }
    }
}

impl PrekeyPolicy {
    /// A policy, in seconds. `rotate_every` must be between one hour and 365
    /// days, `grace` at most 365 days.
    pub fn new(rotate_every: u64, grace: u64) -> Result<PrekeyPolicy, PrekeyError> {
        if !(HOUR..=365 * DAY).contains(&rotate_every) {
            return Err(PrekeyError::BadPolicy("rotate_every must be between 1 hour and 365 days"));
        }
        if grace > 365 * DAY {
            return Err(PrekeyError::BadPolicy("grace must be at most 365 days"));
        }
        Ok(PrekeyPolicy { rotate_every, grace })
    }

    /// A new prekey is made once the newest is this old (seconds).
    pub fn rotate_every(&self) -> u64 {
        self.rotate_every
    }

    /// How long a secret is kept after `rotate_every` (seconds).
    pub fn grace(&self) -> u64 {
        self.grace
    }

    fn expires(&self, created_at: Timestamp) -> Timestamp {
        created_at.plus(self.rotate_every).plus(self.grace / 2)
    }

    fn delete_at(&self, created_at: Timestamp) -> Timestamp {
        created_at.plus(self.rotate_every).plus(self.grace)
    }
}

/// The public facts about one prekey, for logs and for the node's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrekeyInfo {
    /// Identifier, unique within the node, named in envelope headers.
    pub id: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// When senders stop sealing to it (published in the bundle).
    pub expires: Timestamp,
    /// When its secret is deleted.
    pub delete_at: Timestamp,
}

/// One X-Wing prekey secret (decapsulation key) with its schedule. It
/// zeroizes on drop, never prints its secret, is not `Clone`, and leaves
/// memory only through [`PrekeySecret::to_bytes_secret`].
pub struct PrekeySecret {
    info: PrekeyInfo,
    // Boxed so that moving a `PrekeySecret` (in the ring's vector) moves a
    // pointer, not a copy of the key that would stay behind un-wiped.
    secret: Box<<Kem as hpke::Kem>::PrivateKey>,
    public: Vec<u8>,
}

impl PrekeySecret {
    fn generate(id: u32, now: Timestamp, policy: PrekeyPolicy, rng: &mut impl CryptoRng) -> PrekeySecret {
        let (secret, public) = Kem::gen_keypair_with_rng(rng);
        PrekeySecret {
            info: PrekeyInfo { id, created_at: now, expires: policy.expires(now), delete_at: policy.delete_at(now) },
            secret: Box::new(secret),
            public: public.to_bytes().to_vec(),
        }
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.info.id
    }

    /// Id and schedule.
    pub fn info(&self) -> PrekeyInfo {
        self.info
    }

    /// The X-Wing encapsulation (public) key, [`XWING_PUBLIC_KEY_BYTES`] bytes.
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// The stored form, for the node's key store only (an owner-only file):
    /// `id:u32 ‖ created_at:u64 ‖ expires:u64 ‖ delete_at:u64 ‖ secret:[u8; 32]`,
    /// integers big-endian, in a buffer that zeroizes on drop.
    pub fn to_bytes_secret(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_RECORD_BYTES));
        self.write_secret(&mut out);
        out
    }

    /// Reads [`PrekeySecret::to_bytes_secret`]. The public key is recomputed
    /// from the secret.
    pub fn from_bytes_secret(bytes: &[u8]) -> Result<PrekeySecret, PrekeyError> {
        if bytes.len() != SECRET_RECORD_BYTES {
            return Err(PrekeyError::Malformed("a prekey secret record is 60 bytes"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            Timestamp(u64::from_be_bytes(b))
        };
        let mut id = [0u8; 4];
        id.copy_from_slice(&bytes[..4]);
        let info = PrekeyInfo {
            id: u32::from_be_bytes(id),
            created_at: u64_at(4),
            expires: u64_at(12),
            delete_at: u64_at(20),
        };
        if info.id == 0 || info.created_at > info.expires || info.expires > info.delete_at {
            return Err(PrekeyError::Malformed("prekey id or schedule out of order"));
        }
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes[28..])
            .map_err(|_| PrekeyError::Malformed("bad X-Wing secret key"))?;
        let public = Kem::sk_to_pk(&secret).to_bytes().to_vec();
        Ok(PrekeySecret { info, secret: Box::new(secret), public })
    }

    fn write_secret(&self, out: &mut Zeroizing<Vec<u8>>) {
        out.extend_from_slice(&self.info.id.to_be_bytes());
        out.extend_from_slice(&self.info.created_at.0.to_be_bytes());
        out.extend_from_slice(&self.info.expires.0.to_be_bytes());
        out.extend_from_slice(&self.info.delete_at.0.to_be_bytes());
        let mut key = Zeroizing::new([0u8; SECRET_KEY_BYTES]);
        self.secret.write_exact(&mut key[..]);
        out.extend_from_slice(&key[..]);
    }

    pub(crate) fn secret(&self) -> &<Kem as hpke::Kem>::PrivateKey {
        &self.secret
    }
}

impl fmt::Debug for PrekeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeySecret")
            .field("id", &self.info.id)
            .field("created_at", &self.info.created_at)
            .field("expires", &self.info.expires)
            .field("delete_at", &self.info.delete_at)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What [`PrekeyRing::rotate`] did, for the node's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The prekey made, if the newest one was due for rotation.
    pub created: Option<PrekeyInfo>,
    /// The secrets deleted, oldest first.
    pub deleted: Vec<PrekeyInfo>,
}

/// A node's prekey secrets, oldest first, and the next id to hand out.
/// Ids start at 1 and only grow, so the ring can tell a deleted prekey
/// ([`crate::OpenError::PrekeyExpired`]) from one it never made
/// ([`crate::OpenError::UnknownPrekey`]).
pub struct PrekeyRing {
    keys: Vec<PrekeySecret>,
    next_id: u32,
}

impl Default for PrekeyRing {
    fn default() -> Self {
        PrekeyRing::new()
    }
}

/// Why a ring has no secret for an envelope's prekey id.
pub(crate) enum Missing {
    /// The ring made it, and it is past `delete_at` (or deleted).
    Expired,
    /// The ring never made it.
    Unknown,
}

impl PrekeyRing {
    /// An empty ring. Call [`PrekeyRing::rotate`] to make the first prekey.
    pub fn new() -> PrekeyRing {
        PrekeyRing { keys: Vec::new(), next_id: 1 }
    }

    /// The id the next prekey will take.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Moves the next id past `used`, an id this ring may have given out
    /// and lost (its store was put back to an older copy, and a bundle
    /// naming `used` was published since), so that no id is ever made
    /// twice with two keys. Returns whether the ring changed (persist it).
    pub fn roll_forward(&mut self, used: u32) -> bool {
        match used.checked_add(1) {
            Some(next) if next > self.next_id => {
                self.next_id = next;
                true
            }
            _ => false,
        }
    }

    /// Makes a new prekey if the ring is empty or its newest prekey is at
    /// least `policy.rotate_every()` old, then deletes every secret whose
    /// `delete_at` has come (and, beyond [`MAX_RING_KEYS`], the oldest). The
    /// newest prekey is never deleted. Returns what changed, for the log; the
    /// caller persists the ring and publishes a new bundle when anything did.
    pub fn rotate(&mut self, now: Timestamp, rng: &mut impl CryptoRng, policy: PrekeyPolicy) -> Rotation {
        let mut rotation = Rotation::default();
        let due = self.keys.last().is_none_or(|newest| newest.info.created_at.plus(policy.rotate_every) <= now);
        if due {
            let id = self.next_id;
            // Ids never run out in practice (one an hour at most lasts
            // 490,000 years); wrapping keeps this total.
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            let key = PrekeySecret::generate(id, now, policy, rng);
            rotation.created = Some(key.info);
            self.keys.push(key);
        }
        let newest = self.keys.len().saturating_sub(1);
        let mut kept = Vec::with_capacity(self.keys.len());
        for (index, key) in self.keys.drain(..).enumerate() {
            let over_cap = newest - index >= MAX_RING_KEYS;
            if index != newest && (key.info.delete_at <= now || over_cap) {
                rotation.deleted.push(key.info);
                // `key` drops here, and its secret is zeroized.
            } else {
                kept.push(key);
            }
        }
        self.keys = kept;
        rotation
    }

    /// The ids and schedules of the secrets held, oldest first.
    pub fn prekeys(&self) -> Vec<PrekeyInfo> {
        self.keys.iter().map(|k| k.info).collect()
    }

    /// The newest prekey, if any.
    pub fn newest(&self) -> Option<&PrekeySecret> {
        self.keys.last()
    }

    /// The public bundle to sign and publish: the prekeys senders may still
    /// use at `now` (not yet expired), newest first, at most
    /// [`MAX_PREKEYS`]. It expires with its newest prekey.
    pub fn bundle(
        &self,
        state: StateCode,
        node_id: NodeId,
        seq: u64,
        now: Timestamp,
    ) -> Result<PrekeyBundle, PrekeyError> {
        let prekeys: Vec<Prekey> = self
            .keys
            .iter()
            .rev()
            .filter(|k| k.info.expires > now)
            .take(MAX_PREKEYS)
            .map(|k| Prekey { id: k.info.id, public: k.public.clone(), expires: k.info.expires })
            .collect();
        let expires = prekeys.iter().map(|p| p.expires).max().ok_or(PrekeyError::NoUsablePrekey)?;
        Ok(PrekeyBundle { state, node: node_id, seq, issued_at: now, expires, prekeys })
    }

    /// The secret for `id`, if it may still open envelopes at `now`.
    pub(crate) fn secret_for(&self, id: u32, now: Timestamp) -> Result<&PrekeySecret, Missing> {
        match self.keys.iter().find(|k| k.info.id == id) {
            Some(k) if k.info.delete_at > now => Ok(k),
            Some(_) => Err(Missing::Expired),
            None if id != 0 && id < self.next_id => Err(Missing::Expired),
            None => Err(Missing::Unknown),
        }
    }

    /// The stored form, for the node's key store only (an owner-only file),
    /// in a buffer that zeroizes on drop:
    /// `format:u8 = 1 ‖ next_id:u32 ‖ count:u8 ‖ count × prekey secret`
    /// (see [`PrekeySecret::to_bytes_secret`]), integers big-endian.
    pub fn to_bytes_secret(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(RING_HEADER_BYTES + self.keys.len() * SECRET_RECORD_BYTES));
        out.push(RING_FORMAT);
        out.extend_from_slice(&self.next_id.to_be_bytes());
        // `rotate` keeps at most MAX_RING_KEYS (< 256) keys, and `from_bytes_secret`
        // reads no more.
        out.push(self.keys.len() as u8);
        for key in &self.keys {
            key.write_secret(&mut out);
        }
        out
    }

    /// Reads [`PrekeyRing::to_bytes_secret`]. The length is checked before
    /// anything is decoded.
    pub fn from_bytes_secret(bytes: &[u8]) -> Result<PrekeyRing, PrekeyError> {
        if bytes.len() < RING_HEADER_BYTES || bytes.len() > RING_HEADER_BYTES + MAX_RING_KEYS * SECRET_RECORD_BYTES {
            return Err(PrekeyError::Malformed("stored ring has an impossible length"));
        }
        if bytes[0] != RING_FORMAT {
            return Err(PrekeyError::Malformed("unknown stored ring format"));
        }
        let next_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let count = bytes[5] as usize;
        let records = &bytes[RING_HEADER_BYTES..];
        if count > MAX_RING_KEYS || records.len() != count * SECRET_RECORD_BYTES {
            return Err(PrekeyError::Malformed("stored ring count does not match its length"));
        }
        let mut keys: Vec<PrekeySecret> = Vec::with_capacity(count);
        for record in records.chunks_exact(SECRET_RECORD_BYTES) {
            let key = PrekeySecret::from_bytes_secret(record)?;
            if keys.last().is_some_and(|prev| prev.info.id >= key.info.id) || key.info.id >= next_id {
                return Err(PrekeyError::Malformed("stored prekey ids are not increasing and below next_id"));
            }
            keys.push(key);
        }
        Ok(PrekeyRing { keys, next_id })
    }
}

impl fmt::Debug for PrekeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeyRing").field("next_id", &self.next_id).field("keys", &self.keys).finish()
    }
}

/// The prekey a sender should seal to: of the bundle's prekeys that are well
/// formed and not expired at `now`, the one that expires last (ties: the
/// highest id). `None` when the bundle offers none.
pub fn select_prekey(bundle: &PrekeyBundle, now: Timestamp) -> Option<&Prekey> {
    bundle
        .prekeys
        .iter()
        .filter(|p| p.expires > now && p.public.len() == XWING_PUBLIC_KEY_BYTES)
        .max_by_key(|p| (p.expires, p.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeedRng;

    const T0: Timestamp = Timestamp(1_790_000_000);

    fn rng(n: u8) -> SeedRng {
        SeedRng::from_seed(Zeroizing::new([n; 32]))
    }

    #[test]
    fn a_ring_rolled_forward_never_makes_an_id_twice() {
        let policy = PrekeyPolicy::default();
        let mut rng = SeedRng::from_seed(Zeroizing::new([9; 32]));
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng, policy);
        assert_eq!(ring.next_id(), 2);
        // Ids up to 5 were published by a copy of this ring since lost.
        assert!(ring.roll_forward(5));
        assert!(!ring.roll_forward(3), "never backwards");
        assert!(!ring.roll_forward(u32::MAX), "no wrap");
        let later = T0.plus(policy.rotate_every());
        assert_eq!(ring.rotate(later, &mut rng, policy).created.map(|p| p.id), Some(6));
        let back = PrekeyRing::from_bytes_secret(&ring.to_bytes_secret()).unwrap();
        assert_eq!(back.next_id(), 7);
    }

    #[test]
    fn xwing_public_key_size_matches_core_limit() {
        assert_eq!(<Kem as hpke::Kem>::PublicKey::size(), XWING_PUBLIC_KEY_BYTES);
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng(1), PrekeyPolicy::default());
        assert_eq!(ring.newest().map(|k| k.public_bytes().len()), Some(XWING_PUBLIC_KEY_BYTES));
    }

    #[test]
    fn rotation_schedule_with_default_policy() {
        let policy = PrekeyPolicy::default();
        let mut ring = PrekeyRing::new();
        let mut r = rng(2);

        let first = ring.rotate(T0, &mut r, policy);
        assert_eq!(first.created.map(|i| i.id), Some(1));
        assert!(first.deleted.is_empty());
        // Not due yet: nothing changes.
        assert_eq!(ring.rotate(T0.plus(7 * DAY - 1), &mut r, policy), Rotation::default());
        // Due: a second prekey.
        let second = ring.rotate(T0.plus(7 * DAY), &mut r, policy);
        assert_eq!(second.created.map(|i| i.id), Some(2));
        ring.rotate(T0.plus(14 * DAY), &mut r, policy);
        assert_eq!(ring.prekeys().iter().map(|p| p.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        // Prekey 1 is deleted 21 days after it was made.
        let later = ring.rotate(T0.plus(21 * DAY), &mut r, policy);
        assert_eq!(later.created.map(|i| i.id), Some(4));
        assert_eq!(later.deleted.iter().map(|p| p.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(later.deleted[0].delete_at, T0.plus(21 * DAY));
        assert_eq!(later.deleted[0].expires, T0.plus(14 * DAY));
    }

    #[test]
    fn a_long_offline_node_keeps_only_a_fresh_prekey() {
        let policy = PrekeyPolicy::default();
        let mut ring = PrekeyRing::new();
        let mut r = rng(3);
        ring.rotate(T0, &mut r, policy);
        let back = ring.rotate(T0.plus(100 * DAY), &mut r, policy);
        assert_eq!(back.created.map(|i| i.id), Some(2));
        assert_eq!(back.deleted.len(), 1);
        assert_eq!(ring.prekeys().len(), 1);
    }

    #[test]
    fn the_ring_is_capped() {
        let policy = PrekeyPolicy::new(HOUR, 365 * DAY).unwrap();
        let mut ring = PrekeyRing::new();
        let mut r = rng(4);
        for h in 0..(MAX_RING_KEYS as u64 + 5) {
            ring.rotate(T0.plus(h * HOUR), &mut r, policy);
        }
        assert_eq!(ring.prekeys().len(), MAX_RING_KEYS);
        assert_eq!(ring.prekeys().last().map(|p| p.id), Some(MAX_RING_KEYS as u32 + 5));
    }

    #[test]
    fn bundle_lists_unexpired_prekeys_newest_first_and_validates() {
        let policy = PrekeyPolicy::default();
        let mut ring = PrekeyRing::new();
        let mut r = rng(5);
        let state: StateCode = "FRA".parse().unwrap();
        let node = NodeId([9u8; 32]);
        assert_eq!(ring.bundle(state, node, 1, T0), Err(PrekeyError::NoUsablePrekey));
        ring.rotate(T0, &mut r, policy);
        ring.rotate(T0.plus(7 * DAY), &mut r, policy);
        ring.rotate(T0.plus(14 * DAY), &mut r, policy);
        // At day 14 prekey 1 has expired for senders (its secret is kept).
        let bundle = ring.bundle(state, node, 7, T0.plus(14 * DAY)).unwrap();
        assert_eq!(bundle.prekeys.iter().map(|p| p.id).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(bundle.expires, T0.plus(28 * DAY));
        assert_eq!(bundle.seq, 7);
        assert_eq!(bundle.validate(), Ok(()));
        assert_eq!(select_prekey(&bundle, T0.plus(14 * DAY)).map(|p| p.id), Some(3));
        assert_eq!(select_prekey(&bundle, T0.plus(28 * DAY)), None);
    }

    #[test]
    fn policy_bounds() {
        assert!(PrekeyPolicy::new(59 * 60, DAY).is_err());
        assert!(PrekeyPolicy::new(DAY, 366 * DAY).is_err());
        assert_eq!(PrekeyPolicy::new(7 * DAY, 14 * DAY), Ok(PrekeyPolicy::default()));
    }

    #[test]
    fn stored_ring_round_trips_and_rejects_garbage() {
        let policy = PrekeyPolicy::default();
        let mut ring = PrekeyRing::new();
        let mut r = rng(6);
        ring.rotate(T0, &mut r, policy);
        ring.rotate(T0.plus(8 * DAY), &mut r, policy);
        let bytes = ring.to_bytes_secret();
        assert_eq!(bytes.len(), RING_HEADER_BYTES + 2 * SECRET_RECORD_BYTES);
        let back = PrekeyRing::from_bytes_secret(&bytes).unwrap();
        assert_eq!(back.prekeys(), ring.prekeys());
        assert_eq!(back.next_id, 3);
        assert_eq!(back.newest().map(|k| k.public_bytes()), ring.newest().map(|k| k.public_bytes()));
        assert_eq!(&back.to_bytes_secret()[..], &bytes[..]);

        let one = ring.newest().unwrap().to_bytes_secret();
        assert_eq!(PrekeySecret::from_bytes_secret(&one).map(|k| k.info()), Ok(ring.newest().unwrap().info()));

        assert!(PrekeyRing::from_bytes_secret(&bytes[..bytes.len() - 1]).is_err());
        assert!(PrekeyRing::from_bytes_secret(&[]).is_err());
        assert!(PrekeyRing::from_bytes_secret(&vec![1u8; 1 << 20]).is_err());
        let mut wrong_count = bytes.to_vec();
        wrong_count[5] = 3;
        assert!(PrekeyRing::from_bytes_secret(&wrong_count).is_err());
        let mut ids_out_of_order = bytes.to_vec();
        ids_out_of_order[1..5].copy_from_slice(&2u32.to_be_bytes());
        assert!(PrekeyRing::from_bytes_secret(&ids_out_of_order).is_err());
    }

    #[test]
    fn secrets_never_print() {
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng(7), PrekeyPolicy::default());
        let stored = ring.newest().unwrap().to_bytes_secret();
        let secret_hex = hex::encode(&stored[28..]);
        for shown in [format!("{ring:?}"), format!("{:?}", ring.newest().unwrap()), format!("{ring:#?}")] {
            assert!(shown.contains("<redacted>"), "{shown}");
            assert!(!shown.contains(&secret_hex), "{shown}");
            assert!(!shown.to_lowercase().contains(&secret_hex[..16]), "{shown}");
        }
    }

    #[test]
    fn secret_lookup_distinguishes_deleted_from_unknown() {
        let policy = PrekeyPolicy::default();
        let mut ring = PrekeyRing::new();
        let mut r = rng(8);
        ring.rotate(T0, &mut r, policy);
        assert!(ring.secret_for(1, T0.plus(21 * DAY - 1)).is_ok());
        assert!(matches!(ring.secret_for(1, T0.plus(21 * DAY)), Err(Missing::Expired)));
        assert!(matches!(ring.secret_for(2, T0), Err(Missing::Unknown)));
        assert!(matches!(ring.secret_for(0, T0), Err(Missing::Unknown)));
        ring.rotate(T0.plus(30 * DAY), &mut r, policy);
        assert!(matches!(ring.secret_for(1, T0.plus(30 * DAY)), Err(Missing::Expired)));
        assert!(ring.secret_for(2, T0.plus(30 * DAY)).is_ok());
    }
}
