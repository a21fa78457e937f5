//! A WAL-mode database read in place at one snapshot.
//!
//! One connection (the anchor) keeps a read transaction open for as long as the
//! snapshot lives. The page reader, the `quick_check` and the row scan each open their
//! own connection at the anchor's snapshot, so all see one consistent database while
//! the app keeps writing, and nothing is copied to disk first:
//!
//! - When the write-ahead log contains frames, the others open at the anchor's snapshot
//!   through `sqlite3_snapshot_open`. The anchor's read lock keeps those frames.
//! - When the log is empty, the database file alone is the snapshot. The anchor then
//!   holds read lock 0, which no checkpoint passes before it writes to the file, so
//!   the file stays as it is and the others open it with `immutable=1`, which ignores
//!   the log that writers add to meanwhile.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex};

use rusqlite::{ffi, Connection, OpenFlags};

const MAIN: &CStr = c"main";
/// How long a connection at the snapshot waits for a lock. Opening at a snapshot
/// takes the log's checkpoint lock, which the app holds for as long as its own FULL,
/// RESTART or TRUNCATE checkpoint waits for readers. A copy needs no such lock, so a
/// backup copies the database rather than waiting long.
const CONNECT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);
/// Connections opened at the snapshot when it is taken: the page reader, the
/// `quick_check`, the row plan's two connections and the base scan. Once open, none
/// of them waits for a lock again.
const READERS: usize = 5;
/// Bytes in a write-ahead log's header, before its first frame.
const WAL_HEADER_LEN: u64 = 32;

/// A snapshot of a WAL-mode database, held open until dropped.
pub(crate) struct WalSnapshot {
    path: PathBuf,
    /// The connection whose read transaction keeps `snapshot` valid until dropped. It
    /// is not used after [`WalSnapshot::take`], and the mutex only lets threads share it.
    _anchor: Mutex<Connection>,
    /// `None` when the log was empty: the file itself is the snapshot.
    snapshot: Option<SnapshotHandle>,
    /// Connections already open at the snapshot, handed out by [`WalSnapshot::connect`].
    readers: Mutex<Vec<Connection>>,
    page_size: u32,
    page_count: u32,
    /// The database file when the log was empty, read for the pages. It comes last so
    /// it closes after the anchor, because closing it drops the process's POSIX locks.
    file: Option<Arc<File>>,
}

/// An `sqlite3_snapshot`, freed on drop. It is a copy of the log's header and names no
/// connection, so other threads may open connections at it.
struct SnapshotHandle(*mut ffi::sqlite3_snapshot);

// SAFETY: the handle is plain data owned by this value; SQLite reads it only inside
// `sqlite3_snapshot_open` and frees it once, in `drop`.
unsafe impl Send for SnapshotHandle {}
unsafe impl Sync for SnapshotHandle {}

impl Drop for SnapshotHandle {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `sqlite3_snapshot_get` and is freed only here.
        unsafe { raw::free(self.0) }
    }
}

/// The reason a database cannot be read in place.
pub(crate) enum SnapshotError {
    /// Another connection holds a lock that blocks readers; retry later.
    Busy,
    /// Not in WAL mode, this SQLite lacks the snapshot or page interfaces, SQLite
    /// failed, or the readers cannot open at the snapshot: copy the database instead.
    CopyInstead(String),
}

impl From<rusqlite::Error> for SnapshotError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                SnapshotError::Busy
            }
            _ => SnapshotError::CopyInstead(e.to_string()),
        }
    }
}

/// Returns whether this build of SQLite has the `sqlite_dbpage` table and snapshots.
pub(crate) fn supported() -> bool {
    let used = |option: &CStr| {
        // SAFETY: the argument is a NUL-terminated string that outlives the call.
        unsafe { ffi::sqlite3_compileoption_used(option.as_ptr()) != 0 }
    };
    cfg!(sqlite_snapshot) && used(c"ENABLE_DBPAGE_VTAB") && used(c"ENABLE_SNAPSHOT")
}

