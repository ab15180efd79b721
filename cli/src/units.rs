//! Numbers for people: rates, sizes, durations, dates.

/// A value and its SI prefix: `1234567.0` as `(1.234567, "M")`.
fn scale(value: f64) -> (f64, &'static str) {
    if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    }
}

/// A rate in `unit`, with an SI prefix: `1.23 M msg/s`, `850.00 msg/s`.
pub fn rate(value: f64, unit: &str) -> String {
    match scale(value) {
        (scaled, "") => format!("{scaled:.2} {unit}"),
        (scaled, prefix) => format!("{scaled:.2} {prefix} {unit}"),
    }
}

/// Bytes per second as `1.23 GB/s` (decimal, as bandwidth is quoted).
pub fn byte_rate(per_second: f64) -> String {
    let (scaled, prefix) = scale(per_second);
    format!("{scaled:.2} {prefix}B/s")
}

/// Bytes as `64 B`, `1.50 KiB`, `2.00 MiB`, ...
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if value < 1024 {
        return format!("{value} B");
    }
    let mut scaled = value as f64 / 1024.0;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{scaled:.2} {}", UNITS[unit])
}

/// Nanoseconds as `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
pub fn nanos(value: u64) -> String {
    let value_f = value as f64;
    if value < 1_000 {
        format!("{value} ns")
    } else if value < 1_000_000 {
        format!("{:.2} µs", value_f / 1e3)
    } else if value < 1_000_000_000 {
        format!("{:.2} ms", value_f / 1e6)
    } else {
        format!("{:.2} s", value_f / 1e9)
    }
}

/// `1234567` as `1,234,567`.
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Nanoseconds since the Unix epoch as an RFC 3339 UTC time, to the second.
pub fn utc(unix_ns: u64) -> String {
    let seconds = unix_ns / 1_000_000_000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 UTC, a leap day of a century leap year.
        assert_eq!(utc(951_827_696 * 1_000_000_000), "2000-02-29T12:34:56Z");
        assert_eq!(utc(1_798_761_599 * 1_000_000_000), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(bytes(64), "64 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(nanos(850), "850 ns");
        assert_eq!(nanos(12_345), "12.35 µs");
        assert_eq!(rate(2_500_000.0, "msg/s"), "2.50 M msg/s");
        assert_eq!(rate(12.0, "msg/s"), "12.00 msg/s");
        assert_eq!(byte_rate(1.5e9), "1.50 GB/s");
        assert_eq!(byte_rate(10.0), "10.00 B/s");
    }
}
