//! The network's configuration.

use crate::error::NetError;
use crate::gate::GateLimits;
use crate::links::BootId;
use hotline_core::{NetworkId, SecretKey};
use libp2p::{Multiaddr, PeerId};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// Everything [`crate::Network::spawn`] needs. Build it with
/// [`NetConfig::new`], then adjust the public fields.
pub struct NetConfig {
    /// The node's Ed25519 seed. Private, zeroized on drop and never printed.
    node_seed: Zeroizing<[u8; 32]>,
    /// The network id (hash of the charter). It is part of every protocol
    /// name and of the gossip topic, so two networks never exchange data.
    pub network: NetworkId,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4100` and
    /// `/ip4/0.0.0.0/udp/4100/quic-v1`. Port 0 picks a free port; the bound
    /// addresses arrive as [`crate::NetEvent::ListeningOn`].
    pub listen: Vec<Multiaddr>,
    /// Addresses dialled once at start (from the charter and the config).
    pub bootstrap: Vec<Multiaddr>,
    /// Peers allowed to stay connected from the start. The node replaces the
    /// set with [`crate::NetworkHandle::set_members`] whenever its directory
    /// changes.
    pub members: BTreeSet<PeerId>,
    /// How long a connection with no open stream stays up. libp2p's default
    /// (10 s) would drop every peer that is not in our gossip mesh, so sync
    /// and delivery would keep redialling; one hour keeps the member mesh
    /// stable.
    pub idle_connection_timeout: Duration,
    /// How long a connected peer that is not a member may stay, so that it
    /// can present its admission and record through sync.
    pub grace: Duration,
    /// After its grace window expired, how long a stranger is refused before
    /// it may try again (so reconnecting does not buy a new window at once).
    pub stranger_cooldown: Duration,
    /// Whether to join the directory gossip topic. Off, the node relies on
    /// sync alone (the late-joiner test needs this).
    pub gossip: bool,
    /// Gossipsub heartbeat: how often the mesh is maintained. Mesh
    /// formation takes about one heartbeat after peers subscribe.
    pub gossip_heartbeat: Duration,
    /// Timeout of one sync request, from sending to the full response.
    pub sync_timeout: Duration,
    /// Timeout of one deliver request, from sending the envelope to the
    /// receipt or refusal. It also bounds how long the receiving node may
    /// take to answer before the request fails.
    pub deliver_timeout: Duration,
    /// The connection limits ([`GateLimits`]): per source IP for
    /// handshakes, per peer for everyone, and a global cap that only
    /// strangers share.
    pub limits: GateLimits,
    /// How long a connection may take from its first byte to a finished
    /// handshake (Noise and the multiplexer) before it is dropped. libp2p's
    /// default is 10 s; a handshake takes a few round trips, so a shorter
    /// bound frees the slots of peers that trickle bytes sooner.
    pub handshake_timeout: Duration,
    /// Most bytes of inbound request frames being read at once, from all
    /// members together: one budget of this size for deliver frames
    /// (members only) and one for members' sync frames.
    pub inbound_read_bytes: usize,
    /// Most bytes of sync request frames from strangers being read at once,
    /// from all strangers together: a budget of their own, so what they
    /// hold never delays members' sync exchanges.
    pub inbound_stranger_sync_bytes: usize,
    /// Most bytes of inbound requests read and waiting for, or being
    /// handled by, the node (the backlog, the event channel, envelopes
    /// being opened), from all peers together.
    pub inbound_queued_bytes: usize,
    /// Capacity of the command channel (handle → network task) and of the
    /// event channel (network task → node).
    pub channel_capacity: usize,
    /// How often each end pings the other on every connection. It also
    /// paces QUIC's keep-alives. See [`crate::links`].
    pub ping_interval: Duration,
    /// A connection on which nothing answered a ping for this long is
    /// closed as dead. It is also QUIC's idle timeout and TCP's user
    /// timeout, so every layer gives up on a silent peer at about the same
    /// time. Keep it at least three ping intervals, so one slow answer does
    /// not close a healthy link.
    pub dead_link_after: Duration,
    /// This run's boot id, announced in identify ([`crate::links`]).
    pub boot_id: BootId,
}

impl NetConfig {
    /// A configuration for the node key `node_key` in `network`, with no
    /// listen or bootstrap address and default timings.
    pub fn new(node_key: &SecretKey, network: NetworkId) -> NetConfig {
        NetConfig::from_seed(node_key.to_seed(), network)
    }

    /// Like [`NetConfig::new`], from the raw 32-byte Ed25519 seed.
    pub fn from_seed(seed: Zeroizing<[u8; 32]>, network: NetworkId) -> NetConfig {
        NetConfig {
            node_seed: seed,
            network,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            members: BTreeSet::new(),
            idle_connection_timeout: Duration::from_secs(3600),
            grace: Duration::from_secs(10),
            stranger_cooldown: Duration::from_secs(60),
            gossip: true,
            gossip_heartbeat: Duration::from_millis(150),
            sync_timeout: Duration::from_secs(30),
            deliver_timeout: Duration::from_secs(10),
            limits: GateLimits::default(),
            handshake_timeout: Duration::from_secs(5),
            inbound_read_bytes: 32 * 1024 * 1024,
            inbound_stranger_sync_bytes: 8 * 1024 * 1024,
            inbound_queued_bytes: 64 * 1024 * 1024,
            channel_capacity: 256,
            ping_interval: Duration::from_secs(4),
            dead_link_after: Duration::from_secs(12),
            boot_id: BootId::random(),
        }
    }

    /// The libp2p identity for the seed. `ed25519_from_bytes` zeroizes the
    /// buffer it is given, so it gets a copy that lives only here.
    pub(crate) fn keypair(&self) -> Result<libp2p::identity::Keypair, NetError> {
        let mut seed = Zeroizing::new(*self.node_seed);
        libp2p::identity::Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|e| NetError::BadKey(e.to_string()))
    }
}

impl fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetConfig")
            .field("node_seed", &"<redacted>")
            .field("network", &self.network)
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("members", &self.members.len())
            .field("idle_connection_timeout", &self.idle_connection_timeout)
            .field("grace", &self.grace)
            .field("stranger_cooldown", &self.stranger_cooldown)
            .field("gossip", &self.gossip)
            .field("gossip_heartbeat", &self.gossip_heartbeat)
            .field("sync_timeout", &self.sync_timeout)
            .field("deliver_timeout", &self.deliver_timeout)
            .field("limits", &self.limits)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("inbound_read_bytes", &self.inbound_read_bytes)
            .field("inbound_stranger_sync_bytes", &self.inbound_stranger_sync_bytes)
            .field("inbound_queued_bytes", &self.inbound_queued_bytes)
            .field("channel_capacity", &self.channel_capacity)
            .field("ping_interval", &self.ping_interval)
            .field("dead_link_after", &self.dead_link_after)
            .field("boot_id", &self.boot_id)
            .finish()
    }
}
