//! `haven backup`: back up files and folders into a new snapshot.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use haven_repo::{BackupOptions, BackupProgress, BackupResult, ProblemKind};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::format::bytes;
use super::BackupArgs;
use crate::common::outln;
use crate::common::repo_error_exit;

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let scratch = match super::scratch::Scratch::create() {
        Ok(scratch) => scratch,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let imported = match args.import.decrypt(&args.paths, scratch.path()).await {
        Ok(imported) => imported,
        Err(error) => {
            eprintln!("error: {}", error.message);
            let code = if error.damaged {
                crate::EXIT_DAMAGED
            } else {
                1
            };
            return Ok(ExitCode::from(code));
        }
    };
    let mut paths = args.paths.clone();
    let mut recorded_paths = Vec::new();
    let mut sqlite = args.sqlite.options();
    // Consistent copies of databases (of a decrypted import too) go in the scratch
    // folder, which the signal handler removes if the backup is interrupted.
    sqlite.temp_dir = Some(scratch.path().to_path_buf());
    if let Some(imported) = &imported {
        paths.push(imported.folder.clone());
        recorded_paths.push((imported.folder.clone(), imported.source.clone()));
    }
    let progress = Arc::new(BackupProgress::default());
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| start_bar(progress.clone()));
    let options = BackupOptions {
        tags: args.tags.clone(),
        progress: Some(progress.clone()),
        sqlite,
        recorded_paths,
        uploads: usize::from(args.uploads),
        ..BackupOptions::default()
    };
    let result = repo.backup(&paths, options).await;
    drop(scratch);
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    let result = match result {
        Ok(result) => result,
        Err(e) => return repo_error_exit(e),
    };
    if args.json {
        let mut summary = summary_json(&result);
        summary["storage"] = super::format::storage_stats_json(&repo.storage().stats());
        crate::common::print_stdout(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_summary(&result)?;
        super::format::print_storage_stats(&repo.storage().stats())?;
    }
    for problem in &result.problems {
        eprintln!(
            "warning: {}: {:?}: {}",
            problem.path, problem.kind, problem.detail
        );
    }
    for damage in &result.damaged {
        eprintln!("damaged: {damage}");
    }
    // A database stored as a plain file is a warning: the snapshot is complete.
    let complete = result
        .problems
        .iter()
        .all(|p| p.kind == ProblemKind::StoredPlain);
    if complete && result.damaged.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(crate::EXIT_DAMAGED))
    }
}

fn start_bar(progress: Arc<BackupProgress>) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
    );
    let ticker_bar = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            ticker_bar.set_message(format!(
                "{} files, {} read, {} written",
                progress.files.load(Ordering::Relaxed),
                bytes(progress.bytes_read.load(Ordering::Relaxed)),
                bytes(progress.bytes_written.load(Ordering::Relaxed)),
            ));
            ticker_bar.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (bar, ticker)
}

fn summary_json(result: &BackupResult) -> serde_json::Value {
    let s = &result.snapshot.summary;
    json!({
        "snapshot_id": result.snapshot_id.to_hex(),
        "files_new": s.files_new,
        "files_changed": s.files_changed,
        "files_unchanged": s.files_unchanged,
        "dirs": s.dirs,
        "bytes_read": s.bytes_read,
        "bytes_written": s.bytes_written,
        "blobs_new": s.blobs_new,
        "seconds": s.duration_ms as f64 / 1000.0,
        "adopted_packs": result.adopted_packs,
        "rescued_blobs": result.rescued_blobs,
        "sqlite_bases": s.sqlite_bases,
        "sqlite_increments": s.sqlite_increments,
        "sqlite_diff_seconds": s.sqlite_diff_ms as f64 / 1000.0,
        "sqlite_base_reasons": result.sqlite_bases,
        "problems": result.problems,
        "damaged": result.damaged,
    })
}

fn print_summary(result: &BackupResult) -> anyhow::Result<()> {
    let s = &result.snapshot.summary;
    outln!("snapshot {} saved", result.snapshot_id.short());
    outln!(
        "files: {} new, {} changed, {} unchanged; {} folders",
        s.files_new,
        s.files_changed,
        s.files_unchanged,
        s.dirs
    );
    outln!(
        "read {}, wrote {} to storage in {:.1} s",
        bytes(s.bytes_read),
        bytes(s.bytes_written),
        s.duration_ms as f64 / 1000.0
    );
    if s.sqlite_increments > 0 {
        outln!(
            "databases: {} stored as row increments, {} as page-level bases",
            s.sqlite_increments,
            s.sqlite_bases
        );
    }
    for base in &result.sqlite_bases {
        outln!(
            "{}: stored as a page-level base: {}",
            base.path,
            base.reason.describe()
        );
    }
    if result.adopted_packs > 0 {
        outln!(
            "reused {} packs left by an interrupted backup",
            result.adopted_packs
        );
    }
    Ok(())
}
