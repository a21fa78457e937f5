//! `haven forget`, `haven prune` and `haven repair`.

use std::process::ExitCode;

use haven_repo::{PruneReport, RepairOptions, Repository, RetentionPolicy};
use serde_json::json;

use super::format::{bytes, utc_time};
use super::{ForgetArgs, PruneCmdArgs, RepairArgs};
use crate::common::{outln, repo_error_exit};

pub async fn forget(args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let policy = RetentionPolicy {
        keep_last: args.keep_last,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_tags: args.keep_tags.clone(),
    };
    let report = match repo.forget(&policy, args.dry_run).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    let prune = if args.prune {
        match repo.prune(&args.prune_options.options(args.dry_run)).await {
            Ok(report) => Some(report),
            Err(e) => return repo_error_exit(e),
        }
    } else {
        None
    };
    if args.json {
        let value = json!({ "forget": report, "prune": prune });
        crate::common::print_stdout(&serde_json::to_string_pretty(&value)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for decision in &report.decisions {
        let action = if decision.keep { "keep  " } else { "forget" };
        outln!(
            "{action}  {}  {}  {:<16}  {}",
            &decision.id[..8],
            utc_time(decision.time_ns),
            decision.hostname,
            decision.reasons.join(", ")
        );
    }
    let forgotten = report.decisions.iter().filter(|d| !d.keep).count();
    if report.dry_run {
        outln!("would forget {forgotten} snapshots (dry run)");
    } else {
        outln!("forgot {} snapshots", report.removed);
    }
    if let Some(prune) = &prune {
        print_prune(prune)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn prune(args: PruneCmdArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let report = match repo.prune(&args.prune_options.options(args.dry_run)).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    if args.json {
        crate::common::print_stdout(&serde_json::to_string_pretty(&report)?)?;
    } else {
        print_prune(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_prune(report: &PruneReport) -> anyhow::Result<()> {
    let verb = if report.dry_run { "would " } else { "" };
    outln!(
        "{} snapshots, {} packs ({})",
        report.snapshots,
        report.packs,
        bytes(report.pack_bytes)
    );
    outln!(
        "{verb}mark {} packs ({}) for deletion, {} of them repacked ({} blobs copied, {} written)",
        report.packs_marked,
        bytes(report.bytes_marked),
        report.packs_repacked,
        report.blobs_copied,
        bytes(report.bytes_copied)
    );
    outln!(
        "{verb}delete {} marked packs ({}); {} wait for the grace period; {} unmarked",
        report.packs_deleted,
        bytes(report.bytes_deleted),
        report.packs_pending,
        report.packs_unmarked
    );
    if !report.leftovers_deleted.is_empty() {
        outln!(
            "{verb}delete {} leftovers of interrupted writes",
            report.leftovers_deleted.len()
        );
    }
    Ok(())
}

pub async fn repair(args: RepairArgs) -> anyhow::Result<ExitCode> {
    let repo: Repository = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let options = RepairOptions {
        grace: args.min_age,
        dry_run: args.dry_run,
    };
    let report = match repo.repair(&options).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    if args.json {
        crate::common::print_stdout(&serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for leftover in &report.deleted {
        outln!("{verb} {} ({})", leftover.path, leftover.reason);
    }
    for leftover in &report.kept {
        outln!(
            "kept {} ({}): younger than --min-age, may belong to a running backup",
            leftover.path,
            leftover.reason
        );
    }
    if report.packs_indexed > 0 {
        outln!(
            "indexed {} packs that no index listed",
            report.packs_indexed
        );
    }
    if report.deleted.is_empty() && report.kept.is_empty() && report.packs_indexed == 0 {
        outln!("nothing to repair");
    }
    Ok(ExitCode::SUCCESS)
}
