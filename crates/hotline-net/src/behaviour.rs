//! The composed libp2p behaviour and how the swarm is built.

use crate::budget::ByteBudget;
use crate::config::NetConfig;
use crate::deliver::{DeliverCodec, deliver_protocol};
use crate::error::NetError;
use crate::gate::Gate;
use crate::offered_only::OfferedOnly;
use crate::sync::{SyncCodec, sync_protocol};
use crate::transport;
use hotline_core::NetworkId;
use hotline_core::keys::sha256;
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, Swarm, SwarmBuilder, allow_block_list, gossipsub, identify, kad, ping, request_response};
use std::sync::Arc;
use std::time::Duration;

/// Largest gossip message. Directory objects are at most 16 KiB; the
/// margin covers gossipsub's own framing.
pub const MAX_GOSSIP_BYTES: usize = 64 * 1024;

/// Most deliver streams, inbound and outbound together, on one connection.
pub(crate) const MAX_DELIVER_STREAMS: usize = 512;

/// Most sync streams, inbound and outbound together, on one connection
/// with a member (request-response's default).
const MAX_SYNC_STREAMS: usize = 100;

/// Most sync streams on one connection with a stranger: it has only its
/// own state's few objects to present.
const MAX_STRANGER_SYNC_STREAMS: usize = 8;

/// The byte budgets request frames are read within.
pub(crate) struct ReadBudgets {
    /// Deliver frames (members only).
    pub deliver: Arc<ByteBudget>,
    /// Sync frames from members.
    pub sync: Arc<ByteBudget>,
    /// Sync frames from strangers.
    pub stranger_sync: Arc<ByteBudget>,
}

/// Application score given to connected peers that are not members. It
/// puts them far below gossipsub's graylist threshold, so we neither
/// publish nor forward to them and ignore what they send.
pub(crate) const STRANGER_SCORE: f64 = -1000.0;

/// Every protocol a Hotline node speaks, in one behaviour.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Operator block list (partition tests, abusive peers).
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Strangers whose grace window expired, refused while they cool down.
    pub cooling: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub limits: Gate,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: Toggle<gossipsub::Behaviour>,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Sync on connections with members, within the members' byte budget.
    pub sync: OfferedOnly<request_response::Behaviour<SyncCodec>>,
    /// The same protocol on connections with strangers, within a smaller
    /// budget of its own (see [`OfferedOnly`]).
    pub stranger_sync: OfferedOnly<request_response::Behaviour<SyncCodec>>,
    /// Offered only on connections with members (see [`OfferedOnly`]).
    pub deliver: OfferedOnly<request_response::Behaviour<DeliverCodec>>,
}

/// `/hotline/<netid>/1`, the identify protocol version. A peer announcing
/// another one belongs to another network and is dropped.
pub fn identify_version(network: &NetworkId) -> String {
    format!("/hotline/{network}/1")
}

/// The directory gossip topic: `hotline/<netid>/directory/1`.
pub fn directory_topic(network: &NetworkId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("hotline/{network}/directory/1"))
}

/// The Kademlia protocol name: `/hotline/<netid>/kad/1`.
pub fn kad_protocol(network: &NetworkId) -> StreamProtocol {
    protocol(format!("/hotline/{network}/kad/1"))
}

fn protocol(name: String) -> StreamProtocol {
    // Names built here always start with '/', the only requirement.
    StreamProtocol::try_from_owned(name).unwrap_or_else(|_| StreamProtocol::new("/hotline/invalid"))
}

/// Content-addressed message id: SHA-256 of the data. The same object
/// published by two nodes is one message, and a republished object is a
/// duplicate rather than new traffic.
fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::new(&sha256(&message.data))
}

/// How long gossipsub keeps a message it may still have to forward or
/// answer an IWANT for, however short the heartbeat.
const MESSAGE_CACHE_TIME: Duration = Duration::from_secs(5);

/// Heartbeats in [`MESSAGE_CACHE_TIME`]; never fewer than gossipsub's
/// default of five (nor than the three it gossips about).
fn history_length(heartbeat: Duration) -> usize {
    let beats = MESSAGE_CACHE_TIME.as_millis().div_ceil(heartbeat.as_millis().max(1));
    usize::try_from(beats).unwrap_or(usize::MAX).clamp(5, 1000)
}

fn gossipsub_behaviour(keypair: &Keypair, config: &NetConfig) -> Result<gossipsub::Behaviour, NetError> {
    let network = &config.network;
    let gossip_config = gossipsub::ConfigBuilder::default()
        // Our own protocol id, so gossipsub never even talks across networks.
        .protocol_id_prefix(format!("/hotline/{network}/meshsub"))
        // Signed messages with author and seqno, all checked.
        .validation_mode(gossipsub::ValidationMode::Strict)
        // Nothing is forwarded before the node's `Directory::apply` accepted it.
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(config.gossip_heartbeat)
        // The message cache lives for `history_length` heartbeats, and a
        // message whose verdict comes after it left is never forwarded. Our
        // verdict waits for `Directory::apply` in a node that may be busy
        // (a newcomer's sync, hundreds of peers), so keep messages for about
        // MESSAGE_CACHE_TIME rather than the default five short heartbeats.
        .history_length(history_length(config.gossip_heartbeat))
        // Build the mesh soon after start instead of after the 5 s default.
        .heartbeat_initial_delay(Duration::from_millis(100))
        .build()
        .map_err(|e| NetError::Setup(format!("gossipsub config: {e}")))?;
    let mut behaviour =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(keypair.clone()), gossip_config)
            .map_err(|e| NetError::Setup(format!("gossipsub: {e}")))?;
    let topic = directory_topic(network);
    let (params, thresholds) = score_params(&topic);
    behaviour.with_peer_score(params, thresholds).map_err(|e| NetError::Setup(format!("gossipsub scoring: {e}")))?;
    behaviour.subscribe(&topic).map_err(|e| NetError::Setup(format!("gossipsub subscribe: {e}")))?;
    Ok(behaviour)
}

