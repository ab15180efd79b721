//! `shmlane stat`: a ring's state, read without joining it.
//!
//! Every snapshot comes from `shmlane::info`, which maps the ring read-only and
//! tests the participants' locks without taking any. Rates come from two
//! snapshots: the positions only grow, so the first snapshot is compared with
//! the ring's creation (a lifetime average) and each later one with the one
//! before it.

use std::io::{self, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use shmlane::{Kind, ParticipantState, RingInfo, Role, WaitInfo};

use crate::args::StatArgs;
use crate::fail::Failure;
use crate::target::Target;
use crate::units;
use crate::Outcome;

/// Messages written and read per second between two snapshots.
#[derive(Clone, Copy, Debug)]
struct Rates {
    /// Since creation (`true`) or since the previous snapshot.
    lifetime: bool,
    seconds: f64,
    written_per_sec: f64,
    read_per_sec: f64,
}

impl Rates {
    /// Average rates from the ring's creation to `info`, taken at `now_ns`.
    fn lifetime(info: &RingInfo, now_ns: u64) -> Option<Rates> {
        let seconds = now_ns.saturating_sub(info.created_ns) as f64 / 1e9;
        (seconds > 0.0).then(|| Rates {
            lifetime: true,
            seconds,
            written_per_sec: info.tail as f64 / seconds,
            read_per_sec: info.head as f64 / seconds,
        })
    }

    /// Rates between two snapshots of the same ring, `seconds` apart.
    fn between(before: &RingInfo, after: &RingInfo, seconds: f64) -> Rates {
        Rates {
            lifetime: false,
            seconds,
            written_per_sec: after.tail.wrapping_sub(before.tail) as f64 / seconds,
            read_per_sec: after.head.wrapping_sub(before.head) as f64 / seconds,
        }
    }

    /// Bytes read per second: exact for fixed-size messages, `None` otherwise.
    fn bytes_per_sec(&self, info: &RingInfo) -> Option<f64> {
        info.geometry
            .fixed_size
            .then_some(self.read_per_sec * info.geometry.max_payload as f64)
    }

    /// The most bytes per second the read messages can have carried.
    fn bytes_per_sec_max(&self, info: &RingInfo) -> f64 {
        self.read_per_sec * info.geometry.max_payload as f64
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `shmlane stat`.
pub fn stat(args: &StatArgs) -> Outcome {
    let target = Target::from_arg(&args.ring);
    let what = format!("stat {target}");
    let snapshot = || target.info().map_err(|e| Failure::ring(&what, e));
    let mut out = io::stdout().lock();
    let mut info = snapshot()?;
    let mut taken = Instant::now();
    let rates = Rates::lifetime(&info, unix_now_ns());
    let printed = if args.json {
        writeln!(out, "{}", to_json(&info, rates.as_ref()))
    } else {
        write_report(&mut out, &info, rates.as_ref())
    };
    if !args.watch || printed.is_err() {
        return finish(printed, &what);
    }
    if !args.json {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", WATCH_HEADER);
    }
    let mut shown = 1u64;
    while args.count.is_none_or(|count| shown < count) {
        std::thread::sleep(args.interval);
        let next = snapshot()?;
        let now = Instant::now();
        let rates = Rates::between(&info, &next, now.duration_since(taken).as_secs_f64());
        let printed = if args.json {
            writeln!(out, "{}", to_json(&next, Some(&rates)))
        } else {
            writeln!(out, "{}", watch_row(&next, &rates))
        };
        if printed.is_err() {
            return finish(printed, &what);
        }
        (info, taken) = (next, now);
        shown += 1;
    }
    Ok(())
}

/// A closed stdout (`stat --watch | head`) ends the command quietly.
fn finish(printed: io::Result<()>, what: &str) -> Outcome {
    match printed {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(what, format!("writing stdout: {error}")))
        }
        _ => Ok(()),
    }
}

fn state_name(state: ParticipantState) -> &'static str {
    match state {
        ParticipantState::Free => "free",
        ParticipantState::Alive => "alive",
        ParticipantState::Dead => "dead",
        ParticipantState::Closed => "closed",
    }
}

/// Live participants of `role`.
pub fn alive(info: &RingInfo, role: Role) -> usize {
    info.participants
        .iter()
        .filter(|p| p.role == Some(role) && p.state == ParticipantState::Alive)
        .count()
}

/// `1 producer`, `2 producers`.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The share of slots that hold or will hold a message: dead producers'
/// claims, which recovery drops unread, are not filled.
fn fill_fraction(info: &RingInfo) -> f64 {
    info.filled() as f64 / info.geometry.capacity as f64
}

