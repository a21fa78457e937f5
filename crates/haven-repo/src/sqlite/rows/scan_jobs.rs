//! Scanning the tables of one database on one or two connections, each taking the
//! largest part left, and the byte budget of the changed rows they share.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use haven_crypto::SecretKey;
use rusqlite::Connection;

use super::increment::TableChange;
use super::scan::{finish_table, scan_part, RowidRange, ScanError, TablePart, TableRows};
use super::schema::{RowKey, Schema, TableInfo};
use super::table_rows::KeyRef;

/// Bytes of changed rows that the scans of one database may still collect, and
/// whether one of them failed, which stops the others.
pub(crate) struct Budget {
    left: AtomicUsize,
    stopped: AtomicBool,
}

impl Budget {
    pub fn new(bytes: usize) -> Self {
        Self {
            left: AtomicUsize::new(bytes),
            stopped: AtomicBool::new(false),
        }
    }

    /// Takes `bytes`, or fails with [`ScanError::TooLarge`] when fewer are left.
    pub fn take(&self, bytes: usize) -> Result<(), ScanError> {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .map(|_| ())
            .map_err(|_| ScanError::TooLarge)
    }

    /// Tells the other scans to stop at their next row.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Returns whether another scan failed, so this one should stop.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// Old rows from which a rowid table is scanned in two rowid ranges when there are two
/// connections. The message table of a chat database contains most of its rows.
const SPLIT_ROWS: usize = if cfg!(test) { 1_000 } else { 100_000 };

/// One table of the scan, and its parts as they come in.
struct Table<'a> {
    /// The table's position in the schema.
    position: usize,
    info: &'a TableInfo,
    /// The scanned parts in rowid order, each filled once scanned.
    parts: Mutex<Vec<Option<TablePart>>>,
}

/// One part of a table to scan: a rowid range of it, or all of it.
struct Job {
    /// The table's index in the scan's tables.
    table: usize,
    part: usize,
    range: RowidRange,
    /// The table's rows from the previous scan, shared by its parts.
    old: Option<Arc<TableRows>>,
    /// Old rows in the part, which orders the jobs.
    size: usize,
}

/// A scanned table: its position in the schema, its rows and its change.
type Scanned = (usize, TableRows, Option<TableChange>);

/// Scans every table of `schema` on `conn`, and on `second` at the same time when it
/// is given. With the previous scan `old`, the parts go largest first by their old
/// row counts, and a large rowid table is split in two. Returns the rows and the
/// changes in the schema's order.
pub(crate) fn scan_tables(
    conn: &Connection,
    second: Option<Connection>,
    schema: &Schema,
    hash_key: &SecretKey,
    old: Option<Vec<TableRows>>,
    budget: &Budget,
) -> Result<(Vec<TableRows>, Vec<TableChange>), ScanError> {
    let (tables, jobs) = plan(schema, old, second.is_some())?;
    let queue = Mutex::new(jobs);
    let failure = Mutex::new(None);
    let scan = Scan {
        tables: &tables,
        queue: &queue,
        hash_key,
        budget,
        failure: &failure,
    };

    let scanned = match second {
        None => scan.work(conn),
        Some(second) => std::thread::scope(|scope| {
            let helper = scope.spawn(move || scan.work(&second));
            let mut mine = scan.work(conn);
            match helper.join() {
                Ok(theirs) => mine.extend(theirs),
                Err(_) => scan.fail(ScanError::Failed("a row scan thread panicked".into())),
            }
            mine
        }),
    };
    if let Some(error) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error);
    }
    Ok(in_schema_order(scanned))
}

/// Returns the rows and the changes of the scanned tables in the schema's order.
fn in_schema_order(mut scanned: Vec<Scanned>) -> (Vec<TableRows>, Vec<TableChange>) {
    scanned.sort_by_key(|(position, _, _)| *position);
    let mut rows = Vec::with_capacity(scanned.len());
    let mut changes = Vec::with_capacity(scanned.len());
    for (_, table_rows, change) in scanned {
        rows.push(table_rows);
        changes.extend(change);
    }
    (rows, changes)
}

