//! The first write into each folder, one at a time, on stores where a write creates
//! its parent folders with requests of its own (WebDAV `MKCOL`, Google Drive folders).
//!
//! Two uploads that create the same folder at once race: rclone's WebDAV server
//! rejects the second `MKCOL` with 423 Locked, which costs a retry, and Google Drive
//! can end up with two folders of the same name. Once a folder is known to exist,
//! writes into it run concurrently again.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct FolderGate {
    known: Mutex<HashSet<String>>,
    creating: tokio::sync::Mutex<()>,
}

impl FolderGate {
    /// Runs `write`, the write of the object at `path`, alone among first writes
    /// when its folder is not yet known to exist.
    pub async fn write<F, Fut>(&self, path: &str, write: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let Some((folder, _)) = path.rsplit_once('/') else {
            return write().await;
        };
        if self.is_known(folder) {
            return write().await;
        }
        let _creating = self.creating.lock().await;
        let result = write().await;
        if result.is_ok() {
            self.known
                .lock()
                .expect("folder set lock")
                .insert(folder.to_string());
        }
        result
    }

    fn is_known(&self, folder: &str) -> bool {
        self.known.lock().expect("folder set lock").contains(folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Counts the writes running at once and records the highest count.
    #[derive(Default)]
    struct Overlap {
        running: AtomicUsize,
        highest: AtomicUsize,
    }

    impl Overlap {
        async fn write(&self) -> Result<()> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.highest.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    }

    async fn write_all(gate: &Arc<FolderGate>, overlap: &Arc<Overlap>, paths: &[&str]) {
        let tasks: Vec<_> = paths
            .iter()
            .map(|path| {
                let (gate, overlap, path) = (gate.clone(), overlap.clone(), path.to_string());
                tokio::spawn(async move { gate.write(&path, || overlap.write()).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn first_folder_writes_run_alone() {
        let gate = Arc::new(FolderGate::default());
        let first = Arc::new(Overlap::default());
        write_all(
            &gate,
            &first,
            &["data/aa/1", "data/aa/2", "data/bb/3", "data/bb/4"],
        )
        .await;
        assert_eq!(first.highest.load(Ordering::SeqCst), 1);

        let later = Arc::new(Overlap::default());
        write_all(
            &gate,
            &later,
            &["data/aa/5", "data/aa/6", "data/bb/7", "config"],
        )
        .await;
        assert!(later.highest.load(Ordering::SeqCst) > 1);
    }
}
