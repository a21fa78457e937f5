//! Ascending rowids stored as runs of consecutive values. SQLite gives a new row the
//! largest rowid plus one, so apart from deleted rows a table's rowids run in sequence,
//! and a table of a million rows takes a few runs instead of 8 MB.

/// Ascending rowids: run `i` starts at row `offsets[i]` with rowid `starts[i]` and ends
/// where the next run starts, or at `len`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RowidRuns {
    starts: Vec<i64>,
    offsets: Vec<usize>,
    len: usize,
}

impl RowidRuns {
    /// Appends `rowid`. Returns false, and changes nothing, unless it is greater than
    /// the last rowid.
    pub fn push(&mut self, rowid: i64) -> bool {
        match self.last() {
            Some(last) if rowid <= last => return false,
            Some(last) if last.checked_add(1) == Some(rowid) => {}
            _ => {
                self.starts.push(rowid);
                self.offsets.push(self.len);
            }
        }
        self.len += 1;
        true
    }

    /// Returns whether the runs take more memory than the rowids would: more runs than
    /// half the rowids, such as a table with every other row deleted.
    pub fn is_sparse(&self) -> bool {
        self.len >= 64 && self.starts.len() * 2 > self.len
    }

    /// Returns the rowids in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.starts.len()).flat_map(move |run| {
            let end = self.offsets.get(run + 1).copied().unwrap_or(self.len);
            let start = self.starts[run];
            (0..end - self.offsets[run]).map(move |step| start + step as i64)
        })
    }

    fn last(&self) -> Option<i64> {
        let (start, offset) = (self.starts.last()?, self.offsets.last()?);
        Some(start + (self.len - 1 - offset) as i64)
    }

    /// Returns the rowid of row `index`.
    ///
    /// # Panics
    /// If `index` is not below the number of rowids.
    pub fn get(&self, index: usize) -> i64 {
        assert!(index < self.len, "row {index} of {}", self.len);
        let run = self.offsets.partition_point(|offset| *offset <= index) - 1;
        self.starts[run] + (index - self.offsets[run]) as i64
    }

    /// Returns the row index of `rowid`, if present.
    pub fn position(&self, rowid: i64) -> Option<usize> {
        let run = self
            .starts
            .partition_point(|start| *start <= rowid)
            .checked_sub(1)?;
        let end = self.offsets.get(run + 1).copied().unwrap_or(self.len);
        let step = rowid.abs_diff(self.starts[run]);
        let index = self.offsets[run].checked_add(usize::try_from(step).ok()?)?;
        (index < end).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(rowids: &[i64]) -> RowidRuns {
        let mut runs = RowidRuns::default();
        for rowid in rowids {
            assert!(runs.push(*rowid), "rowid {rowid}");
        }
        runs
    }

    #[test]
    fn runs_keep_rowids_and_positions() {
        let rowids = [
            i64::MIN,
            i64::MIN + 1,
            -5,
            1,
            2,
            3,
            7,
            8,
            i64::MAX - 1,
            i64::MAX,
        ];
        let runs = runs_of(&rowids);
        assert_eq!(runs.len, rowids.len());
        assert_eq!(runs.starts.len(), 5);
        assert_eq!(runs.iter().collect::<Vec<_>>(), rowids);
        for (index, rowid) in rowids.iter().enumerate() {
            assert_eq!(runs.get(index), *rowid);
            assert_eq!(runs.position(*rowid), Some(index));
        }
        for missing in [i64::MIN + 2, -6, -4, 0, 4, 6, 9, i64::MAX - 2] {
            assert_eq!(runs.position(missing), None, "rowid {missing}");
        }
    }

    #[test]
    fn push_rejects_rowid_not_ascending() {
        let mut runs = runs_of(&[3, 4]);
        assert!(!runs.push(4));
        assert!(!runs.push(1));
        assert_eq!(runs.len, 2);
        assert!(runs.push(10));
        assert_eq!(runs.get(2), 10);
    }

    #[test]
    fn every_other_rowid_is_sparse() {
        let dense: Vec<i64> = (0..100).collect();
        assert!(!runs_of(&dense).is_sparse());
        let gaps: Vec<i64> = (0..100).map(|i| i * 2).collect();
        assert!(runs_of(&gaps).is_sparse());
        assert!(!runs_of(&gaps[..10]).is_sparse(), "small tables stay runs");
    }

    #[test]
    fn empty_runs_find_nothing() {
        let runs = RowidRuns::default();
        assert_eq!(runs.len, 0);
        assert_eq!(runs.position(0), None);
    }
}
