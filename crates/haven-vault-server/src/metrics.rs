//! Prometheus counters. None carries an account id.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
    requests_other: AtomicU64,
    pub logins_started: AtomicU64,
    pub logins_succeeded: AtomicU64,
    pub guesses_charged: AtomicU64,
    pub records_erased: AtomicU64,
    pub records_enrolled: AtomicU64,
    pub records_damaged: AtomicU64,
    pub phantoms_expired: AtomicU64,
    pub commits: AtomicU64,
    pub committed_commands: AtomicU64,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn count_request(&self, status: u16) {
        let counter = match status {
            200..=299 => &self.requests_2xx,
            400..=499 => &self.requests_4xx,
            500..=599 => &self.requests_5xx,
            _ => &self.requests_other,
        };
        bump(counter);
    }

    /// Renders the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str(
            "# HELP haven_vault_requests_total HTTP requests answered, by status class.\n",
        );
        out.push_str("# TYPE haven_vault_requests_total counter\n");
        for (class, counter) in [
            ("2xx", &self.requests_2xx),
            ("4xx", &self.requests_4xx),
            ("5xx", &self.requests_5xx),
            ("other", &self.requests_other),
        ] {
            let _ = writeln!(
                out,
                "haven_vault_requests_total{{class=\"{class}\"}} {}",
                get(counter)
            );
        }
        let counters = [
            (
                "logins_started",
                "Login starts answered with KE2, phantom ones included.",
                &self.logins_started,
            ),
            (
                "logins_succeeded",
                "Logins whose KE3 verified and released the wrapped key.",
                &self.logins_succeeded,
            ),
            (
                "guesses_charged",
                "Guesses durably charged to real records.",
                &self.guesses_charged,
            ),
            (
                "records_erased",
                "Records erased: guess limit reached, deleted, or replaced by a new enrollment.",
                &self.records_erased,
            ),
            (
                "records_enrolled",
                "Enrollments stored.",
                &self.records_enrolled,
            ),
            (
                "records_damaged",
                "Sealed records that failed authentication when read.",
                &self.records_damaged,
            ),
            (
                "phantoms_expired",
                "Phantom records (guess counters of accounts without a record) removed after going unused for the phantom expiry.",
                &self.phantoms_expired,
            ),
            (
                "commits",
                "Durable commits of the records database.",
                &self.commits,
            ),
            (
                "committed_commands",
                "Record changes committed; divided by commits, the mean group-commit batch size.",
                &self.committed_commands,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP haven_vault_{name}_total {help}");
            let _ = writeln!(out, "# TYPE haven_vault_{name}_total counter");
            let _ = writeln!(out, "haven_vault_{name}_total {}", get(counter));
        }
        out
    }
}