/// A file mode as `0600`, or `unknown`.
fn mode_text(mode: Option<u32>) -> String {
    mode.map_or_else(|| "unknown".to_owned(), |mode| format!("{mode:04o}"))
}

fn waits_json(waits: &WaitInfo) -> Value {
    json!({
        "waiters": waits.waiters,
        "sleepers": waits.sleepers,
        "sleeps": waits.sleeps,
        "wakes": waits.wakes,
    })
}

/// One snapshot as a JSON object.
fn to_json(info: &RingInfo, rates: Option<&Rates>) -> Value {
    let geometry = &info.geometry;
    let participants: Vec<Value> = info
        .participants
        .iter()
        .map(|p| {
            let mut participant = json!({
                "index": p.index,
                "role": p.role.map(|r| r.to_string()),
                "state": state_name(p.state),
                "pid": p.pid,
                "generation": p.generation,
                "joined_ns": p.joined_ns,
            });
            // Only a broadcast subscriber's record has these.
            if let (Some(subscriber), Some(fields)) = (p.subscriber, participant.as_object_mut()) {
                let policy = if subscriber.tethered {
                    "tethered"
                } else {
                    "untethered"
                };
                fields.insert("subscription".into(), json!(policy));
                fields.insert("cursor".into(), json!(subscriber.cursor));
                fields.insert("lost".into(), json!(subscriber.lost));
                fields.insert(
                    "behind".into(),
                    json!(info.tail.wrapping_sub(subscriber.cursor)),
                );
            }
            participant
        })
        .collect();
    let rates = rates.map(|rates| {
        json!({
            "over": if rates.lifetime { "lifetime" } else { "interval" },
            "seconds": rates.seconds,
            "written_per_sec": rates.written_per_sec,
            "read_per_sec": rates.read_per_sec,
            "bytes_per_sec": rates.bytes_per_sec(info),
            "bytes_per_sec_max": rates.bytes_per_sec_max(info),
        })
    });
    json!({
        "path": info.path.display().to_string(),
        "kind": geometry.kind.to_string(),
        "fixed_size": geometry.fixed_size,
        "overflow": geometry.overflow.name(),
        "version": format!("{}.{}", info.version.0, info.version.1),
        "capacity": geometry.capacity,
        "slot_size": geometry.slot_size,
        "max_payload": geometry.max_payload,
        "participant_records": geometry.participant_count,
        "total_size": geometry.total_size,
        "creator_pid": info.creator_pid,
        "owner_uid": info.owner_uid,
        "mode": info.mode.map(|mode| format!("{mode:04o}")),
        "created_ns": info.created_ns,
        "created": units::utc(info.created_ns),
        "snapshot_ns": unix_now_ns(),
        "tail": info.tail,
        "head": info.head,
        "len": info.filled(),
        "dead_claims": info.dead_claims,
        "fill": fill_fraction(info),
        "participants": participants,
        "producers_alive": alive(info, Role::Producer),
        "consumers_alive": alive(info, Role::Consumer),
        "waits": {
            "data": waits_json(&info.data_waits),
            "space": waits_json(&info.space_waits),
        },
        "recovery": {
            "dropped_claims": info.dropped_claims,
            "lost_messages": info.lost_messages,
        },
        "rates": rates,
    })
}

fn waits_text(waits: &WaitInfo) -> String {
    format!(
        "{} waiting, {} registered sleepers, {} sleeps, {} wakes",
        waits.waiters,
        waits.sleepers,
        units::grouped(waits.sleeps),
        units::grouped(waits.wakes)
    )
}

fn bytes_rate_text(rates: &Rates, info: &RingInfo) -> String {
    match rates.bytes_per_sec(info) {
        Some(exact) => units::byte_rate(exact),
        None => format!(
            "unknown (variable-length messages; at most {})",
            units::byte_rate(rates.bytes_per_sec_max(info))
        ),
    }
}

