//! The transports: TCP (Noise, Yamux) with dead-link timers on every
//! socket, and QUIC with the same bound as its idle timeout.
//!
//! libp2p's TCP configuration has no keep-alive or user timeout, so each
//! connection's socket gets them here, before the handshake: keep-alive
//! probes find a peer that vanished while the link was idle, and the user
//! timeout (Linux) aborts a connection whose sent data stays
//! unacknowledged, rather than retransmitting for the kernel's default of
//! about 15 minutes. The ping rule of [`crate::links`] covers the rest,
//! and every transport.
//!
//! Dials leave from the listen port (libp2p's port reuse), so a peer sees
//! a connection come from the address it would dial. But a node restarted
//! on the same port, dialling a peer it was connected to a moment ago,
//! finds that pair of addresses still held by the old connection (in
//! TIME_WAIT, or FIN_WAIT2 while the peer has not closed its end: up to a
//! minute on Linux). The same happens to a node whose new listen port
//! (port 0) is one it just used as an ephemeral port towards the same
//! peer. The kernel refuses the connect with `EADDRINUSE`, which libp2p
//! does not retry. [`PortReuseFallback`] dials again from a new port then;
//! without it a restarted node could not reach its bootstrap peer for as
//! long as that lasts (a test saw it fail for the whole 30 s it waited).

use crate::config::NetConfig;
use futures::FutureExt;
use futures::future::BoxFuture;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Transport, noise, quic, tcp, yamux};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::debug;

/// The TCP timers for a dead-link bound: probes start after a third of it
/// idle, then go every ping interval (so about three probes fit), and
/// unacknowledged data gives up at the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpTimers {
    pub idle: Duration,
    pub probe_every: Duration,
    pub probes: u32,
    pub user_timeout: Duration,
}

impl TcpTimers {
    pub(crate) fn for_config(config: &NetConfig) -> TcpTimers {
        let bound = config.dead_link_after.max(Duration::from_secs(3));
        let idle = (bound / 3).max(Duration::from_secs(1));
        let probe_every = config.ping_interval.clamp(Duration::from_secs(1), bound);
        // Probes must not outlast the bound by much: idle + n × every ≈ bound.
        let left = bound.saturating_sub(idle).as_secs_f64() / probe_every.as_secs_f64();
        let probes = (left.floor() as u32).max(1);
        TcpTimers { idle, probe_every, probes, user_timeout: bound }
    }

    fn apply(&self, stream: &tcp::tokio::TcpStream) {
        let socket = socket2::SockRef::from(&stream.0);
        let keepalive =
            socket2::TcpKeepalive::new().with_time(self.idle).with_interval(self.probe_every).with_retries(self.probes);
        // A socket option the platform lacks leaves the ping rule alone to
        // find dead links; not a reason to drop the connection.
        if let Err(e) = socket.set_tcp_keepalive(&keepalive) {
            debug!(error = %e, "cannot set TCP keep-alive");
        }
        #[cfg(target_os = "linux")]
        if let Err(e) = socket.set_tcp_user_timeout(Some(self.user_timeout)) {
            debug!(error = %e, "cannot set the TCP user timeout");
        }
    }
}