/// SQLite's snapshot calls. They are defined only when SQLite is built with them, as
/// `build.rs` finds out. Without them [`supported`] is false, so they are never called.
#[cfg(sqlite_snapshot)]
mod raw {
    pub use rusqlite::ffi::{
        sqlite3_snapshot_free as free, sqlite3_snapshot_get as get, sqlite3_snapshot_open as open,
    };
}

#[cfg(not(sqlite_snapshot))]
mod raw {
    use std::ffi::{c_char, c_int};

    use rusqlite::ffi::{sqlite3, sqlite3_snapshot, SQLITE_ERROR};

    pub unsafe fn get(_: *mut sqlite3, _: *const c_char, _: *mut *mut sqlite3_snapshot) -> c_int {
        SQLITE_ERROR
    }

    pub unsafe fn open(_: *mut sqlite3, _: *const c_char, _: *mut sqlite3_snapshot) -> c_int {
        SQLITE_ERROR
    }

    pub unsafe fn free(_: *mut sqlite3_snapshot) {}
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The caller retries on its own schedule and logs each wait.
    conn.busy_timeout(std::time::Duration::ZERO)?;
    small_cache(conn)
}

/// Gives a connection a 512 KiB page cache. Each reader of a backup passes over the
/// pages once, so SQLite's default of 2 MiB a connection only added to the peak memory
/// of the anchor and the four readers.
fn small_cache(conn: Connection) -> rusqlite::Result<Connection> {
    conn.pragma_update(None, "cache_size", -512)?;
    Ok(conn)
}

/// Opens the database file alone, without its log and without locks. Safe only while
/// the anchor's read lock 0 keeps checkpoints from writing to the file.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    let authority = if path.is_absolute() { "//" } else { "" };
    let uri = format!("file:{authority}{}?immutable=1", uri_path(path));
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    small_cache(conn)
}

/// Escapes a path for a `file:` URI: every byte outside the unreserved set and `/`.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Returns whether the write-ahead log next to `path` is missing or contains no frame,
/// the only case in which SQLite's `sqlite3_snapshot_get` fails for a reader in WAL
/// mode.
fn wal_is_empty(path: &Path) -> Result<bool, SnapshotError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    match std::fs::metadata(&wal) {
        Ok(meta) => Ok(meta.len() <= WAL_HEADER_LEN),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(SnapshotError::CopyInstead(format!(
            "cannot read the log's length: {e}"
        ))),
    }
}

/// Takes the snapshot of the read transaction open on `anchor`. Returns `None` when
/// the log is empty, because SQLite gives no snapshot then: the file alone is the
/// database.
fn snapshot_of(anchor: &Connection, path: &Path) -> Result<Option<SnapshotHandle>, SnapshotError> {
    let mut handle = ptr::null_mut();
    // SAFETY: the connection is open and in a read transaction; `handle` receives a
    // snapshot that `SnapshotHandle` frees.
    let rc = unsafe { raw::get(anchor.handle(), MAIN.as_ptr(), &mut handle) };
    match rc {
        ffi::SQLITE_OK => Ok(Some(SnapshotHandle(handle))),
        ffi::SQLITE_ERROR if wal_is_empty(path)? => Ok(None),
        _ => Err(SnapshotError::CopyInstead(format!(
            "sqlite3_snapshot_get failed: {}",
            ffi::Error::new(rc)
        ))),
    }
}

