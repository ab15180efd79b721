//! `shmlane create` and `shmlane rm`.

use std::io::Write;

use shmlane::{Kind, Overflow, RingOptions};

use crate::args::{CreateArgs, KindArg, OverflowArg, RmArgs};
use crate::fail::Failure;
use crate::target::Target;
use crate::units;
use crate::Outcome;

/// Participant records of an MPMC ring when `--participants` is not given.
const DEFAULT_MPMC_PARTICIPANTS: u32 = 16;
/// Participant records of a broadcast ring when `--participants` is not
/// given: the producer and up to 7 subscribers.
const DEFAULT_BROADCAST_PARTICIPANTS: u32 = 8;

/// The ring options a `create` command line asks for.
fn options(args: &CreateArgs, what: &str) -> Result<RingOptions, Failure> {
    let options = match (args.kind, args.fixed) {
        (KindArg::Spsc, _) if args.participants.is_some() => {
            return Err(Failure::usage(
                what,
                "--participants applies only to --kind mpmc or broadcast (an SPSC ring has one producer and one consumer)",
            ))
        }
        (KindArg::Spsc, false) => RingOptions::spsc(args.capacity, args.slot_size),
        (KindArg::Spsc, true) => RingOptions::spsc_fixed(args.capacity, args.slot_size),
        (KindArg::Mpmc, fixed) => {
            let participants = args.participants.unwrap_or(DEFAULT_MPMC_PARTICIPANTS);
            if fixed {
                // --slot-size counts the slot's stamp, as without --fixed.
                let stamp = Kind::Mpmc.slot_header_size(true) as u64;
                RingOptions::mpmc_fixed(
                    args.capacity,
                    args.slot_size.saturating_sub(stamp),
                    participants,
                )
            } else {
                RingOptions::mpmc(args.capacity, args.slot_size, participants)
            }
        }
        (KindArg::Broadcast, fixed) => {
            // The records are the producer's and the subscribers'.
            let subscribers = args
                .participants
                .unwrap_or(DEFAULT_BROADCAST_PARTICIPANTS)
                .saturating_sub(1);
            if fixed {
                // --slot-size counts the slot's stamp, as without --fixed.
                let stamp = Kind::Broadcast.slot_header_size(true) as u64;
                RingOptions::broadcast_fixed(
                    args.capacity,
                    args.slot_size.saturating_sub(stamp),
                    subscribers,
                )
            } else {
                RingOptions::broadcast(args.capacity, args.slot_size, subscribers)
            }
        }
    };
    let overflow = match (args.kind, args.overflow) {
        (_, None | Some(OverflowArg::Block)) => Overflow::Block,
        (KindArg::Broadcast, Some(OverflowArg::Overwrite)) => Overflow::Overwrite,
        (_, Some(OverflowArg::Overwrite)) => {
            return Err(Failure::usage(
                what,
                "--overflow overwrite applies only to --kind broadcast (an SPSC or MPMC producer never overwrites a message)",
            ))
        }
    };
    Ok(options.overflow(overflow).mode(args.mode))
}

/// `shmlane create`.
pub fn create(args: &CreateArgs) -> Outcome {
    let target = Target::from_arg(&args.ring);
    let what = format!("create {target}");
    let options = options(args, &what)?;
    let ring = target
        .create(&options)
        .map_err(|e| Failure::ring(&what, e))?;
    let geometry = ring.geometry();
    let messages = if geometry.fixed_size {
        format!("messages of exactly {} bytes", geometry.max_payload)
    } else {
        format!("messages of up to {} bytes", geometry.max_payload)
    };
    let overflow = if geometry.overflow == Overflow::Overwrite {
        ", overwriting when full"
    } else {
        ""
    };
    // A closed stdout loses only this report; the ring is made.
    let _ = writeln!(
        std::io::stdout(),
        "created {}: {}, {} slots of {} bytes ({messages}{overflow}), {} participant records, {} in all, mode {:04o}",
        ring.path().display(),
        geometry.kind,
        units::grouped(geometry.capacity),
        geometry.slot_size,
        geometry.participant_count,
        units::bytes(geometry.total_size),
        args.mode
    );
    Ok(())
}

/// `shmlane rm`.
pub fn remove(args: &RmArgs) -> Outcome {
    let target = Target::from_arg(&args.ring);
    target
        .remove()
        .map_err(|e| Failure::ring(format!("rm {target}"), e))
}
