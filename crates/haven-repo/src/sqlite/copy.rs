//! Consistent views of live databases: a WAL-mode database is read in place at a
//! snapshot, any other through a copy made with SQLite's online backup API.

use std::ffi::{c_char, CStr};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::header::{DatabaseHeader, HEADER_LEN, SQLITE_MAGIC};
use super::sidecar::{sidecar_path, SIDECAR_SUFFIXES};
use super::snapshot::{SnapshotError, WalSnapshot};
use super::{LockedPolicy, SqliteOptions};

/// Longest pause between two attempts to read a locked database.
const MAX_PAUSE: Duration = Duration::from_millis(250);

/// How the backup reads a file, decided from its first bytes.
pub(crate) enum Prepared {
    /// Not a SQLite database: read the file itself.
    NotDatabase,
    /// A consistent view to read in place of the file.
    View(DatabaseView),
    /// A database that could not be read consistently: read the file itself and report
    /// this warning.
    Plain(String),
    /// A locked database that the options say to leave out, with the reason.
    LeaveOut(String),
}

/// The database that the connections of a consistent view read.
#[derive(Clone)]
pub(crate) enum DatabaseSource {
    /// A copy in a temporary file.
    Copy(PathBuf),
    /// The database itself, at a snapshot.
    Snapshot(Arc<WalSnapshot>),
}

impl DatabaseSource {
    /// Opens a read-only connection to the view's database.
    pub fn connect(&self) -> rusqlite::Result<Connection> {
        match self {
            DatabaseSource::Copy(path) => open_copy(path),
            DatabaseSource::Snapshot(snapshot) => snapshot.connect(),
        }
    }
}

/// A consistent view of a live database: the database at a snapshot, or a copy in a
/// temporary file, which is removed on drop.
pub(crate) struct DatabaseView {
    pub source: DatabaseSource,
    /// The database's bytes, positioned after `head`.
    pub reader: Box<dyn Read + Send>,
    /// The first bytes: the database header.
    pub head: Vec<u8>,
    /// The database's length in bytes.
    pub len: u64,
    /// `PRAGMA quick_check` of the view, running on its own thread while the backup
    /// reads the pages: on a large database it takes as long as storing them.
    check: Option<JoinHandle<Result<(), String>>>,
    checked: Option<Result<(), String>>,
}

impl DatabaseView {
    /// Waits for the view's quick_check. Returns the warning for a view that failed
    /// it, to be stored as a plain file instead.
    pub fn checked(&mut self) -> Result<(), String> {
        if let Some(check) = self.check.take() {
            let result = check
                .join()
                .unwrap_or_else(|_| Err("the quick_check thread panicked".into()));
            self.checked = Some(result);
        }
        self.checked
            .clone()
            .unwrap_or(Ok(()))
            .map_err(|reason| unusable_warning(&reason))
    }
}

impl Drop for DatabaseView {
    fn drop(&mut self) {
        if let Some(check) = self.check.take() {
            let _ = check.join();
        }
        if let DatabaseSource::Copy(path) = &self.source {
            remove_temporary(path);
        }
    }
}

fn unusable_warning(reason: &str) -> String {
    format!("SQLite database could not be read consistently ({reason}); stored as a plain file")
}

enum CopyError {
    /// Another process kept the database locked for the whole busy timeout.
    Locked { waited: Duration },
    /// A read-only connection cannot read the database, for example because a hot
    /// journal must be rolled back first.
    ReadOnly(String),
    /// The database is corrupt or cannot be read by SQLite.
    Unusable(String),
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(failure, _) if failure.code == ErrorCode::ReadOnly => {
                CopyError::ReadOnly(format!("SQLite error: {e}"))
            }
            _ => CopyError::Unusable(format!("SQLite error: {e}")),
        }
    }
}