/// TCP with the timers above, Noise and Yamux.
pub(crate) fn tcp_transport(
    keypair: &Keypair,
    config: &NetConfig,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    let timers = TcpTimers::for_config(config);
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
    Ok(PortReuseFallback { inner: tcp }
        .map(move |stream, _| {
            timers.apply(&stream);
            stream
        })
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(keypair)?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// A TCP transport whose dials from the listen port fall back to a new
/// port when the kernel refuses the pair of addresses as in use.
pub(crate) struct PortReuseFallback<T> {
    pub(crate) inner: T,
}

impl<T> Transport for PortReuseFallback<T>
where
    T: Transport<Error = io::Error> + Unpin,
    T::Dial: Send + 'static,
    T::Output: Send + 'static,
{
    type Output = T::Output;
    type Error = io::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = BoxFuture<'static, Result<T::Output, io::Error>>;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<io::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Self::Dial, TransportError<io::Error>> {
        let first = self.inner.dial(addr.clone(), opts)?;
        if opts.port_use != PortUse::Reuse {
            return Ok(first.boxed());
        }
        // Made now, used only if the first dial is refused: a dial does no
        // I/O before it is polled.
        let fallback = self.inner.dial(addr, DialOpts { port_use: PortUse::New, ..opts });
        Ok(async move {
            match first.await {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => match fallback {
                    Ok(fallback) => {
                        debug!("the listen port's pair of addresses is still in use; dialling from a new port");
                        fallback.await
                    }
                    Err(_) => Err(e),
                },
                other => other,
            }
        }
        .boxed())
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// QUIC with the dead-link bound as idle timeout and keep-alives every
/// ping interval (QUIC's own liveness, below the ping rule).
pub(crate) fn quic_config(mut quic: quic::Config, config: &NetConfig) -> quic::Config {
    quic.max_idle_timeout = u32::try_from(config.dead_link_after.as_millis()).unwrap_or(u32::MAX);
    quic.keep_alive_interval = config.ping_interval;
    quic
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::NetworkId;
    use libp2p::core::Endpoint;

    /// libp2p's TCP transport, except that a dial from the listen port is
    /// refused as the kernel refused it in a test run (a socket of the
    /// same port held without port reuse, `Address already in use`).
    struct RefusedReuse(tcp::tokio::Transport);

    impl Transport for RefusedReuse {
        type Output = tcp::tokio::TcpStream;
        type Error = io::Error;
        type ListenerUpgrade = <tcp::tokio::Transport as Transport>::ListenerUpgrade;
        type Dial = BoxFuture<'static, Result<Self::Output, io::Error>>;

        fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<io::Error>> {
            self.0.listen_on(id, addr)
        }

        fn remove_listener(&mut self, id: ListenerId) -> bool {
            self.0.remove_listener(id)
        }

        fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Self::Dial, TransportError<io::Error>> {
            let dial = self.0.dial(addr, opts)?;
            Ok(match opts.port_use {
                PortUse::Reuse => async { Err(io::Error::from(io::ErrorKind::AddrInUse)) }.boxed(),
                PortUse::New => dial.boxed(),
            })
        }

        fn poll(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
            Pin::new(&mut self.0).poll(cx)
        }
    }

    /// A dial from the listen port refused as in use is made again from a
    /// new port, and connects; other failures are not retried.
    #[tokio::test]
    async fn a_dial_refused_as_in_use_gets_through_from_a_new_port() {
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = peer.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let target: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap_or_else(|e| panic!("{e}"));
        let reuse = DialOpts { role: Endpoint::Dialer, port_use: PortUse::Reuse };

        let mut plain = RefusedReuse(tcp::tokio::Transport::new(tcp::Config::default()));
        let refused = plain.dial(target.clone(), reuse).unwrap_or_else(|e| panic!("{e}")).await;
        assert_eq!(refused.err().map(|e| e.kind()), Some(io::ErrorKind::AddrInUse), "the refusal is set up");

        let mut ours = PortReuseFallback { inner: RefusedReuse(tcp::tokio::Transport::new(tcp::Config::default())) };
        let stream = ours.dial(target, reuse).unwrap_or_else(|e| panic!("{e}")).await;
        assert!(stream.is_ok(), "{:?}", stream.err());
        assert!(peer.accept().is_ok(), "the peer took the connection");

        // Connection refused is the peer's answer: no second dial.
        drop(peer);
        let gone: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap_or_else(|e| panic!("{e}"));
        let mut ours = PortReuseFallback { inner: tcp::tokio::Transport::new(tcp::Config::default()) };
        let refused = ours.dial(gone, reuse).unwrap_or_else(|e| panic!("{e}")).await;
        assert_eq!(refused.err().map(|e| e.kind()), Some(io::ErrorKind::ConnectionRefused));
    }

    #[test]
    fn tcp_probes_fit_within_the_dead_link_bound() {
        let config = NetConfig::from_seed(Default::default(), NetworkId([1; 32]));
        let t = TcpTimers::for_config(&config);
        assert_eq!(t.idle, Duration::from_secs(4));
        assert_eq!(t.probe_every, Duration::from_secs(4));
        assert_eq!(t.probes, 2);
        assert_eq!(t.user_timeout, Duration::from_secs(12));
        assert!(t.idle + t.probe_every * t.probes <= config.dead_link_after);
    }
}
