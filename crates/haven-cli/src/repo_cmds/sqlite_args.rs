//! `haven backup` options for SQLite databases.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use haven_repo::{LockedPolicy, SqliteOptions};

#[derive(Args, Clone, Debug)]
pub struct SqliteArgs {
    /// How long to retry a SQLite database that another process keeps locked, for
    /// example `10s`, `500ms` or `2m` (a plain number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub sqlite_busy_timeout: Duration,

    /// What to do with a database still locked after the busy timeout: store it as a
    /// plain file with a warning, or leave it out and exit with status 3.
    #[arg(long, value_enum, default_value_t = LockedArg::Plain)]
    pub sqlite_locked: LockedArg,

    /// Folder for the local row state of databases between backups, which lets a
    /// backup store only the changed rows of each table [default:
    /// $XDG_STATE_HOME/haven, or ~/.local/state/haven]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Store changed pages of every database, never row increments.
    #[arg(long, conflicts_with = "state_dir")]
    pub no_row_increments: bool,

    /// Row increments after a page-level base before the next base.
    #[arg(long, value_name = "COUNT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_increments: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LockedArg {
    Plain,
    Fail,
}

impl SqliteArgs {
    pub fn options(&self) -> SqliteOptions {
        SqliteOptions {
            busy_timeout: self.sqlite_busy_timeout,
            locked: match self.sqlite_locked {
                LockedArg::Plain => LockedPolicy::Plain,
                LockedArg::Fail => LockedPolicy::Fail,
            },
            temp_dir: None,
            state_dir: self.state_dir(),
            max_increments: self.max_increments as usize,
            ..SqliteOptions::default()
        }
    }

    /// Returns the state folder, or `None` when row increments are off or no home
    /// folder is known.
    fn state_dir(&self) -> Option<PathBuf> {
        if self.no_row_increments {
            return None;
        }
        if let Some(dir) = &self.state_dir {
            return Some(dir.clone());
        }
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(state_home) = non_empty("XDG_STATE_HOME") {
            return Some(PathBuf::from(state_home).join("haven"));
        }
        non_empty("HOME").map(|home| PathBuf::from(home).join(".local/state/haven"))
    }
}

/// Parses `500ms`, `10s`, `2m` or a plain number of seconds.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let trimmed = value.trim();
    let (number, unit_ms) = if let Some(n) = trimmed.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = trimmed.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = trimmed.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (trimmed, 1000.0)
    };
    let number: f64 = number.trim().parse().map_err(|_| {
        format!("invalid duration {value:?}; use a number with ms, s or m, for example 10s")
    })?;
    if !number.is_finite() || number < 0.0 || number * unit_ms > 86_400_000.0 {
        return Err(format!(
            "duration {value:?} is out of range; use 0 to 24 hours"
        ));
    }
    Ok(Duration::from_micros(
        (number * unit_ms * 1000.0).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn bad_durations_are_rejected() {
        assert!(parse_duration("ten").unwrap_err().contains("\"ten\""));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("2h").is_err());
    }
}
