//! # hotline-net
//!
//! Hotline's libp2p layer. **Its job:** carry bytes between the nodes of one
//! network. It runs the transports (TCP with Noise and Yamux, and QUIC),
//! identify, ping, Kademlia peer routing among members, directory gossip
//! (gossipsub, strict validation, content-addressed ids), the
//! request-response sync protocol ([`sync`]) and the request-response
//! deliver protocol ([`deliver`]: one sealed envelope in, a receipt or a
//! refusal back); it gates connections so that only members stay connected
//! and only members deliver.
//!
//! **Its edges.** It knows nothing about storage, never decides whether an
//! object is valid and never looks inside an envelope or a receipt. The
//! node (`hotline-node`) owns the `Directory` and the message store:
//! - gossip arrives as [`NetEvent::Gossip`] and is forwarded only after the
//!   node reports [`Verdict::Accept`] with [`NetworkHandle::report_gossip`];
//! - sync requests arrive as [`NetEvent::SyncRequest`] and the node answers
//!   with [`NetworkHandle::respond_sync`];
//! - envelopes from members arrive as [`NetEvent::Deliver`] and the node
//!   answers with [`NetworkHandle::respond_deliver`]; it sends its own with
//!   [`NetworkHandle::deliver`];
//! - the node tells the network who the members are with
//!   [`NetworkHandle::set_members`] (the node ids in current records of
//!   admitted states), and starts syncs on [`NetEvent::PeerConnected`] and
//!   on its own timer.
//!
//! **Shape.** [`Network::spawn`] starts one tokio task that owns the libp2p
//! `Swarm` (an actor). The cloneable [`NetworkHandle`] sends it commands
//! over a bounded channel; answers come back on oneshot channels; events
//! come out of a bounded channel.
//!
//! **Gating.** A connected peer that is not a member gets a grace window
//! ([`NetConfig::grace`]) in which it may sync, so a newly admitted state
//! can present its admission and record. Its gossip is never delivered to
//! the node, and gossipsub neither publishes nor forwards to it. Its
//! envelopes are refused at once with `not_a_member`
//! ([`NetEvent::DeliverRefused`]), grace window or not. When the
//! window ends it is disconnected and refused for
//! [`NetConfig::stranger_cooldown`]. [`NetworkHandle::block`] refuses a peer
//! outright, member or not.
//!
//! **Limits by number** ([`gate`]): handshakes in progress per source IP and
//! in all, connections per peer (strangers and members alike), and a global
//! cap that only strangers share. **Limits by bytes** ([`budget`]):
//! request frames being read, and requests waiting for the node, each
//! against one node-wide budget; every [`NetEvent::Deliver`] and
//! [`NetEvent::SyncRequest`] carries its share as a permit the node holds
//! until it has handled the request. `attack` (feature `attack-tools`)
//! does what an attacker would, for the tests and the benchmark.
//!
//! **Dead links** ([`links`]): every connection is pinged both ways every
//! 4 s and closed after 12 s without an answer; TCP and QUIC get the same
//! bound as keep-alive, user and idle timeouts ([`NetConfig::dead_link_after`]).
//! A peer's connections from before its restart are closed as soon as a
//! new one shows another boot id. Later connections to a connected peer are
//! reported ([`NetEvent::ConnectionAdded`]) so the node can try what waits.
//!
//! Every protocol name and the topic carry the network id:
//! `/hotline/<netid>/sync/4`, `/hotline/<netid>/deliver/1`, `/hotline/<netid>/kad/1`,
//! `/hotline/<netid>/meshsub/1.1.0`, topic `hotline/<netid>/directory/1`,
//! identify protocol version `/hotline/<netid>/1`.
//!
//! **Gossip on the wire.** A gossip message's data is one directory
//! object's wire form (`DirectoryObject::to_bytes`), at most
//! [`MAX_GOSSIP_BYTES`]. Messages are signed by the node key (gossipsub
//! strict mode) and identified by the SHA-256 of the data, so the same
//! object is one message whoever publishes it. The sync protocol's wire
//! format is in [`sync`], the deliver protocol's in [`deliver`].
//!
//! # How the node drives it
//! 1. Spawn with [`NetConfig::members`] set from the stored directory, then
//!    read events in a loop (never stop reading: the network buffers a
//!    bounded backlog, then sheds gossip, sync and deliver requests).
//! 2. After every directory change, call [`NetworkHandle::set_members`] with
//!    the peer ids ([`peer_id_of`]) of the nodes listed in current records
//!    of admitted states.
//! 3. On [`NetEvent::Gossip`]: decode and `Directory::apply`, then
//!    [`NetworkHandle::report_gossip`] with `Accept` (applied), `Ignore`
//!    (duplicate or pending) or `Reject` (invalid).
//! 4. On [`NetEvent::PeerConnected`], and every N seconds with a random
//!    member: send `Digest`, compare, `Fetch` what is newer in batches of at
//!    most [`sync::MAX_BATCH_OBJECTS`], `Push` what the peer lacks. A
//!    stranger (not yet a member) has [`NetConfig::grace`] to do this.
//! 5. On [`NetEvent::SyncRequest`]: answer with
//!    [`NetworkHandle::respond_sync`]; a node may answer `Refused` to
//!    strangers asking for the directory and still accept their `Push`.
//! 6. Publish every object it creates or accepts from the control API with
//!    [`NetworkHandle::publish`]; objects accepted from gossip are already
//!    forwarded by the `Accept` verdict.
//! 7. To send a message: seal it for the recipient node and call
//!    [`NetworkHandle::deliver`] with the recipient's peer id. Many
//!    deliveries may be in flight at once; each resolves to the receiver's
//!    `Receipt` (check it with `DeliveryReceipt`), its typed `Refused`, or
//!    a [`NetError::Deliver`] (unreachable, timeout, dropped, or no address
//!    known yet while a lookup runs), after which the node retries later.
//! 8. On [`NetEvent::Deliver`] (always from a member): open the envelope,
//!    store it, and answer with [`NetworkHandle::respond_deliver`]: a
//!    `Receipt`, the stored one for a duplicate, or `Refused` with a stable
//!    code (for example `OpenError::code`). Answer within
//!    [`NetConfig::deliver_timeout`], or the request fails on the sender's
//!    side. [`NetEvent::DeliverRefused`] needs no action (count it).

