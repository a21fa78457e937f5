//! `haven snapshots` and `haven ls`.

use std::process::ExitCode;

use haven_repo::{escape_name, NodeKind};
use serde_json::json;

use super::format::{bytes, utc_time};
use super::{LsArgs, SnapshotsArgs};
use crate::common::repo_error_exit;

pub async fn snapshots(args: SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let (snapshots, damaged) = match repo.snapshots().await {
        Ok(found) => found,
        Err(e) => return repo_error_exit(e),
    };
    if args.json {
        let list: Vec<_> = snapshots
            .iter()
            .map(|(id, s)| {
                json!({
                    "id": id.to_hex(),
                    "time": utc_time(s.time_ns),
                    "time_ns": s.time_ns,
                    "hostname": s.hostname,
                    "paths": s.paths.iter().map(|p| escape_name(p)).collect::<Vec<_>>(),
                    "tags": s.tags,
                    "parent": s.parent.map(|p| p.to_hex()),
                    "summary": s.summary,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!(
            "{:<8}  {:<19}  {:<16}  {:>10}  paths",
            "id", "time (UTC)", "host", "size"
        );
        for (id, s) in &snapshots {
            let paths: Vec<_> = s.paths.iter().map(|p| escape_name(p)).collect();
            let tags = if s.tags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", s.tags.join(", "))
            };
            println!(
                "{:<8}  {:<19}  {:<16}  {:>10}  {}{tags}",
                id.short(),
                utc_time(s.time_ns),
                s.hostname,
                bytes(s.summary.bytes_read),
                paths.join(" ")
            );
        }
    }
    for damage in &damaged {
        eprintln!("damaged: {damage}");
    }
    Ok(if damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_DAMAGED)
    })
}

pub async fn ls(args: LsArgs) -> anyhow::Result<ExitCode> {
    let repo = match args.repo.open().await {
        Ok(repo) => repo,
        Err(e) => return e.into_exit(),
    };
    let snapshot = match repo.find_snapshot(&args.snapshot).await {
        Ok((id, _)) => id,
        Err(e) => return repo_error_exit(e),
    };
    let path = args.path.clone().unwrap_or_default();
    let entries = match repo.list_snapshot(&snapshot, &path).await {
        Ok(entries) => entries,
        Err(e) => return repo_error_exit(e),
    };
    for entry in entries {
        let node = &entry.node;
        let kind = match node.kind {
            NodeKind::File => '-',
            NodeKind::Dir => 'd',
            NodeKind::Symlink => 'l',
            NodeKind::Fifo => 'p',
            NodeKind::Socket => 's',
            NodeKind::CharDevice => 'c',
            NodeKind::BlockDevice => 'b',
        };
        let mut line = format!(
            "{kind}{}  {:>12}  {}  {}",
            permissions(node.mode),
            node.size,
            utc_time(node.mtime_ns),
            entry.path
        );
        if node.kind == NodeKind::Symlink {
            line.push_str(" -> ");
            line.push_str(&escape_name(&node.link_target));
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn permissions(mode: u32) -> String {
    let mut out = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}
