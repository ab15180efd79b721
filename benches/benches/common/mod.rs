//! What the bench targets share: the criterion group settings of the
//! throughput benches and the removal of a ring file.
//!
//! Each bench target includes this module (`mod common;`) and uses what it
//! needs; hence `#[allow(dead_code)]` on items some targets leave unused.

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput};

/// Environment variable that shortens every measurement (a smoke test of
/// `benches/suite.py --quick`; a group's settings win over criterion's
/// `--measurement-time`, so that option cannot do it).
#[allow(dead_code)]
pub const QUICK_ENV: &str = "SHMLANE_BENCH_QUICK";

/// A group whose throughput is counted in messages (one per iteration),
/// measured for `measurement_time` per benchmark (1 s under [`QUICK_ENV`]).
#[allow(dead_code)]
pub fn group<'a>(
    criterion: &'a mut Criterion,
    name: &str,
    measurement_time: Duration,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = criterion.benchmark_group(name);
    if quick() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(measurement_time);
    }
    group.throughput(Throughput::Elements(1));
    group
}

/// Whether [`QUICK_ENV`] asks for short measurements.
#[allow(dead_code)]
pub fn quick() -> bool {
    std::env::var_os(QUICK_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Removes the ring file of this name when dropped.
#[allow(dead_code)]
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(err) = shmlane::remove(&self.0) {
            eprintln!("removing ring {}: {err}", self.0);
        }
    }
}
