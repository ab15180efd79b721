//! shmlane-nats: carries a ring's messages across hosts over a NATS server,
//! so that shmlane grows no network protocol of its own.
//!
//! - [`client`]: the part of the NATS client protocol a bridge needs
//!   (connect, publish with headers, subscribe, flush), over a plain TCP
//!   connection, blocking.
//! - [`out`]: the outbound bridge, which drains a ring of any kind and
//!   publishes each message to a subject, with its ring position in a
//!   header, reconnecting with backoff when the server goes away.
//! - [`inbound`]: the inbound bridge, which subscribes to a subject and
//!   writes each message into a ring, with the ring's backpressure.
//!
//! `docs/bridge.md` says how to run it and what it promises.

pub mod client;
pub mod inbound;
pub mod out;

pub use client::{Connection, Message, NatsError};
pub use inbound::{BridgeIn, InOptions};
pub use out::{message_id, BridgeOut, Counters, OutOptions, POSITION_HEADER};
