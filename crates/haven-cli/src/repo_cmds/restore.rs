//! `haven restore`: restore a snapshot into a folder.

use std::process::ExitCode;

use haven_repo::RestoreOptions;

use super::format::bytes;
use super::RestoreArgs;
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
    let options = RestoreOptions {
        includes: args.includes.clone(),
        progress: None,
    };
    let report = match repo.restore(&snapshot, &args.target, options).await {
        Ok(report) => report,
        Err(e) => return repo_error_exit(e),
    };
    println!(
        "restored snapshot {} into {}: {} files, {} folders, {}",
        snapshot.short(),
        args.target.display(),
        report.files,
        report.dirs,
        bytes(report.bytes)
    );
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.damaged.is_empty() {
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
