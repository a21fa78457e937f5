//! Options shared by `haven forget --prune` and `haven prune`.

use std::time::Duration;

use clap::Args;
use haven_repo::PruneOptions;

#[derive(Args, Clone, Debug)]
pub struct PruneArgs {
    /// Time between marking an unused pack and deleting it, as a number with a unit
    /// (s, m, h or d), for example 24h. It must be longer than the longest backup
    /// into this repository: a backup running for longer may lose data it reuses.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub grace_period: Duration,

    /// Repack a pack when more than this percentage of its bytes is unused: its used
    /// blobs are copied into new packs and the old pack is marked for deletion.
    #[arg(long, default_value_t = 20.0, value_parser = parse_percentage)]
    pub repack_threshold: f64,
}

impl PruneArgs {
    pub fn options(&self, dry_run: bool) -> PruneOptions {
        PruneOptions {
            grace: self.grace_period,
            repack_threshold: self.repack_threshold / 100.0,
            dry_run,
        }
    }
}

/// Parses `90s`, `15m`, `24h`, `7d` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a duration; write a whole number with s, m, h or d, for example 24h"
        )
    })?;
    let seconds_per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use s, m, h or d"
            ))
        }
    };
    Ok(Duration::from_secs(value.saturating_mul(seconds_per_unit)))
}

fn parse_percentage(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage; write a number from 0 to 100"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{text:?} is outside 0 to 100"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
