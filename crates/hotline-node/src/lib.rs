//! # hotline-node
//!
//! The Hotline daemon. **Its job:** run one node of the network. It wires
//! the store (`hotline-store`) to the network (`hotline-net`), keeps the
//! node's copy of the directory in sync with the other members (gossip and
//! anti-entropy sync), tells the network who the members are (connection
//! gating), and serves the control API on a Unix socket for the CLI.
//!
//! **Its edges.**
//! - It never decides what is valid: every object, from a peer or from the
//!   user, goes through `hotline_core::Directory::apply`.
//! - It never writes the database itself: it hands `WriteBatch`es to the
//!   store's `GroupCommitter` and acts on what depends on durability
//!   (answering the user, acknowledging a peer, forwarding gossip, updating
//!   the gating) only once the batch is on disk.
//! - It speaks libp2p only through `hotline_net::NetworkHandle`.
//! - The CLI talks to it only through the control API ([`api`], [`Client`]),
//!   whose endpoints are each defined once, in [`endpoints`]: the server
//!   serves and the client calls every one of them the same generic way.
//!
//! **Shape.** [`Node::start`] opens the store and keys, starts the network,
//! spawns one actor task that owns the `Directory` (see the `actor` module's
//! documentation), and serves the API. [`RunningNode::handle`] gives a
//! cloneable [`NodeHandle`]; [`RunningNode::shutdown`] (or
//! [`run_until_signal`]) stops everything cleanly. The anti-entropy
//! exchange is described in the `sync` module.
//!
//! ```no_run
//! # async fn daemon(data_dir: &std::path::Path) -> Result<(), hotline_node::NodeError> {
//! let config = hotline_store::NodeConfig::load(&data_dir.join("node.toml"))?;
//! hotline_node::init_logging(&config.log_level, config.log_format)?;
//! let options = hotline_node::NodeOptions { config: Some(config), ..Default::default() };
//! let running = hotline_node::Node::start(data_dir, options).await?;
//! hotline_node::run_until_signal(running).await
//! # }
//! ```

#![warn(missing_docs)]

mod actor;
pub mod api;
pub mod api_types;
mod client;
pub mod endpoints;
pub mod error;
mod evidence;
mod handle;
mod liveness;
mod logging;
mod mailbox;
pub mod metrics;
mod metrics_server;
mod node;
mod options;
mod outbox;
mod parallel;
mod random;
mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod views;

pub use api::SOCKET_FILE;
pub use client::{Client, ClientError, EventStream};
pub use error::NodeError;
pub use handle::NodeHandle;
/// Re-exported so callers can set the prekey schedule without depending on hotline-crypto.
pub use hotline_crypto::PrekeyPolicy;
pub use logging::init_logging;
pub use node::{Node, RunningNode, run_until_signal};
pub use options::{Clock, NodeOptions};
pub use outbox::RetryPolicy;
pub use random::Randomness;

/// Re-exported so callers can name peers and addresses without depending on libp2p.
pub use hotline_net::{Multiaddr, PeerId};