/// Peer scoring tuned for a small, permissioned, low-traffic topic.
///
/// - Rejected messages (P4) weigh heavily and decay slowly: two invalid
///   objects put a peer under the publish threshold, three under graylist.
/// - Mesh delivery-rate penalties (P3, P3b) are off: the directory topic is
///   quiet for hours, and gossipsub would punish honest, silent peers.
/// - IP colocation (P6) is off: membership comes from admissions, not IPs,
///   and tests and benchmarks run every node on 127.0.0.1.
/// - The application score (P5) marks strangers (see [`STRANGER_SCORE`]).
fn score_params(topic: &gossipsub::IdentTopic) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P1: up to +1 for a peer that stays in the mesh for 10 minutes.
        time_in_mesh_weight: 0.1,
        time_in_mesh_quantum: Duration::from_secs(60),
        time_in_mesh_cap: 10.0,
        // P2: up to +5 for delivering new objects first.
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: -20 × count², count decaying with a half-life of about 2 min.
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.995,
        ..Default::default()
    };
    let mut params =
        gossipsub::PeerScoreParams { app_specific_weight: 1.0, ip_colocation_factor_weight: 0.0, ..Default::default() };
    params.topics.insert(topic.hash(), topic_params);
    (params, gossipsub::PeerScoreThresholds::default())
}

fn build_behaviour(keypair: &Keypair, config: &NetConfig, budgets: &ReadBudgets) -> Result<Behaviour, NetError> {
    let network = &config.network;
    let local = keypair.public().to_peer_id();

    let identify = identify::Behaviour::new(
        identify::Config::new(identify_version(network), keypair.public())
            // With this run's boot id: a peer restarted is told apart from a
            // second connection of the same run (crate::links).
            .with_agent_version(config.boot_id.agent_version())
            // Tell members at once when our listen addresses change.
            .with_push_listen_addr_updates(true),
    );

    let mut kad_config = kad::Config::new(kad_protocol(network));
    // Only members enter the routing table (we add them); a stranger that
    // merely connects is not advertised to others.
    kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
    // Kademlia is for peer routing only: never store others' records.
    kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
    // The routing table is fed from identify on member connections, so the
    // periodic random walks (every 5 min by default) would find nothing new.
    // They would only open connections, to every member in turn, and
    // gossipsub's long-lived streams keep each of them open for good.
    kad_config.set_periodic_bootstrap_interval(None);
    let mut kad = kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kad_config);
    // Without a confirmed external address Kademlia stays a client and
    // refuses inbound queries; members must answer each other.
    kad.set_mode(Some(kad::Mode::Server));

    let sync = |budget: &Arc<ByteBudget>, streams: usize| {
        request_response::Behaviour::with_codec(
            SyncCodec::with_budget(Arc::clone(budget)),
            [(sync_protocol(network), request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.sync_timeout)
                .with_max_concurrent_streams(streams),
        )
    };

    // Envelopes are independent of each other, so many may be in flight to
    // one peer at once (the default of 100 streams would fail the rest).
    let deliver = request_response::Behaviour::with_codec(
        DeliverCodec::with_budget(Arc::clone(&budgets.deliver)),
        [(deliver_protocol(network), request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.deliver_timeout)
            .with_max_concurrent_streams(MAX_DELIVER_STREAMS),
    );

    let gossipsub = if config.gossip { Some(gossipsub_behaviour(keypair, config)?) } else { None };

    Ok(Behaviour {
        blocked: Default::default(),
        cooling: Default::default(),
        limits: Gate::new(config.limits),
        identify,
        // Pings feed the dead-link rule (crate::links); a ping may take up
        // to the whole bound before it counts as failed.
        ping: ping::Behaviour::new(
            ping::Config::new().with_interval(config.ping_interval).with_timeout(config.dead_link_after),
        ),
        gossipsub: Toggle::from(gossipsub),
        kad,
        sync: OfferedOnly::to_members(sync(&budgets.sync, MAX_SYNC_STREAMS)),
        stranger_sync: OfferedOnly::to_strangers(sync(&budgets.stranger_sync, MAX_STRANGER_SYNC_STREAMS)),
        deliver: OfferedOnly::to_members(deliver),
    })
}

/// Builds the swarm: TCP with Noise and Yamux, plus QUIC, on tokio, with
/// the dead-link timers of [`crate::transport`].
pub(crate) fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    budgets: &ReadBudgets,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let mut behaviour_error = None;
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic_config(|quic| transport::quic_config(quic, config))
        .with_other_transport(|key| transport::tcp_transport(key, config))
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| match build_behaviour(key, config, budgets) {
            Ok(b) => Ok(b),
            Err(e) => {
                let text = e.to_string();
                behaviour_error = Some(e);
                Err(text.into())
            }
        })
        .map_err(|e| behaviour_error.take().unwrap_or_else(|| setup(&e)))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .with_connection_timeout(config.handshake_timeout)
        .build();
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_cache_spans_about_five_seconds_of_heartbeats() {
        assert_eq!(history_length(Duration::from_millis(150)), 34);
        // Gossipsub's own default heartbeat keeps its default of five.
        assert_eq!(history_length(Duration::from_secs(1)), 5);
        assert_eq!(history_length(Duration::from_secs(30)), 5);
        // A zero heartbeat (rejected by gossipsub anyway) does not divide by zero.
        assert_eq!(history_length(Duration::ZERO), 1000);
    }
}
