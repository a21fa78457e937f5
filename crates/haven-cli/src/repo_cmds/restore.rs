//! `haven restore`: restore a snapshot into a folder.

use std::process::ExitCode;

use haven_repo::{ObjectId, Repository, RestoreOptions};

use super::format::bytes;
use super::RestoreArgs;
use crate::common::outln;
use crate::common::repo_error_exit;

pub async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let snapshot = match repo.find_snapshot(&args.snapshot).await {
        Ok((id, _)) => id,
        Err(e) => return repo_error_exit(e),
    };
    let latest_is_uncertain =
        args.snapshot == "latest" && warn_damaged_snapshots(&repo, &snapshot).await?;
    let options = RestoreOptions {
        includes: args.includes.clone(),
        progress: None,
        overwrite_all: args.overwrite == super::Overwrite::Always,
    };
    let damaged_indexes = repo.damaged_indexes();
    if !damaged_indexes.is_empty() {
        crate::common::print_damaged_indexes(&damaged_indexes, 0);
    }
    let report = match repo.restore(&snapshot, &args.target, options).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    outln!(
        "restored snapshot {} into {}: {} files, {} folders, {}",
        snapshot.short(),
        args.target.display(),
        report.files,
        report.dirs,
        bytes(report.bytes)
    );
    if report.unchanged > 0 {
        outln!(
            "kept {} files that were already restored (same size and modification time)",
            report.unchanged
        );
    }
    super::format::print_storage_stats(&repo.storage().stats())?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.damaged.is_empty() {
        if latest_is_uncertain {
            return Ok(ExitCode::from(crate::EXIT_DAMAGED));
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} files could not be restored in full (damaged parts are left as zero bytes):",
        report.damaged.len()
    );
    for file in &report.damaged {
        eprintln!("  {}", file.path);
        for object in &file.objects {
            eprintln!("    {object}");
        }
    }
    Ok(ExitCode::from(crate::EXIT_DAMAGED))
}

/// Warns that `latest` may not be the newest snapshot when some snapshot files are
/// damaged: their time cannot be read, so any of them may be newer. Returns whether
/// it warned.
async fn warn_damaged_snapshots(repo: &Repository, used: &ObjectId) -> anyhow::Result<bool> {
    let (_, damaged) = repo.snapshots().await?;
    for damage in &damaged {
        eprintln!(
            "warning: snapshot {} is damaged ({}), so it may be newer than the one restored",
            damage.object, damage.reason
        );
    }
    if !damaged.is_empty() {
        eprintln!(
            "warning: `latest` restored snapshot {} instead, the newest intact one",
            used.short()
        );
    }
    Ok(!damaged.is_empty())
}
