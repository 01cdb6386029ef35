//! What an attacker would do to a node, over real sockets: for the
//! adversarial tests and `hotline bench hardening` only (feature
//! `attack-tools`), so that both try the same thing.
//!
//! - [`stalled_streams`]: a libp2p client, with a key of its own that is
//!   never admitted, opening deliver or sync streams that announce a large
//!   frame, send most of it and never finish.
//! - [`slow_sockets`]: TCP sockets that trickle a multistream header one
//!   byte at a time and never finish a handshake, reconnecting whenever the
//!   node cuts one off.
//! - [`foreign_bundles`]: validly signed prekey bundles of nodes nobody
//!   lists, for a stranger to push.

use crate::deliver_protocol;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use hotline_core::limits::XWING_PUBLIC_KEY_BYTES;
use hotline_core::time::DAY;
use hotline_core::{
    DirectoryObject, NetworkId, Prekey, PrekeyBundle, SecretKey, SignedPrekeyBundle, StateCode, Timestamp,
};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Each request announces the given length, sends all but its last
/// kilobyte, and never finishes.
#[derive(Clone, Default)]
struct StallCodec;

impl request_response::Codec for StallCodec {
    type Protocol = StreamProtocol;
    type Request = usize;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<usize>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("the attacker serves nothing"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, len: usize) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()).await?;
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent + chunk.len() + 1024 < len {
            io.write_all(&chunk).await?;
            sent += chunk.len();
        }
        io.flush().await?;
        futures::future::pending::<()>().await;
        Ok(())
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Ok(())
    }
}

/// Which protocol's streams to stall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stalled {
    /// The deliver protocol (offered to members only).
    Deliver,
    /// The sync protocol (offered to strangers in their grace window too).
    Sync,
}

/// Opens `streams` streams of `protocol` to `target` at `addr`, each
/// announcing `frame_bytes`, from a fresh identity (returned). The returned
/// task drives them until aborted.
pub fn stalled_streams(
    network: &NetworkId,
    protocol: Stalled,
    target: PeerId,
    addr: Multiaddr,
    streams: usize,
    frame_bytes: usize,
) -> io::Result<(PeerId, JoinHandle<()>)> {
    let name = match protocol {
        Stalled::Deliver => deliver_protocol(network),
        Stalled::Sync => crate::sync_protocol(network),
    };
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(io::Error::other)?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                StallCodec,
                [(name.clone(), ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(600))
                    .with_max_concurrent_streams(streams + 16),
            )
        })
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    swarm.add_peer_address(target, addr);
    for _ in 0..streams {
        swarm.behaviour_mut().send_request(&target, frame_bytes);
    }
    let me = *swarm.local_peer_id();
    Ok((
        me,
        tokio::spawn(async move {
            loop {
                let _ = swarm.select_next_some().await;
            }
        }),
    ))
}

/// `count` sockets trickling a multistream header at `addr` (an
/// `/ip4/…/tcp/…` address), one byte every 500 ms, reconnecting 100 ms
/// after the node cuts one off, until the tasks are aborted. With `from`,
/// the sockets come from that local address (on Linux any of 127.0.0.0/8
/// works without set-up: an attacker on another host than the members).
pub fn slow_sockets(addr: &Multiaddr, count: usize, from: Option<std::net::IpAddr>) -> io::Result<Vec<JoinHandle<()>>> {
    let (mut ip, mut port) = (None, None);
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is no TCP address")));
    };
    let target = SocketAddr::new(ip, port);
    Ok((0..count)
        .map(|_| {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                loop {
                    if let Ok(mut socket) = connect_from(target, from).await {
                        for byte in b"/multistream/1.0.0\n".iter().cycle() {
                            if socket.write_all(&[*byte]).await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect())
}

/// `count` prekey bundles in `state`'s name, each signed by a throwaway
/// node key that no record lists, issued at `now`.
pub fn foreign_bundles(network: &NetworkId, state: StateCode, count: u32, now: Timestamp) -> Vec<DirectoryObject> {
    (0..count)
        .map(|i| {
            let mut seed = [0xa7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            let key = SecretKey::from_seed(&seed);
            let bundle = PrekeyBundle {
                state,
                node: key.node_id(),
                seq: 1,
                issued_at: now,
                expires: now.plus(14 * DAY),
                prekeys: vec![Prekey { id: 1, public: vec![7; XWING_PUBLIC_KEY_BYTES], expires: now.plus(7 * DAY) }],
            };
            DirectoryObject::Prekeys(SignedPrekeyBundle::sign(bundle, &key, network))
        })
        .collect()
}

async fn connect_from(target: SocketAddr, from: Option<std::net::IpAddr>) -> io::Result<tokio::net::TcpStream> {
    let Some(from) = from else { return tokio::net::TcpStream::connect(target).await };
    let socket = if from.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(target).await
}