/// Pairs each table of `schema` with its rows in `old` and makes its jobs: two rowid
/// ranges for a large rowid table when `split` is set, else one job. The jobs are
/// ordered so that popping from the end gives the part with the most old rows.
fn plan(
    schema: &Schema,
    mut old: Option<Vec<TableRows>>,
    split: bool,
) -> Result<(Vec<Table<'_>>, Vec<Job>), ScanError> {
    let mut tables = Vec::with_capacity(schema.tables.len());
    let mut jobs = Vec::with_capacity(schema.tables.len() + 1);
    for (position, info) in schema.tables.iter().enumerate() {
        let old_table = match &mut old {
            Some(old) => {
                let index = old
                    .iter()
                    .position(|t| t.name == info.name)
                    .ok_or_else(|| format!("the row state has no table {:?}", info.name))?;
                Some(Arc::new(old.swap_remove(index)))
            }
            None => None,
        };
        let ranges = match &old_table {
            Some(rows) if split && rows.len() >= SPLIT_ROWS => halves(info, rows),
            _ => vec![RowidRange::default()],
        };
        let size = old_table.as_ref().map_or(0, |rows| rows.len());
        for (part, range) in ranges.iter().enumerate() {
            jobs.push(Job {
                table: tables.len(),
                part,
                range: *range,
                old: old_table.clone(),
                size: size / ranges.len(),
            });
        }
        tables.push(Table {
            position,
            info,
            parts: Mutex::new((0..ranges.len()).map(|_| None).collect()),
        });
    }
    // Schema order when there are no old rows: the last job is popped first.
    jobs.reverse();
    jobs.sort_by_key(|job| job.size);
    Ok((tables, jobs))
}

/// Splits a rowid table at the middle of its old rows.
fn halves(info: &TableInfo, old: &TableRows) -> Vec<RowidRange> {
    match (&info.key, old.key(old.len() / 2)) {
        (RowKey::Rowid(_), KeyRef::Rowid(middle)) => vec![
            RowidRange {
                from: None,
                to: Some(middle),
            },
            RowidRange {
                from: Some(middle),
                to: None,
            },
        ],
        _ => vec![RowidRange::default()],
    }
}

/// The tables, queue, key, budget and first failure that the connections of one scan
/// share.
#[derive(Clone, Copy)]
struct Scan<'s, 'a> {
    tables: &'s [Table<'a>],
    queue: &'s Mutex<Vec<Job>>,
    hash_key: &'s SecretKey,
    budget: &'s Budget,
    failure: &'s Mutex<Option<ScanError>>,
}

impl Scan<'_, '_> {
    /// Scans parts from the queue on `conn` until it is empty or a scan failed, and
    /// finishes each table whose last part it scanned.
    fn work(self, conn: &Connection) -> Vec<Scanned> {
        let mut done = Vec::new();
        while !self.budget.is_stopped() {
            let job = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(job) = job else {
                break;
            };
            if let Err(error) = self.run(conn, job, &mut done) {
                self.fail(error);
            }
        }
        done
    }

