//! `forget`: retention rules that choose which snapshots to keep, and deleting the
//! others. Deleting a snapshot frees no space by itself; prune does that.
//!
//! Snapshots are grouped by host name and backed-up paths, as restic does, and the
//! rules apply to each group on its own. Days, ISO weeks (Monday to Sunday) and
//! months are counted in UTC.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::error::{RepoError, Result};
use crate::id::ObjectId;
use crate::snapshot::{snapshot_path, Snapshot};
use crate::Repository;

/// Retention rules. A snapshot is kept when any rule keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The newest this many snapshots.
    pub keep_last: usize,
    /// The newest snapshot of each of the newest this many days that have one.
    pub keep_daily: usize,
    /// The newest snapshot of each of the newest this many ISO weeks that have one.
    pub keep_weekly: usize,
    /// The newest snapshot of each of the newest this many months that have one.
    pub keep_monthly: usize,
    /// Every snapshot that has any of these tags.
    pub keep_tags: Vec<String>,
}

impl RetentionPolicy {
    /// True when no rule is set: such a policy would forget every snapshot, so
    /// [`Repository::forget`] rejects it.
    pub fn is_empty(&self) -> bool {
        self.keep_last == 0
            && self.keep_daily == 0
            && self.keep_weekly == 0
            && self.keep_monthly == 0
            && self.keep_tags.is_empty()
    }
}

/// The policy's decision for one snapshot, with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForgetDecision {
    /// Snapshot id, 64 hex digits.
    pub id: String,
    pub time_ns: i64,
    pub hostname: String,
    pub keep: bool,
    /// The rules that keep it, for example `last`, `daily`, `tag:weekly`. Empty when
    /// it is forgotten.
    pub reasons: Vec<String>,
}

/// The outcome of [`Repository::forget`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct ForgetReport {
    /// One decision per snapshot, oldest first.
    pub decisions: Vec<ForgetDecision>,
    /// Snapshots deleted (0 on a dry run).
    pub removed: u64,
    pub dry_run: bool,
}

/// Applies `policy` to `snapshots` and returns one decision per snapshot, in the
/// order given.
pub fn apply_policy(
    snapshots: &[(ObjectId, Snapshot)],
    policy: &RetentionPolicy,
) -> Vec<ForgetDecision> {
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); snapshots.len()];
    let mut groups: BTreeMap<(String, Vec<Vec<u8>>), Vec<usize>> = BTreeMap::new();
    for (i, (_, snapshot)) in snapshots.iter().enumerate() {
        let mut paths = snapshot.paths.clone();
        paths.sort();
        groups
            .entry((snapshot.hostname.clone(), paths))
            .or_default()
            .push(i);
    }
    for members in groups.values_mut() {
        // Newest first; the id breaks ties so the result does not depend on order.
        members.sort_by_key(|&i| std::cmp::Reverse((snapshots[i].1.time_ns, snapshots[i].0)));
        for &i in members.iter().take(policy.keep_last) {
            reasons[i].push("last".into());
        }
        keep_per_bucket(
            snapshots,
            members,
            policy.keep_daily,
            "daily",
            day,
            &mut reasons,
        );
        keep_per_bucket(
            snapshots,
            members,
            policy.keep_weekly,
            "weekly",
            week,
            &mut reasons,
        );
        keep_per_bucket(
            snapshots,
            members,
            policy.keep_monthly,
            "monthly",
            month,
            &mut reasons,
        );
    }
    let tags: HashSet<&String> = policy.keep_tags.iter().collect();
    for (i, (_, snapshot)) in snapshots.iter().enumerate() {
        for tag in snapshot.tags.iter().filter(|t| tags.contains(t)) {
            reasons[i].push(format!("tag:{tag}"));
        }
    }
    snapshots
        .iter()
        .zip(reasons)
        .map(|((id, snapshot), reasons)| ForgetDecision {
            id: id.to_hex(),
            time_ns: snapshot.time_ns,
            hostname: snapshot.hostname.clone(),
            keep: !reasons.is_empty(),
            reasons,
        })
        .collect()
}

/// Keeps the newest snapshot of each of the `count` newest buckets. `members` is
/// sorted newest first.
fn keep_per_bucket(
    snapshots: &[(ObjectId, Snapshot)],
    members: &[usize],
    count: usize,
    rule: &str,
    bucket_of: fn(i64) -> i64,
    reasons: &mut [Vec<String>],
) {
    let mut last_bucket = None;
    let mut kept = 0;
    for &i in members {
        if kept == count {
            break;
        }
        let bucket = bucket_of(snapshots[i].1.time_ns);
        if last_bucket != Some(bucket) {
            last_bucket = Some(bucket);
            kept += 1;
            reasons[i].push(rule.to_string());
        }
    }
}

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Days since 1970-01-01 (UTC).
fn day(time_ns: i64) -> i64 {
    time_ns.div_euclid(NANOS_PER_DAY)
}

/// ISO weeks since the week of 1970-01-01; 1970-01-01 was a Thursday, so Monday
/// 1969-12-29 starts week 0.
fn week(time_ns: i64) -> i64 {
    (day(time_ns) + 3).div_euclid(7)
}

/// Months since January of year 0 (UTC).
fn month(time_ns: i64) -> i64 {
    let (year, month) = civil_year_month(day(time_ns));
    year * 12 + (month - 1)
}

/// Converts days since 1970-01-01 to a proleptic Gregorian year and month (1-12),
/// with Howard Hinnant's `civil_from_days` algorithm.
pub(crate) fn civil_year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month)
}

impl Repository {
    /// Deletes the snapshots that `policy` does not keep, or only reports them with
    /// `dry_run`. Damaged snapshot objects are left alone. Rejects an empty policy.
    pub async fn forget(&self, policy: &RetentionPolicy, dry_run: bool) -> Result<ForgetReport> {
        if policy.is_empty() {
            return Err(RepoError::InvalidInput(
                "no retention rule given; set at least one of --keep-last, --keep-daily, \
                 --keep-weekly, --keep-monthly or --keep-tag"
                    .into(),
            ));
        }
        let (snapshots, _) = self.snapshots().await?;
        let decisions = apply_policy(&snapshots, policy);
        let mut removed = 0;
        if !dry_run {
            for ((id, _), decision) in snapshots.iter().zip(&decisions) {
                if !decision.keep {
                    self.storage.delete(&snapshot_path(id)).await?;
                    removed += 1;
                }
            }
        }
        Ok(ForgetReport {
            decisions,
            removed,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(31), (1970, 2));
        assert_eq!(civil_year_month(-1), (1969, 12));
        // 2024-02-29 is day 19782.
        assert_eq!(civil_year_month(19_782), (2024, 2));
        assert_eq!(civil_year_month(19_783), (2024, 3));
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2024-01-07 was a Sunday and 2024-01-08 a Monday (days 19729 and 19730).
        let sunday = 19_729 * NANOS_PER_DAY;
        let monday = 19_730 * NANOS_PER_DAY;
        assert_eq!(week(sunday - NANOS_PER_DAY * 6), week(sunday));
        assert_eq!(week(sunday) + 1, week(monday));
    }
}