/// Decides how to back up the file at `path`, whose first bytes are `head`, and makes
/// the consistent copy if it is a database.
pub(crate) fn prepare(path: &Path, head: &[u8], options: &SqliteOptions) -> Prepared {
    if !head.starts_with(SQLITE_MAGIC) {
        return Prepared::NotDatabase;
    }
    let Some(header) = DatabaseHeader::parse(head) else {
        return Prepared::Plain(
            "starts with the SQLite header, but the header is invalid; stored as a plain file"
                .into(),
        );
    };
    if let Some(reason) = truncation(path, &header) {
        return Prepared::Plain(format!(
            "SQLite database is truncated: {reason}; stored as a plain file"
        ));
    }
    match view_database(path, &header, options) {
        Ok(view) => Prepared::View(view),
        Err(CopyError::Unusable(reason) | CopyError::ReadOnly(reason)) => {
            Prepared::Plain(unusable_warning(&reason))
        }
        Err(CopyError::Locked { waited }) => {
            let waited = format!("{:.1} s", waited.as_secs_f64());
            match options.locked {
                LockedPolicy::Plain => Prepared::Plain(format!(
                    "SQLite database stayed locked by another process for {waited} (the busy timeout); \
                     stored as a plain file, which may be inconsistent"
                )),
                LockedPolicy::Fail => Prepared::LeaveOut(format!(
                    "SQLite database stayed locked by another process for {waited} (the busy timeout); \
                     left out of the snapshot. Raise the busy timeout or close the app that holds the lock"
                )),
            }
        }
    }
}

/// Checks the file length against the header when no write-ahead log can add pages.
fn truncation(path: &Path, header: &DatabaseHeader) -> Option<String> {
    let wal_len = std::fs::metadata(sidecar_path(path, "-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    if wal_len > 0 {
        return None;
    }
    let len = std::fs::metadata(path).ok()?.len();
    header.truncation(len)
}

/// Reads a WAL-mode database in place at a snapshot; copies any other, or one this
/// SQLite cannot read at a snapshot.
fn view_database(
    path: &Path,
    header: &DatabaseHeader,
    options: &SqliteOptions,
) -> Result<DatabaseView, CopyError> {
    if let Some(snapshot) = take_snapshot(path, options)? {
        match view_snapshot(snapshot, header) {
            Err(CopyError::Unusable(reason) | CopyError::ReadOnly(reason)) => {
                tracing::debug!(path = %path.display(), %reason, "copying the SQLite database");
            }
            view => return view,
        }
    }
    copy_database(path, header, options)
}

/// Takes a snapshot of a WAL-mode database, retrying while another connection holds
/// a lock that blocks readers. `None` means the database must be copied instead.
fn take_snapshot(path: &Path, options: &SqliteOptions) -> Result<Option<WalSnapshot>, CopyError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match WalSnapshot::take(path) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(SnapshotError::Busy) => wait_for_lock(started, &mut pause, options)?,
            Err(SnapshotError::CopyInstead(reason)) => {
                tracing::debug!(path = %path.display(), %reason, "copying the SQLite database");
                return Ok(None);
            }
        }
    }
}

fn view_snapshot(
    snapshot: WalSnapshot,
    header: &DatabaseHeader,
) -> Result<DatabaseView, CopyError> {
    if snapshot.page_size() as usize != header.page_size {
        return Err(CopyError::Unusable(format!(
            "the snapshot has page size {}, the file's header {}",
            snapshot.page_size(),
            header.page_size
        )));
    }
    let mut reader = snapshot
        .pages()
        .map_err(|e| CopyError::Unusable(e.to_string()))?;
    let mut head = vec![0u8; HEADER_LEN];
    reader
        .read_exact(&mut head)
        .map_err(|e| CopyError::Unusable(format!("cannot read the first page: {e}")))?;
    let len = snapshot.len();
    let source = DatabaseSource::Snapshot(Arc::new(snapshot));
    Ok(DatabaseView {
        check: Some(spawn_check(source.clone())),
        source,
        reader,
        head,
        len,
        checked: None,
    })
}

fn spawn_check(source: DatabaseSource) -> JoinHandle<Result<(), String>> {
    std::thread::spawn(move || quick_check(&source))
}

