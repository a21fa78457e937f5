//! Formatting of sizes and times for the repository commands.

/// Formats a byte count with a binary unit, for example `1.5 MiB`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Prints the storage retries and throttling waits of a command, when there were any.
pub fn print_storage_stats(stats: &haven_repo::StorageStats) -> anyhow::Result<()> {
    if stats.retries == 0 && stats.throttled_waits == 0 {
        return Ok(());
    }
    crate::common::print_stdout(&format!(
        "storage: {} requests retried, {} waits for Retry-After",
        stats.retries, stats.throttled_waits
    ))
}

/// Returns the storage counters as JSON, for `--json` summaries.
pub fn storage_stats_json(stats: &haven_repo::StorageStats) -> serde_json::Value {
    serde_json::json!({
        "retries": stats.retries,
        "throttled_waits": stats.throttled_waits,
        "faults_injected": stats.faults.total(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_known_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_600_000_000_000_000_000), "2020-09-13 12:26:40");
        assert_eq!(utc_time(-1_000_000_000), "1969-12-31 23:59:59");
    }

    #[test]
    fn bytes_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