/// One snapshot for people.
fn write_report(out: &mut impl Write, info: &RingInfo, rates: Option<&Rates>) -> io::Result<()> {
    let geometry = &info.geometry;
    let messages = if geometry.fixed_size {
        format!("fixed-size messages of {} bytes", geometry.max_payload)
    } else {
        format!("messages of up to {} bytes", geometry.max_payload)
    };
    writeln!(out, "ring          {}", info.path.display())?;
    // Only a broadcast ring has a choice of what its producer does when full.
    let overflow = if geometry.kind == Kind::Broadcast {
        format!(", overflow {}", geometry.overflow)
    } else {
        String::new()
    };
    writeln!(
        out,
        "kind          {}, {messages}{overflow}, layout {}.{}",
        geometry.kind, info.version.0, info.version.1
    )?;
    writeln!(
        out,
        "geometry      {} slots of {} bytes, {} participant records, {} in all",
        units::grouped(geometry.capacity),
        geometry.slot_size,
        geometry.participant_count,
        units::bytes(geometry.total_size)
    )?;
    writeln!(
        out,
        "created       {} by pid {}",
        units::utc(info.created_ns),
        info.creator_pid
    )?;
    writeln!(
        out,
        "file          owner uid {}, mode {}",
        info.owner_uid
            .map_or_else(|| "unknown".to_owned(), |uid| uid.to_string()),
        mode_text(info.mode)
    )?;
    writeln!(
        out,
        "positions     written (tail) {}, read (head) {}",
        units::grouped(info.tail),
        units::grouped(info.head)
    )?;
    let dead_claims = match info.dead_claims {
        0 => String::new(),
        1 => ", and 1 slot claimed by a dead producer (dropped when a consumer reaches it)"
            .to_owned(),
        n => format!(
            ", and {} slots claimed by dead producers (dropped when a consumer reaches them)",
            units::grouped(n)
        ),
    };
    writeln!(
        out,
        "fill          {} of {} slots ({:.1}%){dead_claims}",
        units::grouped(info.filled()),
        units::grouped(geometry.capacity),
        fill_fraction(info) * 100.0
    )?;
    let claimed: Vec<_> = info
        .participants
        .iter()
        .filter(|p| p.state != ParticipantState::Free)
        .collect();
    let free = info.participants.len() - claimed.len();
    if claimed.is_empty() {
        writeln!(out, "participants  none yet ({free} free records)")?;
    } else {
        writeln!(
            out,
            "participants  {} and {} alive, {free} free records",
            counted(alive(info, Role::Producer), "producer"),
            counted(alive(info, Role::Consumer), "consumer")
        )?;
        for p in claimed {
            writeln!(
                out,
                "  #{:<3} {:<9} pid {:<8} {:<7} joined {} (generation {})",
                p.index,
                p.role.map_or_else(|| "none".to_owned(), |r| r.to_string()),
                p.pid,
                state_name(p.state),
                units::utc(p.joined_ns),
                p.generation
            )?;
            if let Some(subscriber) = p.subscriber {
                writeln!(
                    out,
                    "       {} subscriber at {} ({} behind the producer, {} lost)",
                    if subscriber.tethered {
                        "tethered"
                    } else {
                        "untethered"
                    },
                    units::grouped(subscriber.cursor),
                    units::grouped(info.tail.wrapping_sub(subscriber.cursor)),
                    units::grouped(subscriber.lost)
                )?;
            }
        }
    }
    writeln!(out, "data waits    {}", waits_text(&info.data_waits))?;
    writeln!(out, "space waits   {}", waits_text(&info.space_waits))?;
    if info.geometry.kind == Kind::Mpmc {
        writeln!(
            out,
            "recovery      {} dropped claims of dead producers, {} messages lost with dead consumers",
            units::grouped(info.dropped_claims),
            units::grouped(info.lost_messages)
        )?;
    }
    if let Some(rates) = rates {
        let over = if rates.lifetime {
            "average since creation"
        } else {
            "over the last interval"
        };
        writeln!(
            out,
            "rates         {over}: {} written, {} read, {}",
            units::rate(rates.written_per_sec, "msg/s"),
            units::rate(rates.read_per_sec, "msg/s"),
            bytes_rate_text(rates, info)
        )?;
    }
    Ok(())
}

const WATCH_HEADER: &str =
    "time (UTC)   written/s    read/s       fill           bytes/s          producers consumers";

/// One line of `--watch`.
fn watch_row(info: &RingInfo, rates: &Rates) -> String {
    let clock = units::utc(unix_now_ns());
    let bytes = match rates.bytes_per_sec(info) {
        Some(exact) => units::byte_rate(exact),
        None => format!("<= {}", units::byte_rate(rates.bytes_per_sec_max(info))),
    };
    format!(
        "{:<12} {:<12} {:<12} {:<14} {:<16} {:<9} {}",
        &clock[11..19],
        units::rate(rates.written_per_sec, "msg"),
        units::rate(rates.read_per_sec, "msg"),
        match info.dead_claims {
            0 => format!("{}/{}", info.filled(), info.geometry.capacity),
            dead => format!("{}/{} ({dead} dead)", info.filled(), info.geometry.capacity),
        },
        bytes,
        alive(info, Role::Producer),
        alive(info, Role::Consumer)
    )
}