fn copy_database(
    path: &Path,
    header: &DatabaseHeader,
    options: &SqliteOptions,
) -> Result<DatabaseView, CopyError> {
    let temp_path = temporary_path(options.temp_dir.as_deref());
    let guard = TemporaryGuard(temp_path.clone());
    create_private(&temp_path)?;
    match copy_into(path, &temp_path, OpenFlags::SQLITE_OPEN_READ_ONLY, options) {
        // A read-only connection cannot roll back a hot journal left by a writer that
        // crashed, so such a database is opened read-write, as the app would open it.
        Err(CopyError::ReadOnly(reason)) => {
            tracing::info!(path = %path.display(), %reason, "reading the SQLite database read-write");
            remove_temporary(&temp_path);
            create_private(&temp_path)?;
            copy_into(path, &temp_path, OpenFlags::SQLITE_OPEN_READ_WRITE, options)?;
        }
        other => other?,
    }
    verify_page_size(&temp_path, header)?;
    let mut file = File::open(&temp_path)
        .map_err(|e| CopyError::Unusable(format!("cannot open the copy: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| CopyError::Unusable(format!("cannot read the copy's length: {e}")))?
        .len();
    let mut head = vec![0u8; HEADER_LEN];
    file.read_exact(&mut head)
        .map_err(|e| CopyError::Unusable(format!("cannot read the copy: {e}")))?;
    // From here on the view's Drop waits for the check before removing the files.
    std::mem::forget(guard);
    let source = DatabaseSource::Copy(temp_path);
    Ok(DatabaseView {
        check: Some(spawn_check(source.clone())),
        source,
        reader: Box::new(file),
        head,
        len,
        checked: None,
    })
}

/// Copies the database at `source` into a new database at `target` in one backup
/// step, so the copy is one consistent read transaction of the source. The step is
/// retried while another connection holds a lock that blocks reading.
fn copy_into(
    source: &Path,
    target: &Path,
    flags: OpenFlags,
    options: &SqliteOptions,
) -> Result<(), CopyError> {
    let started = Instant::now();
    let source = Connection::open_with_flags(source, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // rusqlite sets a 5 s busy timeout on every connection; the loop below retries
    // instead, so that the options' timeout applies and each retry is logged.
    source.busy_timeout(Duration::ZERO)?;
    let mut target = Connection::open(target)?;
    // The copy is temporary: a crash leaves a file that is removed anyway.
    target.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    let backup = Backup::new(&source, &mut target)?;
    let mut pause = Duration::from_millis(10);
    loop {
        // -1 copies every page in one step. Smaller steps would release the source's
        // read lock in between, and the API restarts from page 1 whenever another
        // connection writes between steps, which a busy writer would make endless.
        match backup.step(-1) {
            Ok(StepResult::Done) => return Ok(()),
            Ok(StepResult::More) => continue,
            Ok(StepResult::Busy | StepResult::Locked) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {}
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        wait_for_lock(started, &mut pause, options)?;
    }
}

/// Sleeps before the next attempt to read a locked database, or gives up once the
/// busy timeout has passed since `started`.
fn wait_for_lock(
    started: Instant,
    pause: &mut Duration,
    options: &SqliteOptions,
) -> Result<(), CopyError> {
    let waited = started.elapsed();
    if waited >= options.busy_timeout {
        return Err(CopyError::Locked { waited });
    }
    tracing::debug!(
        waited_ms = waited.as_millis() as u64,
        "SQLite database is locked; retrying"
    );
    std::thread::sleep((*pause).min(options.busy_timeout - waited));
    *pause = (*pause * 2).min(MAX_PAUSE);
    Ok(())
}

fn open_copy(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Checks that the copy is a database with the source's page size.
fn verify_page_size(path: &Path, header: &DatabaseHeader) -> Result<(), CopyError> {
    let conn = open_copy(path)?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    if page_size as usize != header.page_size {
        return Err(CopyError::Unusable(format!(
            "the copy has page size {page_size}, the source {}",
            header.page_size
        )));
    }
    Ok(())
}

/// Checks that the view is a well-formed database: every b-tree page, including the
/// pages of the full-text indexes' own tables.
fn quick_check(source: &DatabaseSource) -> Result<(), String> {
    let sql_error = |e: rusqlite::Error| format!("SQLite error: {e}");
    let conn = source.connect().map_err(sql_error)?;
    skip_fts5_checks(&conn);
    let mut statement = conn.prepare("PRAGMA quick_check(5)").map_err(sql_error)?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(sql_error)?;
    if problems != ["ok"] {
        return Err(format!("quick_check: {}", problems.join("; ")));
    }
    Ok(())
}

/// Virtual table modules whose own check `quick_check` still runs: the built-in
/// modules that have one, except FTS5.
const CHECKED_MODULES: [&CStr; 5] = [c"fts3", c"fts4", c"rtree", c"rtree_i32", c"geopoly"];

/// Drops every virtual table module from `conn` except [`CHECKED_MODULES`], so its
/// `quick_check` skips FTS5's own check of each index, contentless ones included.
/// That check took about 0.6 s of the 6.8 s of CPU in the first backup of a 1 GB chat
/// data set, and the b-tree walk still covers the index's pages. docs/FORMAT.md
/// describes how a restore handles a damaged index.
fn skip_fts5_checks(conn: &Connection) {
    let mut keep: Vec<*const c_char> = CHECKED_MODULES.iter().map(|m| m.as_ptr()).collect();
    keep.push(std::ptr::null());
    // SAFETY: `keep` is a null-terminated array of NUL-terminated strings that outlive
    // the call, and `conn.handle()` is the open connection this thread owns. The call
    // frees this connection's FTS5 context, which its `fts5()` function still points
    // to, so the connection runs only the check and is dropped after it.
    unsafe { rusqlite::ffi::sqlite3_drop_modules(conn.handle(), keep.as_mut_ptr()) };
}

/// Creates the empty copy with owner-only permissions before SQLite opens it. SQLite
/// gives the sidecars it creates the same permissions.
fn create_private(path: &Path) -> Result<(), CopyError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| {
            CopyError::Unusable(format!(
                "cannot create the temporary copy {}: {e}",
                path.display()
            ))
        })
}

fn temporary_path(dir: Option<&Path>) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(
        "haven-sqlite-{}-{}-{nanos:08x}.db",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Removes a temporary copy and the sidecars SQLite made next to it.
fn remove_temporary(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in SIDECAR_SUFFIXES {
        let _ = std::fs::remove_file(sidecar_path(path, suffix));
    }
}

/// Removes a temporary copy when the copy fails part way.
struct TemporaryGuard(PathBuf);

impl Drop for TemporaryGuard {
    fn drop(&mut self) {
        remove_temporary(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's FULL checkpoint holds the log's checkpoint lock while it waits for
    /// one of the app's readers, so no connection can open at a snapshot. The backup
    /// copies the database instead of storing it as a plain file.
    #[test]
    fn blocked_checkpoint_falls_back_to_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t(x); INSERT INTO t VALUES (1);",
            )
            .unwrap();
        let app_reader = Connection::open(&path).unwrap();
        app_reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let checkpoint_path = path.clone();
        let checkpoint = std::thread::spawn(move || {
            let conn = Connection::open(&checkpoint_path).unwrap();
            conn.busy_timeout(Duration::from_secs(2)).unwrap();
            conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap()
        });
        std::thread::sleep(Duration::from_millis(300));

        let mut head = vec![0u8; HEADER_LEN];
        File::open(&path).unwrap().read_exact(&mut head).unwrap();
        let mut view = match prepare(&path, &head, &SqliteOptions::default()) {
            Prepared::View(view) => view,
            Prepared::Plain(warning) => panic!("stored as a plain file: {warning}"),
            Prepared::LeaveOut(reason) => panic!("left out: {reason}"),
            Prepared::NotDatabase => panic!("not a database"),
        };
        assert!(matches!(view.source, DatabaseSource::Copy(_)));
        assert_eq!(view.checked(), Ok(()));
        let rows: i64 = view
            .source
            .connect()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        assert_eq!(
            checkpoint.join().unwrap(),
            1,
            "the checkpoint was not blocked"
        );
    }
}
