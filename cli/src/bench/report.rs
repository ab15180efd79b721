//! What a benchmark run measured, checked and put in words or JSON.

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::child::new_histogram;
use super::{histogram_from_json, Limit, Plan, WHAT};
use crate::args::value_name;
use crate::fail::Failure;
use crate::units;

/// The percentiles every report shows, as (label, quantile).
pub const PERCENTILES: [(&str, f64); 4] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// The outcome of a run.
pub struct Summary {
    plan: Plan,
    /// Messages delivered (one-way), or round trips (ping-pong).
    pub messages: u64,
    /// Payload bytes delivered (one way; both ways for ping-pong).
    pub bytes: u64,
    /// From the first send to the last receive.
    pub seconds: f64,
    /// One-way or round-trip latency, in nanoseconds.
    pub histogram: Histogram<u64>,
}

fn field(result: &Value, name: &str) -> Result<u64, Failure> {
    result[name].as_u64().ok_or_else(|| {
        Failure::runtime(WHAT, format!("a process's result lacks {name:?}: {result}"))
    })
}

impl Summary {
    /// Adds up the results of every process and checks that nothing was lost,
    /// reordered or damaged.
    pub fn gather(plan: &Plan, results: &[Value]) -> Result<Summary, Failure> {
        let mut histogram = new_histogram();
        let with_role = |role: &'static str| results.iter().filter(move |r| r["role"] == role);
        let mut add_histogram = |result: &Value| {
            histogram_from_json(&result["histogram"], &mut histogram)
                .map_err(|e| Failure::runtime(WHAT, e))
        };
        let (messages, bytes, start_ns, end_ns);
        if plan.pingpong {
            let pinger = with_role("pinger")
                .next()
                .ok_or_else(|| Failure::runtime(WHAT, "no result from the pinger"))?;
            add_histogram(pinger)?;
            messages = field(pinger, "round_trips")?;
            let mismatched = field(pinger, "mismatched")?;
            if mismatched > 0 {
                return Err(Failure::runtime(
                    WHAT,
                    format!("{mismatched} of {messages} echoes differed from what was sent"),
                ));
            }
            let echoed = with_role("echo")
                .map(|r| field(r, "echoed"))
                .sum::<Result<u64, _>>()?;
            if echoed != messages {
                return Err(Failure::runtime(
                    WHAT,
                    format!("{messages} round trips but {echoed} messages echoed"),
                ));
            }
            bytes = 2 * messages * plan.size;
            start_ns = field(pinger, "start_ns")?;
            end_ns = field(pinger, "end_ns")?;
        } else {
            let mut sent = 0;
            let mut first_send = u64::MAX;
            for producer in with_role("producer") {
                sent += field(producer, "sent")?;
                first_send = first_send.min(field(producer, "start_ns")?);
            }
            let (mut received, mut received_bytes, mut last_receive) = (0, 0, 0);
            let (mut out_of_order, mut damaged) = (0, 0);
            for consumer in with_role("consumer") {
                add_histogram(consumer)?;
                received += field(consumer, "received")?;
                received_bytes += field(consumer, "bytes")?;
                out_of_order += field(consumer, "out_of_order")?;
                damaged += field(consumer, "damaged")?;
                last_receive = last_receive.max(field(consumer, "last_ns")?);
            }
            if received != sent {
                return Err(Failure::runtime(
                    WHAT,
                    format!("{sent} messages sent but {received} received"),
                ));
            }
            if out_of_order > 0 || damaged > 0 {
                return Err(Failure::runtime(
                    WHAT,
                    format!(
                        "{out_of_order} messages out of order and {damaged} damaged, of {received}"
                    ),
                ));
            }
            messages = received;
            bytes = received_bytes;
            start_ns = first_send;
            end_ns = last_receive;
        }
        let seconds = end_ns.saturating_sub(start_ns).max(1) as f64 / 1e9;
        Ok(Summary {
            plan: plan.clone(),
            messages,
            bytes,
            seconds,
            histogram,
        })
    }

    fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.seconds
    }

    fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.seconds
    }

    fn wait_words(&self) -> &'static str {
        match self.plan.wait {
            crate::args::WaitArg::Spin => "spinning waits",
            crate::args::WaitArg::Sleep => "sleeping waits",
            crate::args::WaitArg::Adaptive => "adaptive waits",
        }
    }

    /// The run in one line: kind, processes, message size.
    pub fn title(&self) -> String {
        let plan = &self.plan;
        let kind = value_name(plan.kind).to_uppercase();
        if plan.pingpong {
            format!(
                "shmlane {kind} ping-pong, {}-byte messages, {}",
                plan.size,
                self.wait_words()
            )
        } else {
            format!(
                "shmlane {kind}, {}P/{}C processes, {}-byte messages, {}",
                plan.producers,
                plan.consumers,
                plan.size,
                self.wait_words()
            )
        }
    }

    /// What the latency is and how much was measured.
    pub fn subtitle(&self) -> String {
        let what = if self.plan.pingpong {
            "round-trip latency"
        } else {
            "one-way latency, commit to read"
        };
        format!(
            "{what}; {} samples; ring of {} slots{}",
            units::grouped(self.histogram.len()),
            units::grouped(self.plan.capacity),
            if self.plan.fixed {
                ", fixed-size messages"
            } else {
                ""
            }
        )
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let plan = &self.plan;
        let mut text = String::new();
        text.push_str(&format!("{}\n", self.title()));
        let limit = match plan.limit {
            Limit::Messages(_) => String::new(),
            Limit::Duration(d) => format!(" (asked for {} s)", d.as_secs_f64()),
        };
        let noun = if plan.pingpong {
            "round trips"
        } else {
            "messages"
        };
        let paced = match plan.rate {
            Some(rate) => format!(", paced at {}", units::rate(rate, "msg/s")),
            None => String::new(),
        };
        text.push_str(&format!(
            "  {noun:<12} {} in {}{limit}{paced}\n",
            units::grouped(self.messages),
            units::nanos((self.seconds * 1e9) as u64)
        ));
        let rate_noun = if plan.pingpong {
            "round trips/s"
        } else {
            "msg/s"
        };
        text.push_str(&format!(
            "  {:<12} {}, {}{}\n",
            "throughput",
            units::rate(self.messages_per_sec(), rate_noun),
            units::byte_rate(self.bytes_per_sec()),
            if plan.pingpong { " (both ways)" } else { "" }
        ));
        let what = if plan.pingpong {
            "round trip, send to echo received"
        } else {
            "one-way, from commit to read; includes queueing in the ring"
        };
        text.push_str(&format!("  latency      {what}\n"));
        for (label, quantile) in PERCENTILES {
            text.push_str(&format!(
                "    {label:<8} {}\n",
                units::nanos(self.histogram.value_at_quantile(quantile))
            ));
        }
        text.push_str(&format!(
            "    {:<8} {}\n",
            "max",
            units::nanos(self.histogram.max())
        ));
        text
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let plan = &self.plan;
        let mut latency = serde_json::Map::new();
        latency.insert("samples".into(), json!(self.histogram.len()));
        latency.insert("min".into(), json!(self.histogram.min()));
        latency.insert("mean".into(), json!(self.histogram.mean()));
        for (label, quantile) in PERCENTILES {
            latency.insert(
                label.into(),
                json!(self.histogram.value_at_quantile(quantile)),
            );
        }
        latency.insert("max".into(), json!(self.histogram.max()));
        let (duration_s, messages_asked) = match plan.limit {
            Limit::Messages(n) => (None, Some(n)),
            Limit::Duration(d) => (Some(d.as_secs_f64()), None),
        };
        // Ping-pong moves two messages per round trip, one each way.
        let per_round_trip = if plan.pingpong { 2 } else { 1 };
        let round_trips = plan.pingpong.then_some(self.messages);
        let round_trips_per_sec = plan.pingpong.then(|| self.messages_per_sec());
        json!({
            "kind": value_name(plan.kind),
            "mode": if plan.pingpong { "round-trip" } else { "one-way" },
            "size": plan.size,
            "capacity": plan.capacity,
            "fixed": plan.fixed,
            "wait": value_name(plan.wait),
            "producers": plan.producers,
            "consumers": plan.consumers,
            "messages_asked": messages_asked,
            "rate_asked": plan.rate,
            "duration_asked_s": duration_s,
            "round_trips": round_trips,
            "round_trips_per_sec": round_trips_per_sec,
            "messages": self.messages * per_round_trip,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "messages_per_sec": self.messages_per_sec() * per_round_trip as f64,
            "bytes_per_sec": self.bytes_per_sec(),
            "latency_ns": Value::Object(latency),
        })
    }
}
