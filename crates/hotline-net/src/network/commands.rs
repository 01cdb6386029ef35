//! The node's commands, run on the network task.

use super::*;

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { data, reply } => {
                let result = self.publish(data);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
                    }
                    None => {
                        if let Err(e) = result {
                            warn!(error = %e, "cannot publish on gossip; sync will carry the object");
                        }
                    }
                }
            }
            Command::ReportGossip { message_id, source, verdict } => {
                if let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut()
                    && !gossipsub.report_message_validation_result(&message_id, &source, verdict.into())
                {
                    // Already expired from the cache: nothing left to forward.
                    debug!(%message_id, "gossip verdict for a message no longer cached");
                }
            }
            Command::SyncRequest { peer, request, reply } => {
                if self.is_refused(&peer) {
                    let _ = reply.send(Err(NetError::Blocked(peer)));
                    return;
                }
                let side = self.sync_side(&peer);
                let behaviour = self.swarm.behaviour_mut();
                let id = match side {
                    Audience::Members => behaviour.sync.inner_mut().send_request(&peer, request),
                    Audience::Strangers => behaviour.stranger_sync.inner_mut().send_request(&peer, request),
                };
                self.pending_sync.insert((side, id), (peer, reply));
            }
            Command::RespondSync { reply, response } => {
                let peer = reply.peer;
                // The channel answers on the stream it came from, whichever
                // of the two sync behaviours read it.
                if self.swarm.behaviour_mut().sync.inner_mut().send_response(reply.channel, response).is_err() {
                    debug!(%peer, "sync response not sent: the request timed out or the connection closed");
                }
            }
            Command::Deliver { peer, request, reply } => self.deliver(peer, request, reply),
            Command::RespondDeliver { reply, response } => {
                let peer = reply.peer;
                if self.swarm.behaviour_mut().deliver.inner_mut().send_response(reply.channel, response).is_err() {
                    debug!(%peer, "deliver response not sent: the request timed out or the connection closed");
                }
            }
            Command::SetMembers { members, reply } => {
                self.set_members(members);
                let _ = reply.send(());
            }
            Command::Block { peer, reply } => {
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                let _ = reply.send(());
            }
            Command::Unblock { peer, reply } => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                let _ = reply.send(());
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetError::Dial { target: addr.to_string(), reason: e.to_string() });
                let _ = reply.send(result);
            }
            Command::DialPeer { peer, reply } => {
                let _ = reply.send(self.dial_peer(peer));
            }
            Command::DialKnown { peers, max, reply } => {
                let _ = reply.send(self.dial_known(peers, max));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.connected_peers());
            }
            Command::GossipPeers { reply } => {
                let topic = self.topic.clone();
                let peers = match self.swarm.behaviour().gossipsub.as_ref() {
                    Some(g) => g.all_peers().filter(|(_, topics)| topics.contains(&&topic)).map(|(p, _)| *p).collect(),
                    None => Vec::new(),
                };
                let _ = reply.send(peers);
            }
            // Handled in `run`, which owns the loop.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    pub(super) fn publish(&mut self, data: Vec<u8>) -> Result<(), NetError> {
        let topic = self.topic.clone();
        let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() else {
            debug!("gossip is off; not publishing");
            return Ok(());
        };
        match gossipsub.publish(topic, data) {
            Ok(id) => {
                trace!(message_id = %id, "published");
                Ok(())
            }
            // A small or empty mesh is normal (first node, partitions): sync
            // will carry the object, so the publish is not a failure.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                debug!("published with no subscribed peer; sync will catch up");
                Ok(())
            }
            Err(gossipsub::PublishError::AllQueuesFull(n)) => {
                debug!(peers = n, "publish queues full; sync will catch up");
                Ok(())
            }
            // Content-addressed ids: the same bytes were published or
            // received recently, so the network already has them.
            Err(gossipsub::PublishError::Duplicate) => {
                debug!("object already gossiped recently");
                Ok(())
            }
            Err(e) => Err(NetError::Publish(e.to_string())),
        }
    }

    pub(super) fn deliver(
        &mut self,
        peer: PeerId,
        request: DeliverRequest,
        reply: oneshot::Sender<Result<DeliverResponse, NetError>>,
    ) {
        // request-response dials known addresses by itself, but fails at
        // once when there are none; `dial_peer` also starts a Kademlia
        // lookup then, so a retry finds the peer. When `dial_peer` does
        // dial, request-response's own dial yields to it and the request
        // waits for that connection.
        match self.dial_peer(peer) {
            Ok(()) => {}
            Err(NetError::Dial { reason, .. }) => {
                let _ = reply.send(Err(NetError::Deliver { peer, reason: format!("cannot dial: {reason}") }));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        }
        let id = self.swarm.behaviour_mut().deliver.inner_mut().send_request(&peer, request.clone());
        self.pending_deliver.insert(id, PendingDeliver { request, moved: false, reply });
    }

    pub(super) fn dial_peer(&mut self, peer: PeerId) -> Result<(), NetError> {
        if self.is_refused(&peer) {
            return Err(NetError::Blocked(peer));
        }
        if self.swarm.is_connected(&peer) {
            return Ok(());
        }
        match self.swarm.dial(DialOpts::peer_id(peer).build()) {
            // A dial to it is already under way.
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => Ok(()),
            Err(DialError::NoAddresses) => {
                // Ask the members' routing tables; dialled when found.
                let now = Instant::now();
                self.looked_up.retain(|_, at| now.duration_since(*at) < LOOKUP_INTERVAL);
                if !self.wanted.contains(&peer) && !self.looked_up.contains_key(&peer) {
                    self.looked_up.insert(peer, now);
                    self.wanted.insert(peer);
                    self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                }
                Ok(())
            }
            Err(e) => Err(NetError::Dial { target: peer.to_string(), reason: e.to_string() }),
        }
    }

    pub(super) fn dial_known(&mut self, peers: Vec<PeerId>, max: usize) -> usize {
        let mut started = 0;
        for peer in peers {
            if started >= max {
                break;
            }
            if self.is_refused(&peer) || self.swarm.is_connected(&peer) {
                continue;
            }
            match self.swarm.dial(DialOpts::peer_id(peer).build()) {
                Ok(()) => started += 1,
                Err(DialError::NoAddresses | DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => debug!(%peer, error = %e, "cannot dial member"),
            }
        }
        started
    }

    pub(super) fn connected_peers(&self) -> Vec<PeerInfo> {
        let gossipsub = self.swarm.behaviour().gossipsub.as_ref();
        let now = Instant::now();
        self.peers
            .iter()
            .map(|(peer, state)| PeerInfo {
                peer: *peer,
                addrs: state.conns.values().cloned().collect(),
                rtt: state.rtt,
                silent_for: self.links.last_heard(peer).map_or(Duration::ZERO, |at| now.duration_since(at)),
                member: self.is_member(peer),
                gossip_score: gossipsub.and_then(|g| g.peer_score(peer)),
            })
            .collect()
    }
}
