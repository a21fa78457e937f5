//! `haven check`: verify a repository.

use std::process::ExitCode;

use haven_repo::CheckOptions;

use super::CheckArgs;
use crate::common::outln;
use crate::common::repo_error_exit;

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let options = CheckOptions {
        read_data: args.read_data,
    };
    let report = match repo.check(options).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!(
            "checked {} snapshots, {} trees, {} content lists, {} packs{}",
            report.snapshots,
            report.trees,
            report.content_lists,
            report.packs,
            if args.read_data {
                format!(", {} blobs read", report.blobs_read)
            } else {
                String::new()
            }
        );
        let damaged_indexes = repo.damaged_indexes();
        if !report.unindexed_packs.is_empty() && damaged_indexes.is_empty() {
            outln!(
                "{} packs are not indexed yet (left by an interrupted backup; the next backup reuses them)",
                report.unindexed_packs.len()
            );
        }
        if !report.leftovers.is_empty() {
            outln!(
                "{} leftovers of interrupted writes (not damage; `haven repair` deletes them):",
                report.leftovers.len()
            );
            for leftover in &report.leftovers {
                outln!("  {}: {}", leftover.path, leftover.reason);
            }
        }
        if !report.unindexed_packs.is_empty() && !damaged_indexes.is_empty() {
            crate::common::print_damaged_indexes(&damaged_indexes, report.unindexed_packs.len());
        }
    }
    if report.is_ok() {
        if !args.json {
            outln!("no damage found");
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("damaged objects:");
    for damage in &report.damaged {
        eprintln!("  {damage}");
    }
    if !report.affected.is_empty() {
        eprintln!("affected files:");
        for file in &report.affected {
            eprintln!("  snapshot {}: {}", file.snapshot, file.path);
        }
    }
    Ok(ExitCode::from(crate::EXIT_DAMAGED))
}
