//! `haven-chatgen`: builds and mutates WhatsApp-like chat data sets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use haven_chatgen::{DayOptions, GenerateOptions, JournalMode, Summary, WriteOptions};
use indicatif::ProgressBar;

#[derive(Debug, Parser)]
#[command(
    name = "haven-chatgen",
    version,
    about = "Generate WhatsApp-like chat data sets, deterministic from a seed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a new data folder: databases/msgstore.db and media/.
    Generate {
        /// Data folder to create. It must be missing or empty.
        #[arg(long)]
        out: PathBuf,
        /// Target size of database plus media (40% database, 60% media), e.g. 10MB,
        /// 200MB, 2GB. KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024.
        #[arg(long, value_parser = parse_size)]
        size: u64,
        /// Seed of all random choices: the same seed and size give identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Leave out the FTS5 full-text index.
        #[arg(long)]
        no_fts: bool,
    },
    /// Apply one day of activity to an existing data folder.
    Day {
        /// Data folder made by `generate`.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// New messages, including those carrying new media.
        #[arg(long, default_value_t = 1000)]
        messages: u64,
        /// Sent messages that become read.
        #[arg(long, default_value_t = 200)]
        status_updates: u64,
        /// Older messages to delete, with their media files.
        #[arg(long, default_value_t = 20)]
        deletions: u64,
        /// New messages that carry a new media file.
        #[arg(long, default_value_t = 5)]
        new_media: u64,
    },
    /// Commit numbered transactions, for backups taken while the database changes.
    Write {
        /// Data folder. Without a message database, an empty one with a few chats is made.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Transactions to commit.
        #[arg(long, default_value_t = 100)]
        transactions: u64,
        /// Pause after each commit, in milliseconds.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
        /// SQLite journal mode of the database.
        #[arg(long, value_enum, default_value_t = Journal::Wal)]
        journal: Journal,
    },
    /// Check that a database contains exactly writer transactions 1..=n.
    CheckWriterLog {
        /// Path of the msgstore.db file to check.
        #[arg(long)]
        db: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Journal {
    Wal,
    Delete,
}

fn parse_size(value: &str) -> Result<u64, String> {
    haven_chatgen::parse_size(value).map_err(|error| error.to_string())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    match Cli::parse().command {
        Command::Generate {
            out,
            size,
            seed,
            no_fts,
        } => {
            let options = GenerateOptions {
                out: out.clone(),
                size,
                seed,
                fts: !no_fts,
            };
            let summary = with_spinner("generating", || haven_chatgen::generate(&options))
                .with_context(|| format!("generating a data set in {}", out.display()))?;
            print_summary(&summary);
        }
        Command::Day {
            dir,
            seed,
            messages,
            status_updates,
            deletions,
            new_media,
        } => {
            let options = DayOptions {
                dir: dir.clone(),
                seed,
                messages,
                status_updates,
                deletions,
                new_media,
            };
            let summary = with_spinner("applying a day of activity", || {
                haven_chatgen::day(&options)
            })
            .with_context(|| format!("applying a day of activity to {}", dir.display()))?;
            print_summary(&summary);
        }
        Command::Write {
            dir,
            seed,
            transactions,
            interval_ms,
            journal,
        } => {
            let options = WriteOptions {
                dir: dir.clone(),
                seed,
                transactions,
                interval: Duration::from_millis(interval_ms),
                journal: match journal {
                    Journal::Wal => JournalMode::Wal,
                    Journal::Delete => JournalMode::Delete,
                },
                stop: None,
                on_commit: Some(Arc::new(|seq| println!("committed {seq}"))),
            };
            let summary = haven_chatgen::write(&options)
                .with_context(|| format!("writing transactions to {}", dir.display()))?;
            print_summary(&summary);
        }
        Command::CheckWriterLog { db } => {
            let log = haven_chatgen::check_writer_log(&db)
                .with_context(|| format!("checking the writer log of {}", db.display()))?;
            println!(
                "ok: {} transactions, {} messages, no gaps",
                log.transactions, log.messages
            );
        }
    }
    Ok(())
}

/// Runs `work` while a spinner shows on standard error.
fn with_spinner<T>(message: &'static str, work: impl FnOnce() -> T) -> T {
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(200));
    let result = work();
    spinner.finish_and_clear();
    result
}

fn print_summary(summary: &Summary) {
    println!("messages inserted:   {}", summary.messages_inserted);
    println!("status updates:      {}", summary.status_updates);
    println!("messages deleted:    {}", summary.messages_deleted);
    println!(
        "media files written: {} ({} bytes)",
        summary.media_files_written, summary.media_bytes_written
    );
    println!("media files deleted: {}", summary.media_files_deleted);
    println!("transactions:        {}", summary.transactions);
    println!("chats:               {}", summary.chats);
    println!("database bytes:      {}", summary.database_bytes);
    println!(
        "elapsed:             {:.2} s",
        summary.elapsed.as_secs_f64()
    );
}
