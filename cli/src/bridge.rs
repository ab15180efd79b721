//! `shmlane bridge out` and `shmlane bridge in`: a ring's messages to a NATS
//! subject and back, through `shmlane-nats`, with a status line on stderr.

use std::time::{Duration, Instant};

use shmlane::{ErrorKind, OpenOptions, Ring};
use shmlane_nats::{BridgeIn, BridgeOut, Counters, InOptions, OutOptions};

use crate::args::{BridgeCommand, BridgeInArgs, BridgeOutArgs, RingArg};
use crate::fail::Failure;
use crate::target::Target;
use crate::Outcome;

/// Longest a step of the bridge waits for a message, so that status lines
/// come on time while the ring is idle.
const STEP: Duration = Duration::from_millis(100);

pub fn bridge(command: &BridgeCommand) -> Outcome {
    match command {
        BridgeCommand::Out(args) => out(args),
        BridgeCommand::In(args) => inbound(args),
    }
}

fn open(what: &str, ring: &RingArg, allow_shared: bool) -> Result<Ring, Failure> {
    let options = OpenOptions::new()
        .allow_other_owner(allow_shared)
        .allow_shared_mode(allow_shared);
    Target::from_arg(ring)
        .open(&options)
        .map_err(|e| Failure::ring(what, e))
}

fn inbound(args: &BridgeInArgs) -> Outcome {
    let what = format!("bridge in {}", Target::from_arg(&args.ring));
    let ring = open(&what, &args.ring, args.allow_shared)?;
    let options = InOptions::new(args.server.clone(), args.subject.clone());
    let mut bridge = BridgeIn::new(&ring, options).map_err(|e| Failure::ring(&what, e))?;
    let mut next_status = Instant::now() + args.status;
    loop {
        if let Err(error) = bridge.step(STEP) {
            status(&what, bridge.counters());
            return Err(Failure::ring(&what, error));
        }
        if Instant::now() >= next_status {
            status(&what, bridge.counters());
            next_status = Instant::now() + args.status;
        }
    }
}

fn out(args: &BridgeOutArgs) -> Outcome {
    if args.batch == 0 {
        return Err(Failure::usage("bridge out", "--batch must be at least 1"));
    }
    let target = Target::from_arg(&args.ring);
    let what = format!("bridge out {target}");
    let options = OpenOptions::new()
        .allow_other_owner(args.allow_shared)
        .allow_shared_mode(args.allow_shared);
    let ring = target.open(&options).map_err(|e| Failure::ring(&what, e))?;
    let mut options = OutOptions::new(args.server.clone(), args.subject.clone());
    options.batch = args.batch;
    options.jetstream = args.jetstream;
    let mut bridge = BridgeOut::new(&ring, options).map_err(|e| Failure::ring(&what, e))?;
    let mut next_status = Instant::now() + args.status;
    loop {
        match bridge.step(STEP) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Disconnected => {
                status(&what, bridge.counters());
                return Ok(());
            }
            Err(error) => {
                status(&what, bridge.counters());
                return Err(Failure::ring(&what, error));
            }
        }
        if Instant::now() >= next_status {
            status(&what, bridge.counters());
            next_status = Instant::now() + args.status;
        }
    }
}

fn status(what: &str, counters: Counters) {
    eprintln!(
        "shmlane: {what}: forwarded {}, refused {}, reconnects {}, duplicates {}",
        counters.forwarded, counters.refused, counters.reconnects, counters.duplicates
    );
}