    /// Keeps the first failure and stops the other scans. A scan that stopped because
    /// of it fails too, and is not kept.
    fn fail(self, error: ScanError) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(error);
        }
        self.budget.stop();
    }

    /// Scans the part `job` on `conn` and, when it is its table's last part, joins the
    /// table's parts into `done`.
    fn run(self, conn: &Connection, job: Job, done: &mut Vec<Scanned>) -> Result<(), ScanError> {
        let table = &self.tables[job.table];
        let old = job.old.as_deref();
        let part = scan_part(
            conn,
            table.info,
            self.hash_key,
            old,
            self.budget,
            job.range,
            job.size,
        )?;
        let parts = {
            let mut parts = table.parts.lock().unwrap_or_else(PoisonError::into_inner);
            parts[job.part] = Some(part);
            if parts.iter().any(Option::is_none) {
                return Ok(());
            }
            parts.drain(..).flatten().collect()
        };
        let (rows, change) = finish_table(table.info, old, parts)?;
        done.push((table.position, rows, change));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::increment::{scan_database, Increment};
    use super::super::schema::read_schema;
    use super::*;

    /// Writes a database with tables of 3,000, 1,000 and 10 rows and an empty one.
    fn database(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE big(id INTEGER PRIMARY KEY, body TEXT);
             CREATE TABLE middle(code TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
             CREATE TABLE small(x, y);
             CREATE TABLE empty(id INTEGER PRIMARY KEY);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO big SELECT i, 'row ' || i FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO middle SELECT 'k' || i, i FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
             INSERT INTO small SELECT i, i * 2 FROM n;",
        )
        .unwrap();
        conn
    }

    /// Returns each table's name, row count and hash.
    fn digests(rows: &[TableRows]) -> Vec<(String, usize, u64)> {
        rows.iter()
            .map(|t| (t.name.clone(), t.len(), t.hash()))
            .collect()
    }

    /// Scans the database once as a base and once after `changes`, with a second
    /// connection or without, and returns the second scan.
    fn scan_after(changes: &str, two: bool) -> (Vec<TableRows>, Increment) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let conn = database(&path);
        let schema = read_schema(&conn).unwrap();
        let key = SecretKey::from_bytes([4; 32]);
        let second = || two.then(|| Connection::open(&path).unwrap());
        let (base, none) = scan_database(&conn, second(), &schema, &key, None).unwrap();
        assert!(none.is_none(), "a scan without old rows has no increment");
        conn.execute_batch(changes).unwrap();
        let (rows, increment) = scan_database(&conn, second(), &schema, &key, Some(base)).unwrap();
        (rows, increment.unwrap())
    }

    const CHANGES: &str = "
        UPDATE big SET body = 'changed' WHERE id % 100 = 0;
        DELETE FROM middle WHERE n % 7 = 0;
        INSERT INTO small VALUES (11, 22);
        INSERT INTO empty VALUES (5);";

    #[test]
    fn two_connections_match_one() {
        let (one_rows, one_increment) = scan_after(CHANGES, false);
        let (two_rows, two_increment) = scan_after(CHANGES, true);
        assert_eq!(digests(&two_rows), digests(&one_rows));
        assert_eq!(two_increment, one_increment);
        // The increment keeps the schema's order, which lists the tables by name.
        let names: Vec<&str> = two_increment
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["big", "empty", "middle", "small"], "schema order");
        assert_eq!(two_increment.changed_rows(), 30 + 142 + 1 + 1);
    }

    #[test]
    fn budget_takes_what_is_left() {
        let budget = Budget::new(100);
        budget.take(60).unwrap();
        assert!(matches!(budget.take(50), Err(ScanError::TooLarge)));
        budget.take(40).unwrap();
        assert!(matches!(budget.take(1), Err(ScanError::TooLarge)));
    }

    #[test]
    fn too_large_change_stops_both_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let conn = database(&path);
        let schema = read_schema(&conn).unwrap();
        let key = SecretKey::from_bytes([4; 32]);
        let (base, _) = scan_database(&conn, None, &schema, &key, None).unwrap();
        conn.execute_batch(CHANGES).unwrap();
        // The 30 changed rows of `big` alone take more than 200 bytes.
        let budget = Budget::new(200);
        let second = Some(Connection::open(&path).unwrap());
        let result = scan_tables(&conn, second, &schema, &key, Some(base), &budget);
        assert!(
            matches!(result, Err(ScanError::TooLarge)),
            "{:?}",
            result.err()
        );
        assert!(budget.is_stopped());
    }
}