impl WalSnapshot {
    /// Starts a read transaction on the database at `path` and takes its snapshot.
    pub fn take(path: &Path) -> Result<Self, SnapshotError> {
        if !supported() {
            return Err(SnapshotError::CopyInstead(
                "this SQLite build lacks sqlite_dbpage or snapshots".into(),
            ));
        }
        let anchor = open_read_only(path)?;
        let mode: String = anchor.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SnapshotError::CopyInstead(format!("journal mode {mode}")));
        }

        anchor.execute_batch("BEGIN")?;
        let handle = snapshot_of(&anchor, path)?;
        let page_size: u32 = anchor.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let page_count: u32 = anchor.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        // Opened while the anchor's read transaction is open.
        let file = match handle {
            Some(_) => None,
            None => Some(Arc::new(File::open(path).map_err(|e| {
                SnapshotError::CopyInstead(format!("cannot open the database file: {e}"))
            })?)),
        };
        let mut wal = Self {
            file,
            path: path.to_path_buf(),
            _anchor: Mutex::new(anchor),
            snapshot: handle,
            readers: Mutex::new(Vec::new()),
            page_size,
            page_count,
        };

        // The page reader of a file alone reads the file, not a connection.
        let opened = READERS - usize::from(wal.file.is_some());
        let readers = (0..opened)
            .map(|_| wal.open_reader())
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| {
                SnapshotError::CopyInstead(format!("cannot open a reader at the snapshot: {e}"))
            })?;
        wal.readers = Mutex::new(readers);
        Ok(wal)
    }

    /// Bytes in the database at the snapshot.
    pub fn len(&self) -> u64 {
        u64::from(self.page_size) * u64::from(self.page_count)
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Returns a read-only connection whose reads all see the snapshot, until it
    /// closes: one opened when the snapshot was taken, or a new one.
    pub fn connect(&self) -> rusqlite::Result<Connection> {
        let reader = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match reader {
            Some(conn) => Ok(conn),
            None => self.open_reader(),
        }
    }

    /// Opens a read-only connection at the snapshot.
    fn open_reader(&self) -> rusqlite::Result<Connection> {
        let Some(snapshot) = &self.snapshot else {
            return open_immutable(&self.path);
        };
        let conn = open_read_only(&self.path)?;
        conn.busy_timeout(CONNECT_BUSY_TIMEOUT)?;
        // A first read opens the log, which `sqlite3_snapshot_open` needs.
        conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
        conn.execute_batch("BEGIN")?;
        // SAFETY: `conn` is open, outside autocommit and has read nothing yet. The
        // snapshot handle stays valid while `self` lives.
        let rc = unsafe { raw::open(conn.handle(), MAIN.as_ptr(), snapshot.0) };
        if rc != ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(rc),
                Some(format!(
                    "cannot open the database at the backup's snapshot (code {rc})"
                )),
            ));
        }
        Ok(conn)
    }

    /// Reads the snapshot's pages in order, as the bytes of a database file.
    pub fn pages(&self) -> io::Result<Box<dyn Read + Send>> {
        if let Some(file) = &self.file {
            // The file alone is the snapshot, and the anchor's read lock 0 keeps
            // checkpoints from writing to it, so its bytes are the pages. Reading
            // them through `sqlite_dbpage` cost a query per page.
            return Ok(Box::new(FilePages {
                file: file.clone(),
                offset: 0,
                left: self.len(),
            }));
        }
        let reader = self
            .page_reader()
            .map_err(|e| io::Error::other(format!("cannot read the pages: {e}")))?;
        Ok(Box::new(reader))
    }

    fn page_reader(&self) -> rusqlite::Result<PageReader> {
        let conn = self.connect()?;
        let count: u32 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        if count != self.page_count {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_ERROR),
                Some(format!(
                    "the page reader sees {count} pages, the snapshot {}",
                    self.page_count
                )),
            ));
        }
        Ok(PageReader {
            conn,
            next: 1,
            count: self.page_count,
            page_size: self.page_size as usize,
            page: Vec::new(),
            offset: 0,
        })
    }
}

/// The pages of a snapshot that is the database file alone: its first `left` bytes.
struct FilePages {
    file: Arc<File>,
    offset: u64,
    left: u64,
}

impl Read for FilePages {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..room], self.offset)?;
        if n == 0 && room > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the database file ends {} bytes before its last page",
                    self.left
                ),
            ));
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The pages of a snapshot through `sqlite_dbpage`, one page at a time.
struct PageReader {
    conn: Connection,
    /// The next page number to load.
    next: u32,
    count: u32,
    page_size: usize,
    /// The loaded page and how much of it was read.
    page: Vec<u8>,
    offset: usize,
}

