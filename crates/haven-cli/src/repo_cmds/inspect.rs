//! `haven snapshots` and `haven ls`.

use std::process::ExitCode;

use haven_repo::{escape_name, NodeKind};
use serde_json::json;

use super::format::{bytes, utc_time};
use super::{LsArgs, SnapshotsArgs};
use crate::common::{print_stdout, repo_error_exit};

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
        print_stdout(&serde_json::to_string_pretty(&list)?)?;
    } else {
        print_stdout(&format!(
            "{:<8}  {:<19}  {:<16}  {:>10}  paths",
            "id", "time (UTC)", "host", "data read"
        ))?;
        for (id, s) in &snapshots {
            let paths: Vec<_> = s.paths.iter().map(|p| escape_name(p)).collect();
            let tags = if s.tags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", s.tags.join(", "))
            };
            print_stdout(&format!(
                "{:<8}  {:<19}  {:<16}  {:>10}  {}{tags}",
                id.short(),
                utc_time(s.time_ns),
                s.hostname,
                bytes(s.summary.bytes_read),
                paths.join(" ")
            ))?;
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
            NodeKind::File | NodeKind::SqliteRows => '-',
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
        print_stdout(&line)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Formats permission bits as `ls -l` does, with setuid and setgid as `s`/`S` in the
/// owner and group execute places and the sticky bit as `t`/`T` in the others place.
fn permissions(mode: u32) -> String {
    let mut out = String::with_capacity(9);
    for (shift, special_bit, special) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        let execute = bits & 1 != 0;
        out.push(match (mode & special_bit != 0, execute) {
            (true, true) => special,
            (true, false) => special.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::permissions;

    #[test]
    fn permissions_show_special_bits() {
        assert_eq!(permissions(0o755), "rwxr-xr-x");
        assert_eq!(permissions(0o4755), "rwsr-xr-x");
        assert_eq!(permissions(0o2750), "rwxr-s---");
        assert_eq!(permissions(0o1777), "rwxrwxrwt");
        assert_eq!(permissions(0o7644), "rwSr-Sr-T");
    }
}