#![warn(missing_docs)]

#[cfg(feature = "attack-tools")]
pub mod attack;
mod behaviour;
pub mod budget;
mod config;
pub mod deliver;
mod error;
pub mod frame;
pub mod gate;
pub mod links;
mod network;
mod offered_only;
mod strangers;
pub mod sync;
mod transport;

pub use behaviour::{MAX_GOSSIP_BYTES, directory_topic, identify_version, kad_protocol};
pub use config::NetConfig;
pub use deliver::{DeliverRequest, DeliverResponse, deliver_protocol};
pub use error::NetError;
pub use libp2p::gossipsub::MessageId;
pub use libp2p::{Multiaddr, PeerId};
pub use links::{BootId, LinkCounts};
pub use network::DeliverReply;
pub use network::{InboundBudgets, NetEvent, Network, NetworkHandle, PeerInfo, StrangerCounts, SyncReply, Verdict};
pub use sync::{
    CosignRequest, DigestEntry, DigestSummary, EquivocationReport, SyncRequest, SyncResponse, sync_protocol,
};

use hotline_core::NodeId;

/// The libp2p peer id of a node. Fails only for bytes that are not an
/// Ed25519 public key.
pub fn peer_id_of(node: &NodeId) -> Result<PeerId, NetError> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&node.0)
        .map_err(|_| NetError::BadNodeId(node.to_peer_id()))?;
    Ok(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// The node id behind a peer id, if it is an Ed25519 peer id (every Hotline
/// node's is).
pub fn node_id_of(peer: &PeerId) -> Option<NodeId> {
    NodeId::from_peer_id(&peer.to_base58()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::SecretKey;

    #[test]
    fn libp2p_peer_id_equals_node_id_to_peer_id() {
        for seed in [[1u8; 32], [42u8; 32], [0xfe; 32]] {
            let key = SecretKey::from_seed(&seed);
            let node = key.node_id();
            let mut bytes = seed;
            let keypair =
                libp2p::identity::Keypair::ed25519_from_bytes(&mut bytes[..]).unwrap_or_else(|e| panic!("{e}"));
            let peer = keypair.public().to_peer_id();
            assert_eq!(peer.to_base58(), node.to_peer_id());
            assert_eq!(peer.to_string(), node.to_string());
            assert_eq!(peer_id_of(&node).ok(), Some(peer));
            assert_eq!(node_id_of(&peer), Some(node));
        }
    }

    #[test]
    fn net_config_keypair_matches_the_node_key() {
        let key = SecretKey::from_seed(&[5u8; 32]);
        let config = NetConfig::new(&key, hotline_core::NetworkId([0; 32]));
        let keypair = config.keypair().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keypair.public().to_peer_id().to_base58(), key.node_id().to_peer_id());
        assert!(format!("{config:?}").contains("redacted"));
    }

    #[test]
    fn names_carry_the_network_id() {
        let net = hotline_core::NetworkId([0xab; 32]);
        let hex = "ab".repeat(32);
        assert_eq!(identify_version(&net), format!("/hotline/{hex}/1"));
        assert_eq!(directory_topic(&net).to_string(), format!("hotline/{hex}/directory/1"));
        assert_eq!(kad_protocol(&net).as_ref(), format!("/hotline/{hex}/kad/1"));
        assert_eq!(sync_protocol(&net).as_ref(), format!("/hotline/{hex}/sync/4"));
        assert_eq!(deliver_protocol(&net).as_ref(), format!("/hotline/{hex}/deliver/1"));
    }
}
