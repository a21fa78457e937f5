//! Content lists: the chunk ids of a large file, stored in a blob of their own.
//!
//! A file with more than [`MAX_INLINE_IDS`] chunks names a content list blob instead
//! of listing its ids in the tree node. A list is either full (every id) or a delta
//! against a base list: the new length and the runs of positions whose ids changed.
//! A database backed up every night changes a few hundred of its pages, so its delta
//! list is a few kilobytes where a full list of an 80 MB database is about 0.67 MB.

use serde::{Deserialize, Serialize};

use crate::error::{Damage, Result};
use crate::id::{from_cbor, ObjectId};
use crate::pack::BlobType;
use crate::tree::Node;
use crate::Repository;

/// Files with at most this many chunks list their ids inline in the tree node.
pub(crate) const MAX_INLINE_IDS: usize = 1024;
/// Maximum number of delta lists between a content list and its full list.
pub(crate) const MAX_DELTA_DEPTH: usize = 32;
/// A delta is written only when at most 1/`DELTA_MAX_FRACTION` of the ids changed.
/// A changed id costs about as much in a delta as in a full list (34 bytes), so at
/// this limit a delta is still under a third of the full list. A database with a
/// full-text index changes about 1/7 of its pages a day, so a limit of 1/8 would
/// write it a full list every day (bench/chat-daily.sh).
pub(crate) const DELTA_MAX_FRACTION: usize = 4;

/// A content list blob's plaintext (CBOR). A full list has `ids` and no `base`. A
/// delta has `base` and `runs`, and no `ids`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentList {
    /// Number of chunk ids in the resolved list.
    pub len: u64,
    /// Every chunk id of a full list, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<ObjectId>,
    /// Content list blob that a delta applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<ObjectId>,
    /// Changed positions of a delta, sorted by start and not overlapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
}

/// Consecutive positions `start..start + ids.len()` and their new chunk ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub start: u64,
    pub ids: Vec<ObjectId>,
}

/// A content list resolved to its chunk ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResolvedList {
    /// The file's chunk ids, in order.
    pub ids: Vec<ObjectId>,
    /// The list blob and its bases, the list itself first and the full list last.
    pub chain: Vec<ObjectId>,
}

impl ResolvedList {
    /// Number of delta lists in the chain (0 for a full list).
    pub fn depth(&self) -> usize {
        self.chain.len().saturating_sub(1)
    }
}

/// A file's chunk ids and the content list blobs that name them (empty when the node
/// lists its ids inline).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileContent {
    pub data: Vec<ObjectId>,
    pub lists: Vec<ObjectId>,
}

/// Decodes a content list blob's plaintext and checks its shape.
pub(crate) fn decode_content_list(plaintext: &[u8]) -> Result<ContentList, String> {
    let list: ContentList = from_cbor(plaintext)?;
    match list.base {
        None => {
            if !list.runs.is_empty() {
                return Err("a full list has runs of changes".into());
            }
            if list.ids.len() as u64 != list.len {
                return Err(format!(
                    "a full list of length {} has {} ids",
                    list.len,
                    list.ids.len()
                ));
            }
        }
        Some(_) => {
            if !list.ids.is_empty() {
                return Err("a delta list has a full list of ids".into());
            }
            let mut next_free = 0u64;
            for run in &list.runs {
                if run.ids.is_empty() {
                    return Err(format!("the run at position {} is empty", run.start));
                }
                if run.start < next_free {
                    return Err(format!(
                        "the run at position {} overlaps or is out of order",
                        run.start
                    ));
                }
                next_free = run.start.saturating_add(run.ids.len() as u64);
                if next_free > list.len {
                    return Err(format!(
                        "the run at position {} ends after the list length {}",
                        run.start, list.len
                    ));
                }
            }
        }
    }
    Ok(list)
}

/// Checks that `next` may follow `chain` (the blobs read so far, newest first) as
/// the next base to read.
pub(crate) fn check_chain_step(chain: &[ObjectId], next: &ObjectId) -> Result<(), String> {
    if chain.contains(next) {
        return Err(format!(
            "its base chain is cyclic: it reaches list {} again",
            next.short()
        ));
    }
    if chain.len() > MAX_DELTA_DEPTH {
        return Err(format!(
            "its base chain has more than {MAX_DELTA_DEPTH} delta lists"
        ));
    }
    Ok(())
}

