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

use crate::config::NetConfig;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{PeerId, Transport, noise, quic, tcp, yamux};
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
    Ok(tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
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
