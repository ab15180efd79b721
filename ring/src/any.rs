//! [`AnyKind`]: handles for a ring whose kind is known only at run time.
//!
//! A tool or a binding that opens a ring by name learns its kind from the
//! header. `Producer<AnyKind>` and `Consumer<AnyKind>` join whatever kind the
//! ring is and dispatch each step to that kind's implementation, so no layer
//! above writes its own dispatch by kind. Code that knows the kind at compile
//! time uses [`crate::spsc`] or [`crate::mpmc`] and pays no dispatch.

// The kind's halves are public types of a private module, reached only
// through the sealed `Protocol`; the crate types in their methods stay
// crate-private, which no caller outside can name or call.
#![allow(private_interfaces, private_bounds)]

use crate::attached::Attached;
use crate::error::Error;
use crate::layout::Kind;
use crate::mpmc::{MpmcReader, MpmcWriter};
use crate::participants::Membership;
use crate::protocol::{sealed, Claim, Protocol, ReadSide, Side, WaitHooks, WriteSide};
use crate::shm::Shared;
use crate::spsc::{SpscReader, SpscWriter};
use crate::sync::Arc;
use crate::wait::Waker;

/// The kind of a ring known only at run time: handles of this kind join a
/// ring of any kind. See [`AnyProducer`] and [`AnyConsumer`].
///
/// # Examples
/// ```
/// use shmlane::{AnyConsumer, AnyProducer, Kind, Ring, RingOptions};
/// # let name = format!("doc-any-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::mpmc(16, 64, 4))?;
/// let mut producer = AnyProducer::join(&ring)?;
/// let mut consumer = AnyConsumer::join(&ring)?;
/// assert_eq!(producer.kind(), Kind::Mpmc);
/// assert!(producer.try_send(b"whatever the kind")?);
/// assert_eq!(&*consumer.try_read()?.expect("one message"), b"whatever the kind");
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Debug)]
pub enum AnyKind {}

impl sealed::Sealed for AnyKind {}

impl Protocol for AnyKind {
    const KIND: Option<Kind> = None;
    type Writer = AnyWriter;
    type Reader = AnyReader;
}

/// A producer of a ring of any kind.
pub type AnyProducer = crate::Producer<AnyKind>;
/// A consumer of a ring of any kind.
pub type AnyConsumer = crate::Consumer<AnyKind>;

/// The producer state of the ring's kind.
#[doc(hidden)]
#[derive(Debug)]
pub enum AnyWriter {
    Spsc(SpscWriter),
    Mpmc(MpmcWriter),
}

/// The consumer state of the ring's kind.
#[doc(hidden)]
#[derive(Debug)]
pub enum AnyReader {
    Spsc(SpscReader),
    Mpmc(MpmcReader),
}

/// Calls `$call` on the state of the ring's kind.
macro_rules! dispatch {
    ($side:expr, $any:ident, |$state:ident| $call:expr) => {
        match $side {
            $any::Spsc($state) => $call,
            $any::Mpmc($state) => $call,
        }
    };
}

/// The parts of both halves that only pass the call on: waiting, joining
/// (by the ring's kind), leaving.
macro_rules! dispatch_side {
    ($any:ident, $spsc:ident, $mpmc:ident) => {
        impl WaitHooks for $any {
            fn watch_sees_leaving(&self) -> bool {
                dispatch!(self, $any, |side| side.watch_sees_leaving())
            }
            fn look_at_peers_now(&mut self) {
                dispatch!(self, $any, |side| side.look_at_peers_now())
            }
            fn look_for_dead_owners_now(&mut self) {
                dispatch!(self, $any, |side| side.look_for_dead_owners_now())
            }
            #[inline]
            fn may_be_ready(&self, ring: &Attached) -> bool {
                dispatch!(self, $any, |side| side.may_be_ready(ring))
            }
            fn peers_gone(&mut self, ring: &Attached) -> bool {
                dispatch!(self, $any, |side| side.peers_gone(ring))
            }
        }

        impl Side for $any {
            fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
                match shared.region.geometry().kind {
                    Kind::Spsc => $spsc::claim_record(shared),
                    Kind::Mpmc => $mpmc::claim_record(shared),
                    // A broadcast ring has subscribers, not consumers that
                    // share messages: its handles are `broadcast::Producer`
                    // and `broadcast::Subscriber`, not kind-erased ones yet.
                    Kind::Broadcast => Err(Error::wrong_kind(
                        "spsc or mpmc (kind-erased handles)",
                        Kind::Broadcast.name(),
                    )),
                }
            }

            fn new(ring: &Attached, record: u32) -> Result<$any, Error> {
                Ok(match ring.shared.region.geometry().kind {
                    Kind::Spsc => $any::Spsc($spsc::new(ring, record)?),
                    Kind::Mpmc => $any::Mpmc($mpmc::new(ring, record)?),
                    kind => {
                        return Err(Error::wrong_kind(
                            "spsc or mpmc (kind-erased handles)",
                            kind.name(),
                        ))
                    }
                })
            }

            fn leave(&mut self, ring: &Attached, waker: &mut Waker) {
                dispatch!(self, $any, |side| side.leave(ring, waker))
            }
        }
    };
}

dispatch_side!(AnyWriter, SpscWriter, MpmcWriter);
dispatch_side!(AnyReader, SpscReader, MpmcReader);

impl WriteSide for AnyWriter {
    /// SPSC inline; MPMC's longer claim is a call of its own, so that the
    /// registers it needs do not weigh on the SPSC path of every caller.
    #[inline(always)]
    fn claim(&mut self, ring: &Attached, wanted: u64) -> Result<Option<Claim>, Error> {
        match self {
            AnyWriter::Spsc(side) => side.claim(ring, wanted),
            AnyWriter::Mpmc(side) => mpmc_writer_claim(side, ring, wanted),
        }
    }

    #[inline(always)]
    fn publish(&mut self, ring: &Attached, claim: Claim, committed: u64) -> bool {
        dispatch!(self, AnyWriter, |side| side.publish(ring, claim, committed))
    }
}

impl ReadSide for AnyReader {
    #[inline(always)]
    fn claim(
        &mut self,
        ring: &Attached,
        waker: &mut Waker,
        wanted: u64,
    ) -> Result<Option<Claim>, Error> {
        match self {
            AnyReader::Spsc(side) => side.claim(ring, waker, wanted),
            AnyReader::Mpmc(side) => mpmc_reader_claim(side, ring, waker, wanted),
        }
    }

    #[inline(always)]
    fn release(&mut self, ring: &Attached, claim: Claim) {
        dispatch!(self, AnyReader, |side| side.release(ring, claim))
    }

    fn hold(&mut self, claim: Claim) {
        dispatch!(self, AnyReader, |side| side.hold(claim))
    }
}

#[inline(never)]
fn mpmc_writer_claim(
    side: &mut MpmcWriter,
    ring: &Attached,
    wanted: u64,
) -> Result<Option<Claim>, Error> {
    side.claim(ring, wanted)
}

#[inline(never)]
fn mpmc_reader_claim(
    side: &mut MpmcReader,
    ring: &Attached,
    waker: &mut Waker,
    wanted: u64,
) -> Result<Option<Claim>, Error> {
    side.claim(ring, waker, wanted)
}
