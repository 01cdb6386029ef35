//! The node's tests, in one binary: real nodes in this process, over real
//! sockets, with real stores (the fixtures are `hotline_node::testkit`).

mod adversary;
mod comcheck;
mod delivery_adversary;
mod durability;
mod freshness;
mod liveness;
mod mesh;
mod messaging;
mod metrics;
mod node_api;
mod revocation;
mod threads;
