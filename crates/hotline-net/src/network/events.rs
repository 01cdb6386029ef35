//! What the swarm reports: connections, and each protocol's events.

use super::*;

impl EventLoop {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.emit(NetEvent::ListeningOn(address));
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                let addr = endpoint.get_remote_address().clone();
                self.peers.entry(peer_id).or_default().conns.insert(connection_id, addr.clone());
                self.links.opened(connection_id, peer_id, Instant::now());
                self.on_replacement(peer_id, connection_id);
                if num_established.get() > 1 {
                    self.emit(NetEvent::ConnectionAdded { peer: peer_id, addr });
                    return;
                }
                // Gossipsub has registered the peer by now, so the score
                // sticks. Set it both ways: gossipsub retains scores of
                // disconnected peers for an hour, so a stranger admitted
                // since its last visit must lose its old mark.
                if self.is_member(&peer_id) {
                    debug!(peer = %peer_id, %addr, "member connected");
                    self.set_gossip_score(&peer_id, 0.0);
                } else {
                    debug!(peer = %peer_id, %addr, "stranger connected; grace window");
                    self.set_gossip_score(&peer_id, STRANGER_SCORE);
                    self.stranger_time.connected(peer_id, Instant::now());
                }
                self.emit(NetEvent::PeerConnected { peer: peer_id, addr });
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, cause, .. } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.conns.remove(&connection_id);
                }
                self.links.closed(connection_id);
                self.retiring.remove(&connection_id);
                if let Some(old) = self.replacing.get_mut(&peer_id) {
                    old.retain(|id| *id != connection_id);
                    if old.is_empty() {
                        self.replacing.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    debug!(peer = %peer_id, cause = ?cause, "disconnected");
                    self.peers.remove(&peer_id);
                    self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                debug!(addr = %send_back_addr, %error, "incoming connection failed");
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                debug!(?addresses, ?reason, "listener closed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            other => trace!(event = ?other, "swarm event"),
        }
    }

    pub(super) fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Sync(event) => self.on_sync(Audience::Members, event),
            BehaviourEvent::StrangerSync(event) => self.on_sync(Audience::Strangers, event),
            BehaviourEvent::Deliver(event) => self.on_deliver(event),
            BehaviourEvent::Identify(event) => self.on_identify(event),
            BehaviourEvent::Ping(ping::Event { peer, connection, result }) => match result {
                Ok(rtt) => {
                    self.links.heard(connection, Instant::now());
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.rtt = Some(rtt);
                    }
                    self.emit_sheddable(NetEvent::PingRtt { peer, rtt });
                }
                Err(e) => debug!(%peer, error = %e, "ping failed"),
            },
            BehaviourEvent::Kad(event) => self.on_kad(event),
            BehaviourEvent::Blocked(never) | BehaviourEvent::Cooling(never) | BehaviourEvent::Limits(never) => {
                match never {}
            }
        }
    }

    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                let refuse = if !self.is_member(&propagation_source) {
                    trace!(peer = %propagation_source, "gossip from a non-member ignored");
                    StrangerCounts::bump(&self.strangers.gossip_ignored);
                    true
                } else if message.topic != self.topic {
                    debug!(peer = %propagation_source, topic = %message.topic, "gossip on a foreign topic ignored");
                    true
                } else {
                    let event =
                        NetEvent::Gossip { message_id: message_id.clone(), propagation_source, data: message.data };
                    let queued = self.emit_sheddable(event);
                    if !queued {
                        warn!(%message_id, "node busy: gossip message shed (sync will catch up)");
                    }
                    !queued
                };
                if refuse && let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                    gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Ignore,
                    );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => debug!(peer = %peer_id, %topic, "peer subscribed"),
            gossipsub::Event::Unsubscribed { peer_id, topic } => debug!(peer = %peer_id, %topic, "peer unsubscribed"),
            gossipsub::Event::GossipsubNotSupported { peer_id } => debug!(peer = %peer_id, "peer does not gossip"),
            gossipsub::Event::SlowPeer { peer_id, .. } => debug!(peer = %peer_id, "slow gossip peer"),
        }
    }

    pub(super) fn on_sync(&mut self, side: Audience, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if !self.may_sync(&peer) {
                        // Dropping the channel fails the request on the asker's side.
                        debug!(%peer, "sync request from a stranger past its grace window dropped");
                        return;
                    }
                    let Some(permit) = self.queued.reserve(sync_request_bytes(&request)) else {
                        debug!(%peer, "node busy (queued bytes): sync request dropped");
                        return;
                    };
                    let reply = SyncReply { peer, channel };
                    if !self.emit_sheddable(NetEvent::SyncRequest { peer, request, reply, permit }) {
                        warn!(%peer, "node busy: sync request dropped");
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some((_, reply)) = self.pending_sync.remove(&(side, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                debug!(%peer, %error, "sync request failed");
                if let Some((_, reply)) = self.pending_sync.remove(&(side, request_id)) {
                    let _ = reply.send(Err(NetError::Sync { peer, reason: error.to_string() }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { peer, .. } => trace!(%peer, "sync response sent"),
        }
    }

    pub(super) fn on_deliver(&mut self, event: request_response::Event<DeliverRequest, DeliverResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if !self.is_member(&peer) {
                        // Answered here rather than by the node: a stranger
                        // learns why at once, and the node never handles
                        // envelopes it would refuse anyway.
                        let refusal = DeliverResponse::Refused {
                            code: NOT_A_MEMBER.to_owned(),
                            detail: "the receiving node's member set does not list the sender".to_owned(),
                        };
                        if self.swarm.behaviour_mut().deliver.inner_mut().send_response(channel, refusal).is_err() {
                            debug!(%peer, "deliver refusal not sent: the connection closed");
                        }
                        trace!(%peer, "envelope from a non-member refused");
                        StrangerCounts::bump(&self.strangers.envelopes_refused);
                        self.emit_sheddable(NetEvent::DeliverRefused { peer, code: NOT_A_MEMBER });
                        return;
                    }
                    // Dropping the channel fails the request on the
                    // sender's side, which retries later.
                    let Some(permit) = self.queued.reserve(request.envelope.len()) else {
                        debug!(%peer, "node busy (queued bytes): envelope dropped");
                        return;
                    };
                    let reply = DeliverReply { peer, channel };
                    if !self.emit_sheddable(NetEvent::Deliver { peer, request, reply, permit }) {
                        // Dropping the channel fails the request on the
                        // sender's side, which retries later.
                        debug!(%peer, "node busy: envelope dropped");
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(pending) = self.pending_deliver.remove(&request_id) {
                        let _ = pending.reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, connection_id, request_id, error } => {
                debug!(%peer, %error, "deliver request failed");
                // A member we are connected to that cannot take a delivery
                // over any connection we hold (made before one of us counted
                // the other as a member, so one end does not offer the
                // protocol): drop them, and both ends redial a lost member at
                // once with connections that offer it. The failed request is
                // retried by the sender's outbox.
                let stale = matches!(
                    error,
                    request_response::OutboundFailure::UnsupportedProtocols
                        | request_response::OutboundFailure::DialFailure
                );
                if stale && self.is_member(&peer) && self.swarm.is_connected(&peer) {
                    debug!(%peer, "a member's connections do not carry deliveries: reconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                let Some(pending) = self.pending_deliver.remove(&request_id) else { return };
                // Only a closed connection proves the request never got an
                // answer there; after a timeout it may still be processed,
                // and request-response could pick the same stuck connection
                // again (it chooses by request id).
                let closed = matches!(error, request_response::OutboundFailure::ConnectionClosed);
                let others = self.peers.get(&peer).is_some_and(|p| p.conns.keys().any(|c| *c != connection_id));
                if closed && others && !pending.moved {
                    debug!(%peer, %error, "delivery failed on one connection: moving it to another");
                    let PendingDeliver { request, reply, .. } = pending;
                    let id = self.swarm.behaviour_mut().deliver.inner_mut().send_request(&peer, request.clone());
                    self.pending_deliver.insert(id, PendingDeliver { request, moved: true, reply });
                    return;
                }
                let mut reason = error.to_string();
                if self.wanted.contains(&peer) {
                    reason.push_str("; no address known, looking the peer up: retry shortly");
                }
                let _ = pending.reply.send(Err(NetError::Deliver { peer, reason }));
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound deliver request failed");
            }
            request_response::Event::ResponseSent { peer, .. } => trace!(%peer, "deliver response sent"),
        }
    }

    pub(super) fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, connection_id } = event else {
            return;
        };
        if info.protocol_version != self.identify_version {
            // Another network (or another program): nothing to talk about.
            info!(peer = %peer_id, version = %info.protocol_version, "peer of another network: disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        if let Some(boot) = BootId::from_agent_version(&info.agent_version) {
            let found = self.links.identified(connection_id, boot, &self.link_counts);
            for stale in found.stale {
                info!(peer = %peer_id, connection = %stale, "peer restarted: closing its connection from before");
                self.swarm.close_connection(stale);
            }
            if found.conflict {
                warn!(peer = %peer_id, "two runs of one node key are connected at once: is this node's data directory copied, or a snapshot restored next to the original?");
            }
        }
        let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(MAX_ADDRS_PER_PEER).collect();
        if let Some(state) = self.peers.get_mut(&peer_id) {
            state.listen_addrs = addrs.clone();
        }
        if self.is_member(&peer_id) {
            self.learn_member_addrs(peer_id, addrs);
        }
    }

    pub(super) fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed { result: kad::QueryResult::GetClosestPeers(result), .. } = event
        else {
            trace!(event = ?event, "kademlia event");
            return;
        };
        let (key, peers) = match result {
            Ok(ok) => (ok.key, ok.peers),
            Err(kad::GetClosestPeersError::Timeout { key, peers }) => (key, peers),
        };
        // The lookup is over: whatever it did not find stays unwanted, so
        // the set cannot grow without bound.
        let target = PeerId::from_bytes(&key).ok();
        for found in peers {
            if !self.is_member(&found.peer_id) {
                continue;
            }
            let addrs: Vec<Multiaddr> = found.addrs.into_iter().take(MAX_ADDRS_PER_PEER).collect();
            self.learn_member_addrs(found.peer_id, addrs);
            if self.wanted.remove(&found.peer_id)
                && let Err(e) = self.swarm.dial(DialOpts::peer_id(found.peer_id).build())
            {
                debug!(peer = %found.peer_id, %e, "cannot dial peer found through kademlia");
            }
        }
        if let Some(target) = target {
            self.wanted.remove(&target);
        }
    }
}