/// Applies a chain of decoded lists, the newest first and a full list last, and
/// returns the chunk ids.
pub(crate) fn apply_chain(lists: &[ContentList]) -> Result<Vec<ObjectId>, String> {
    let Some((full, deltas)) = lists.split_last() else {
        return Err("the chain is empty".into());
    };
    if full.base.is_some() {
        return Err("the chain does not end in a full list".into());
    }
    let mut ids = full.ids.clone();
    for delta in deltas.iter().rev() {
        ids = apply_delta(ids, delta)?;
    }
    Ok(ids)
}

fn apply_delta(mut ids: Vec<ObjectId>, delta: &ContentList) -> Result<Vec<ObjectId>, String> {
    let base_len = ids.len() as u64;
    // Runs must set every position past the base's end. Checking this before the
    // list grows also bounds the allocation by the size of the blobs read.
    let mut covered_to = base_len;
    for run in &delta.runs {
        if run.start > covered_to && covered_to < delta.len {
            break;
        }
        covered_to = covered_to.max(run.start.saturating_add(run.ids.len() as u64));
    }
    if covered_to < delta.len {
        return Err(format!(
            "the delta leaves position {covered_to} unset (base length {base_len}, length {})",
            delta.len
        ));
    }
    ids.resize(delta.len as usize, ObjectId([0; 32]));
    for run in &delta.runs {
        let start = run.start as usize;
        ids[start..start + run.ids.len()].copy_from_slice(&run.ids);
    }
    Ok(ids)
}

/// Builds the list blob for `ids`: a delta against `base` when that base is short
/// enough and few ids changed, a full list otherwise.
pub(crate) fn build_list(ids: &[ObjectId], base: Option<(ObjectId, &ResolvedList)>) -> ContentList {
    let full = ContentList {
        len: ids.len() as u64,
        ids: ids.to_vec(),
        base: None,
        runs: Vec::new(),
    };
    let Some((base_id, base)) = base else {
        return full;
    };
    if base.depth() + 1 > MAX_DELTA_DEPTH {
        return full;
    }
    let runs = changed_runs(&base.ids, ids);
    let changed: usize = runs.iter().map(|run| run.ids.len()).sum();
    if changed * DELTA_MAX_FRACTION > ids.len() {
        return full;
    }
    ContentList {
        len: ids.len() as u64,
        ids: Vec::new(),
        base: Some(base_id),
        runs,
    }
}

/// Returns the runs of positions where `new` differs from `old` or extends past it.
fn changed_runs(old: &[ObjectId], new: &[ObjectId]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (position, id) in new.iter().enumerate() {
        if old.get(position) == Some(id) {
            continue;
        }
        match runs.last_mut() {
            Some(run) if run.start as usize + run.ids.len() == position => run.ids.push(*id),
            _ => runs.push(Run {
                start: position as u64,
                ids: vec![*id],
            }),
        }
    }
    runs
}

impl Repository {
    /// Loads a content list and its bases and returns its chunk ids. A missing or
    /// damaged blob, or a chain that is cyclic or deeper than [`MAX_DELTA_DEPTH`],
    /// is [`crate::RepoError::Damaged`] naming the list.
    pub(crate) async fn load_content_list(&self, id: &ObjectId) -> Result<ResolvedList> {
        let damaged = |reason: String| {
            self.damaged(Damage::new(format!("content list {}", id.short()), reason))
        };
        let mut chain: Vec<ObjectId> = Vec::new();
        let mut lists = Vec::new();
        let mut next = Some(*id);
        while let Some(list_id) = next {
            check_chain_step(&chain, &list_id).map_err(damaged)?;
            let bytes = self.load_blob(BlobType::Tree, &list_id).await?;
            let list = decode_content_list(&bytes).map_err(|reason| {
                self.damaged(Damage::new(
                    format!("content list {}", list_id.short()),
                    reason,
                ))
            })?;
            chain.push(list_id);
            next = list.base;
            lists.push(list);
        }
        let ids = apply_chain(&lists).map_err(damaged)?;
        Ok(ResolvedList { ids, chain })
    }

