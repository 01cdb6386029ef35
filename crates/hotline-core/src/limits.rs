//! Size bounds for everything that can arrive from the network, the disk or a
//! user. Decoders check the outer bound before they allocate; validators check
//! the per-field bounds right after decoding.

/// Largest encoded directory object (admission, record, prekey bundle or
/// revocation), in bytes. A prekey bundle with [`MAX_PREKEYS`] X-Wing keys is
/// the largest legitimate object, at about 10 KiB.
pub const MAX_OBJECT_BYTES: usize = 16 * 1024;
/// Largest encoded charter, in bytes.
pub const MAX_CHARTER_BYTES: usize = 64 * 1024;
/// Longest short text field (organization, position, names, e-mail, phone…), in bytes.
pub const MAX_SHORT_TEXT: usize = 256;
/// Longest long text field (postal address, revocation reason), in bytes.
pub const MAX_LONG_TEXT: usize = 1024;
/// Most entries in any list field of a contact record.
pub const MAX_LIST_ITEMS: usize = 16;
/// Most node ids one contact record may list.
pub const MAX_NODES_PER_RECORD: usize = 16;
/// Most stewards a charter may name.
pub const MAX_STEWARDS: usize = 64;
/// Most roles a charter may declare.
pub const MAX_ROLES: usize = 16;
/// Most bootstrap addresses a charter may carry.
pub const MAX_BOOTSTRAP: usize = 64;
/// Most prekeys in one prekey bundle.
pub const MAX_PREKEYS: usize = 8;
/// Size of an X-Wing encapsulation (public) key, in bytes.
pub const XWING_PUBLIC_KEY_BYTES: usize = 1216;
/// Most objects held in the pending set while they wait for a parent.
pub const MAX_PENDING: usize = 4096;
/// Most waiting objects that one member node may have sent. A stranger's
/// objects never wait at all.
pub const MAX_PENDING_PER_SOURCE: usize = 256;
/// Most waiting objects of one state sent by the nodes of one other
/// state: a state acting in bad faith cannot use up another's share.
pub const MAX_PENDING_PER_SOURCE_STATE: usize = 128;
/// Most waiting objects of one state, whoever sent them.
pub const MAX_PENDING_PER_STATE: usize = 512;
/// How long an object may wait for its parent, in seconds; after that it is
/// dropped, and sync fetches it again if the parent ever arrives.
pub const PENDING_LIFETIME_SECS: u64 = 600;
/// Most equivocating siblings kept as evidence for one directory slot.
pub const MAX_EVIDENCE: usize = 4;