impl PageReader {
    /// Gives page `self.next` to `take` and moves on to the next page.
    fn load<T>(&mut self, take: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
        let pgno = self.next;
        let read = || -> rusqlite::Result<T> {
            let mut statement = self
                .conn
                .prepare_cached("SELECT data FROM sqlite_dbpage WHERE pgno = ?1")?;
            let mut rows = statement.query([pgno])?;
            let row = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let data = row.get_ref(0)?.as_blob()?;
            if data.len() != self.page_size {
                return Err(rusqlite::Error::InvalidColumnType(
                    0,
                    format!("{} bytes, not the page size {}", data.len(), self.page_size),
                    rusqlite::types::Type::Blob,
                ));
            }
            Ok(take(data))
        };
        let value =
            read().map_err(|e| io::Error::other(format!("cannot read page {pgno}: {e}")))?;
        self.next += 1;
        Ok(value)
    }
}

impl Read for PageReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.offset == self.page.len() {
                if self.next > self.count {
                    break;
                }
                let room = buf.len() - filled;
                if room >= self.page_size {
                    // A whole page fits: copy it straight into the caller's buffer.
                    let target = &mut buf[filled..filled + self.page_size];
                    self.load(|data| target.copy_from_slice(data))?;
                    filled += self.page_size;
                    continue;
                }
                // Emptied first, so that a failed load leaves no stale page behind.
                let mut page = std::mem::take(&mut self.page);
                page.clear();
                self.offset = 0;
                let loaded = self.load(|data| page.extend_from_slice(data));
                self.page = page;
                loaded?;
            }
            let n = (self.page.len() - self.offset).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&self.page[self.offset..self.offset + n]);
            self.offset += n;
            filled += n;
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates a WAL database of `rows` rows with automatic checkpoints off, and
    /// returns its writer, still open so that the log keeps its frames.
    fn wal_database(dir: &Path, rows: i64) -> (PathBuf, Connection) {
        let path = dir.join("app.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);",
            )
            .unwrap();
        insert(&writer, rows);
        (path, writer)
    }

    fn take(path: &Path) -> WalSnapshot {
        match WalSnapshot::take(path) {
            Ok(snapshot) => snapshot,
            Err(SnapshotError::CopyInstead(reason)) => panic!(
                "cannot take the snapshot: {reason}. A build without snapshots must run \
                 cargo inside the repository, whose .cargo/config.toml sets LIBSQLITE3_FLAGS"
            ),
            Err(SnapshotError::Busy) => panic!("cannot take the snapshot: the database is locked"),
        }
    }

    fn insert(writer: &Connection, rows: i64) {
        writer
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO t(body) SELECT randomblob(900) FROM n",
                [rows],
            )
            .unwrap();
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    /// Writes the snapshot's pages to a file and counts the rows of that database.
    fn count_in_pages(snapshot: &WalSnapshot, dir: &Path) -> i64 {
        let mut bytes = Vec::new();
        snapshot.pages().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, snapshot.len());
        let path = dir.join("pages.db");
        std::fs::write(&path, bytes).unwrap();
        let conn = Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        count(&conn)
    }

    /// Commits more rows and checkpoints as far as the readers allow.
    fn write_and_checkpoint(writer: &Connection) {
        insert(writer, 500);
        writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
    }

    #[test]
    fn log_with_frames_is_read_at_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 300);
        let snapshot = take(&path);
        assert!(snapshot.snapshot.is_some(), "the log holds frames");
        write_and_checkpoint(&writer);
        assert_eq!(count(&writer), 800);
        // More connections than were opened with the snapshot: the later ones open
        // at it after the writer's commits.
        for _ in 0..READERS + 2 {
            assert_eq!(count(&snapshot.connect().unwrap()), 300);
        }
        assert_eq!(count_in_pages(&snapshot, dir.path()), 300);
    }

    #[test]
    fn reset_log_is_read_at_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 300);
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let snapshot = take(&path);
        write_and_checkpoint(&writer);
        assert_eq!(count(&writer), 800);
        assert_eq!(count(&snapshot.connect().unwrap()), 300);
        assert_eq!(count_in_pages(&snapshot, dir.path()), 300);
    }

    #[test]
    fn empty_log_is_read_from_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 300);
        // The last connection to close checkpoints and removes the log.
        drop(writer);
        let snapshot = take(&path);
        assert!(snapshot.snapshot.is_none(), "the log is empty");
        let writer = Connection::open(&path).unwrap();
        write_and_checkpoint(&writer);
        assert_eq!(count(&writer), 800);
        assert_eq!(count(&snapshot.connect().unwrap()), 300);
        assert_eq!(count_in_pages(&snapshot, dir.path()), 300);
        // Once the snapshot is gone, the checkpoint reaches the file.
        drop(snapshot);
        write_and_checkpoint(&writer);
        let file_alone = open_immutable(&path).unwrap();
        assert_eq!(count(&file_alone), 1300);
    }

    #[test]
    fn truncated_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 300);
        drop(writer);
        let snapshot = take(&path);
        assert!(snapshot.snapshot.is_none(), "the log is empty");
        // Damage from outside SQLite, which no lock keeps out.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(snapshot.len() - 1000).unwrap();
        let mut bytes = Vec::new();
        let error = snapshot
            .pages()
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ends 1000 bytes before its last page"),
            "{error}"
        );
    }

    #[test]
    fn rollback_journal_databases_are_copied_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY)")
            .unwrap();
        assert!(matches!(
            WalSnapshot::take(&path),
            Err(SnapshotError::CopyInstead(_))
        ));
    }

    /// Takes a snapshot of a log whose frames are all checkpointed. An anchor on read
    /// lock 0 would let the next commit restart the log under the snapshot.
    #[test]
    fn checkpointed_log_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 300);
        writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
        let snapshot = take(&path);
        assert!(snapshot.snapshot.is_some(), "the log holds frames");
        insert(&writer, 10);
        let conn = snapshot.connect();
        assert!(conn.is_ok(), "connect failed: {:?}", conn.err());
        assert_eq!(count(&conn.unwrap()), 300);
    }

    /// POSIX keeps a leading "//", and `std::path::absolute` preserves it.
    #[test]
    fn immutable_open_accepts_double_slash() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 3);
        drop(writer);
        let doubled = PathBuf::from(format!("/{}", path.display()));
        let conn = open_immutable(&doubled);
        assert!(conn.is_ok(), "open failed: {:?}", conn.err());
        assert_eq!(count(&conn.unwrap()), 3);
    }

    #[test]
    fn schema_change_after_snapshot_is_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path(), 30);
        let snapshot = take(&path);
        writer
            .execute_batch("ALTER TABLE t ADD COLUMN extra; CREATE TABLE u(x);")
            .unwrap();
        let conn = snapshot.connect().unwrap();
        let mut statement = conn.prepare("PRAGMA table_xinfo(t)").unwrap();
        let names: Vec<String> = statement
            .query_map([], |row| row.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .unwrap();
        assert_eq!(names, ["id", "body"]);
        assert_eq!(tables, 1);
    }

    #[test]
    fn truncate_and_mode_switch_keep_snapshot() {
        for empty_log in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (path, mut writer) = wal_database(dir.path(), 300);
            if empty_log {
                drop(writer);
                writer = Connection::open(&path).unwrap();
            }
            writer
                .busy_timeout(std::time::Duration::from_millis(100))
                .unwrap();
            let snapshot = take(&path);
            assert_eq!(snapshot.snapshot.is_none(), empty_log);
            insert(&writer, 500);
            let truncate: i64 = writer
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                .unwrap();
            let switched = writer.query_row("PRAGMA journal_mode = DELETE", [], |row| {
                row.get::<_, String>(0)
            });
            insert(&writer, 500);
            assert_eq!(truncate, 1, "the snapshot did not block TRUNCATE");
            assert!(
                switched.is_err() || switched.as_ref().unwrap() == "wal",
                "{switched:?}"
            );
            assert_eq!(count(&snapshot.connect().unwrap()), 300);
            assert_eq!(count_in_pages(&snapshot, dir.path()), 300);
        }
    }

    #[test]
    fn uri_paths_escape_reserved_bytes() {
        assert_eq!(uri_path(Path::new("/a b/c?d#e%f")), "/a%20b/c%3Fd%23e%25f");
    }
}