    /// Returns a file node's chunk ids, loading its content list when it has one.
    pub(crate) async fn file_content(&self, node: &Node) -> Result<FileContent> {
        match node.content_list {
            None => Ok(FileContent {
                data: node.content.clone(),
                lists: Vec::new(),
            }),
            Some(id) => {
                let resolved = self.load_content_list(&id).await?;
                Ok(FileContent {
                    data: resolved.ids,
                    lists: resolved.chain,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 32])
    }

    fn ids(range: std::ops::Range<u8>) -> Vec<ObjectId> {
        range.map(id).collect()
    }

    fn resolved(ids: Vec<ObjectId>, depth: usize) -> ResolvedList {
        ResolvedList {
            ids,
            chain: (0..=depth as u8).map(|n| id(200 + n)).collect(),
        }
    }

    #[test]
    fn delta_roundtrip_with_growth() {
        let old = ids(0..100);
        let mut new = old.clone();
        new[5] = id(150);
        new[6] = id(151);
        new.push(id(152));
        let delta = build_list(&new, Some((id(250), &resolved(old.clone(), 0))));
        assert_eq!(delta.base, Some(id(250)));
        assert_eq!(delta.runs.len(), 2);
        let full = build_list(&old, None);
        assert_eq!(apply_chain(&[delta, full]).unwrap(), new);
    }

    #[test]
    fn delta_roundtrip_with_truncation() {
        let old = ids(0..100);
        let mut new = old[..95].to_vec();
        new[0] = id(150);
        let delta = build_list(&new, Some((id(250), &resolved(old.clone(), 0))));
        assert!(delta.base.is_some());
        assert_eq!(apply_chain(&[delta, build_list(&old, None)]).unwrap(), new);
    }

    #[test]
    fn many_changes_write_full_list() {
        let old = ids(0..80);
        let new = ids(100..180);
        let list = build_list(&new, Some((id(250), &resolved(old, 0))));
        assert_eq!(list.base, None);
        assert_eq!(list.ids, new);
    }

    #[test]
    fn delta_limit_is_a_quarter() {
        let old = ids(0..80);
        let mut new = old.clone();
        for position in 0..20 {
            new[position * 4] = id(100 + position as u8);
        }
        let at_limit = build_list(&new, Some((id(250), &resolved(old.clone(), 0))));
        assert!(at_limit.base.is_some());
        new[1] = id(150);
        let over_limit = build_list(&new, Some((id(250), &resolved(old, 0))));
        assert_eq!(over_limit.base, None);
    }

    #[test]
    fn max_depth_base_writes_full_list() {
        let old = ids(0..80);
        let mut new = old.clone();
        new[0] = id(99);
        let below = build_list(
            &new,
            Some((id(250), &resolved(old.clone(), MAX_DELTA_DEPTH - 1))),
        );
        assert!(below.base.is_some());
        let at = build_list(&new, Some((id(250), &resolved(old, MAX_DELTA_DEPTH))));
        assert_eq!(at.base, None);
    }

    #[test]
    fn cyclic_chain_rejected() {
        let error = check_chain_step(&[id(1), id(2)], &id(1)).unwrap_err();
        assert!(error.contains("cyclic"), "{error}");
    }

    #[test]
    fn too_deep_chain_rejected() {
        let chain: Vec<ObjectId> = (0..=MAX_DELTA_DEPTH as u8).map(id).collect();
        let error = check_chain_step(&chain, &id(100)).unwrap_err();
        assert!(error.contains("more than 32"), "{error}");
        assert!(check_chain_step(&chain[..MAX_DELTA_DEPTH], &id(100)).is_ok());
    }

    #[test]
    fn delta_with_unset_positions_rejected() {
        let delta = ContentList {
            len: 10,
            base: Some(id(9)),
            runs: vec![Run {
                start: 8,
                ids: vec![id(1), id(2)],
            }],
            ..ContentList::default()
        };
        let full = build_list(&ids(0..5), None);
        let error = apply_chain(&[delta, full]).unwrap_err();
        assert!(error.contains("position 5 unset"), "{error}");
    }

    #[test]
    fn huge_delta_length_rejected_without_allocating() {
        let delta = ContentList {
            len: u64::MAX,
            base: Some(id(9)),
            ..ContentList::default()
        };
        let full = build_list(&ids(0..5), None);
        assert!(apply_chain(&[delta, full]).is_err());
    }

    #[test]
    fn decoder_rejects_bad_shapes() {
        let cases = [
            ContentList {
                len: 3,
                ids: ids(0..2),
                ..ContentList::default()
            },
            ContentList {
                len: 3,
                base: Some(id(1)),
                ids: ids(0..3),
                ..ContentList::default()
            },
            ContentList {
                len: 3,
                base: Some(id(1)),
                runs: vec![Run {
                    start: 2,
                    ids: ids(0..2),
                }],
                ..ContentList::default()
            },
            ContentList {
                len: 9,
                base: Some(id(1)),
                runs: vec![
                    Run {
                        start: 4,
                        ids: ids(0..2),
                    },
                    Run {
                        start: 5,
                        ids: ids(0..1),
                    },
                ],
                ..ContentList::default()
            },
        ];
        for case in cases {
            let bytes = crate::id::to_cbor(&case);
            assert!(decode_content_list(&bytes).is_err(), "{case:?} decoded");
        }
    }
}
