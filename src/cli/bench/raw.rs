//! The baseline for `hotline bench messages`: a plain libp2p
//! request-response echo between two bare swarms on loopback, with the same
//! transport stack as a node (TCP, Noise, Yamux) and none of Hotline (no
//! sealing, no signatures, no storage). What a message costs over this is
//! Hotline's own cost.

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use hotline_net::frame::{FramedCodec, FramedProtocol};
use hotline_net::sync::ProtocolError;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/hotline-bench/echo/1");
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Bytes, both ways, in the same frames as the node's protocols (the
/// same codec, `hotline_net::frame::FramedCodec`), with no encoding. A
/// frame is never empty, so a zero-byte body is sent as one byte.
struct EchoFrames;

impl FramedProtocol for EchoFrames {
    type Request = Vec<u8>;
    type Response = Vec<u8>;
    const MAX_REQUEST_BYTES: usize = MAX_BYTES;
    const MAX_RESPONSE_BYTES: usize = MAX_BYTES;

    fn request_to_body(request: &Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
        Ok(request.clone())
    }
    fn request_from_body(body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        Ok(body.to_vec())
    }
    fn response_to_body(response: &Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
        Ok(response.clone())
    }
    fn response_from_body(body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        Ok(body.to_vec())
    }
}

type EchoCodec = FramedCodec<EchoFrames>;

type Echo = request_response::Behaviour<EchoCodec>;

fn swarm() -> Result<Swarm<Echo>> {
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                EchoCodec::default(),
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(512),
            )
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// Runs the echo server until the process ends; returns its address.
async fn server() -> Result<(PeerId, Multiaddr)> {
    let mut swarm = swarm()?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let peer = *swarm.local_peer_id();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { request, channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                let _ = swarm.behaviour_mut().send_response(channel, request);
            }
        }
    });
    Ok((peer, addr))
}

type Job = (Vec<u8>, oneshot::Sender<Result<Vec<u8>, String>>);

/// A client swarm driven by its own task; requests go in over a channel.
async fn client(server: PeerId, addr: Multiaddr) -> Result<mpsc::Sender<Job>> {
    let mut swarm = swarm()?;
    swarm.dial(addr.with(libp2p::multiaddr::Protocol::P2p(server)))?;
    // Connect first, so that no request waits on the dial.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), swarm.select_next_some())
            .await
            .context("the echo client did not connect within 10 s")?;
        match event {
            SwarmEvent::ConnectionEstablished { .. } => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(anyhow!("echo client: {error}")),
            _ => {}
        }
    }
    let (tx, mut rx) = mpsc::channel::<Job>(1024);
    tokio::spawn(async move {
        let mut pending = std::collections::HashMap::new();
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some((payload, reply)) => {
                        let id = swarm.behaviour_mut().send_request(&server, payload);
                        pending.insert(id, reply);
                    }
                    None => break,
                },
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    }) => {
                        if let Some(reply) = pending.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. }) => {
                        if let Some(reply) = pending.remove(&request_id) {
                            let _ = reply.send(Err(error.to_string()));
                        }
                    }
                    _ => {}
                },
            }
        }
    });
    Ok(tx)
}

async fn echo(client: &mpsc::Sender<Job>, payload: Vec<u8>) -> Result<()> {
    let (tx, rx) = oneshot::channel();
    client.send((payload, tx)).await.map_err(|_| anyhow!("the echo client stopped"))?;
    rx.await.context("the echo client dropped a request")?.map_err(|e| anyhow!("echo failed: {e}"))?;
    Ok(())
}

/// Round-trip times, in milliseconds, of `count` sequential echoes of
/// `size` bytes (after a few warm-up rounds).
pub(super) async fn round_trips(count: usize, size: usize) -> Result<Vec<f64>> {
    let (peer, addr) = server().await?;
    let client = client(peer, addr).await?;
    for _ in 0..10 {
        echo(&client, vec![7u8; size.max(1)]).await?;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        echo(&client, vec![7u8; size.max(1)]).await?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// Echoes per second of `count` echoes of `size` bytes with `in_flight`
/// outstanding.
pub(super) async fn throughput(count: usize, size: usize, in_flight: usize) -> Result<f64> {
    let (peer, addr) = server().await?;
    let client = client(peer, addr).await?;
    echo(&client, vec![7u8; size.max(1)]).await?;
    let t = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(0..count)
        .map(|_| echo(&client, vec![7u8; size.max(1)]))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(count as f64 / t.elapsed().as_secs_f64())
}
