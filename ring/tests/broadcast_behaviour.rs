//! Broadcast behaviour within one process: what handles of other kinds do with
//! a broadcast ring.

mod common;

use common::{unique_name, RemoveRing};
use shmlane::{spsc, AnyConsumer, AnyProducer, ErrorKind, Kind, Ring, RingOptions};

/// A ring and the guard that removes it.
fn new_ring(tag: &str, options: &RingOptions) -> (Ring, RemoveRing) {
    let name = unique_name(tag);
    let ring = Ring::create(&name, options).unwrap();
    (ring, RemoveRing(name))
}

#[test]
fn handles_of_other_kinds_refuse_a_broadcast_ring_as_the_wrong_kind() {
    let (ring, remove) = new_ring("bc-any", &RingOptions::broadcast(8, 64, 2));
    let reopened = Ring::open(&remove.0).unwrap();
    assert_eq!(reopened.kind(), Kind::Broadcast);
    for error in [
        AnyProducer::join(&reopened).unwrap_err(),
        AnyConsumer::join(&reopened).unwrap_err(),
        spsc::Producer::join(&ring).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::WrongKind);
        assert!(error.to_string().contains("broadcast"), "{error}");
    }
}
