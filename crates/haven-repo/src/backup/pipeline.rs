//! The blob pipeline of a backup. The walking thread hashes small blobs. A pool of
//! worker threads hashes large chunks, and compresses and seals every blob. One packer
//! thread fills packs, and the async runtime uploads a bounded number at once.
//!
//! Bounded channels give back-pressure, so memory stays near
//! (channel depth × max chunk size + upload concurrency × pack size) no matter how
//! large the files are. Into a local folder, data packs are written while they fill
//! ([`super::pack_file`]), so they take no pack buffers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use super::pack_file::{ClosingPack, PackFile};
use crate::buffers::BufferPool;
use crate::chunker::{Chunk, ChunkPool};
use crate::direct_writer::DirectWrites;
use crate::error::{RepoError, Result};
use crate::id::ObjectId;
use crate::index::{self, IndexFile, IndexedPack};
use crate::pack::{self, BlobType, PackBuilder};
use crate::Repository;

/// Batches queued between threads. A batch of media is often one 1 to 4 MiB chunk.
/// Each chunk then took a plaintext and a sealed buffer. With one batch in place of
/// two, the first backup of the 1 GB benchmark folder peaked at 111 to 129 MiB
/// resident (median 121) against 112 to 133 MiB (median 126), in the same time.
/// Two or three batches did not make the backup of random data faster.
const CHANNEL_DEPTH: usize = 1;
/// Chunks at least this long are sealed into reused buffers. With a new buffer for
/// each, every chunk of a media file cost fresh pages from the kernel.
const LARGE_BLOB: usize = 128 * 1024;
/// Small blobs (SQLite pages, small files) travel between threads in batches of about
/// this many bytes: waking a thread for every 4 KiB page cost a tenth of a backup's
/// CPU time.
const BATCH_BYTES: usize = 256 * 1024;
/// Write an index file at least this often, so an interrupted backup loses little.
const INDEX_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

struct Job {
    blob_type: BlobType,
    id: JobId,
    plaintext: Chunk,
    compress: bool,
}

/// The id of a job's blob, or where a sealing thread reports it once hashed.
enum JobId {
    Known(ObjectId),
    /// A data chunk of a file, at this position in the file's chunk list.
    Unhashed(Arc<HashedChunks>, usize),
}

/// Ids that the sealing threads computed for one file's large chunks, by position.
#[derive(Default)]
pub(crate) struct HashedChunks {
    ids: Mutex<Vec<(usize, ObjectId)>>,
    added: Condvar,
}

/// A file's chunk ids in order, some of them still being hashed by the sealing threads
/// until [`Pipeline::resolve`] waits for them.
#[derive(Default)]
pub(crate) struct ChunkIds {
    ids: Vec<ObjectId>,
    /// Where the sealing threads report ids, made with the first large chunk so that
    /// files of small chunks allocate nothing for it.
    hashed: Option<Arc<HashedChunks>>,
    unhashed: usize,
}

impl ChunkIds {
    /// Returns whether any chunk is still being hashed.
    pub fn has_unhashed(&self) -> bool {
        self.unhashed > 0
    }
}

/// Blobs sent into the pipeline during this backup, shared with the sealing threads
/// that hash large chunks.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<HashSet<ObjectId>>>);

impl Pending {
    /// Returns true and records `id` if neither this run nor the repository has it.
    fn claim(&self, repo: &Repository, id: ObjectId) -> bool {
        let mut pending = self.0.lock().expect("pending blob lock");
        if pending.contains(&id) || repo.has_reusable_blob(&id) {
            return false;
        }
        pending.insert(id)
    }
}

struct SealedBlob {
    blob_type: BlobType,
    id: ObjectId,
    sealed: Vec<u8>,
    raw_length: u64,
}

/// Bytes, packs and blobs that the packer wrote.
#[derive(Default, Debug)]
pub(crate) struct PackerStats {
    pub bytes_written: u64,
    pub packs: u64,
    pub blobs: u64,
}

pub(crate) struct Pipeline {
    repo: Repository,
    /// Buffers for chunks of at least [`LARGE_BLOB`] bytes, which are sealed in them.
    chunk_buffers: BufferPool,
    jobs: Option<SyncSender<Vec<Job>>>,
    /// Jobs not yet sent to the sealing threads, and their plaintext bytes.
    batch: Vec<Job>,
    batch_bytes: usize,
    workers: Vec<JoinHandle<()>>,
    packer: Option<JoinHandle<Result<PackerStats>>>,
    /// Blobs sent into the pipeline during this backup.
    pending: Pending,
    /// Ids of all-zero data chunks, by length.
    zero_ids: HashMap<usize, ObjectId>,
    /// Every blob the new snapshot references, new or reused.
    used: HashSet<ObjectId>,
}

impl Pipeline {
    /// Starts the sealing threads and the packer.
    pub fn start(
        repo: Repository,
        handle: Handle,
        limits: &PipelineLimits,
        written: Arc<AtomicU64>,
    ) -> Self {
        let workers = limits.workers;
        let (job_tx, job_rx) = mpsc::sync_channel::<Vec<Job>>(CHANNEL_DEPTH);
        let (sealed_tx, sealed_rx) = mpsc::sync_channel::<Vec<SealedBlob>>(CHANNEL_DEPTH);
        let job_rx = Arc::new(Mutex::new(job_rx));
        // Buffers for chunks of at least LARGE_BLOB bytes. The chunker fills each one
        // after room for the sealed blob's header, and a sealing thread seals it in
        // place or compresses it into a second buffer. The packer returns the buffer
        // once it has copied it into a pack. Up to one per worker, per queued batch
        // and in the packer are in use at once, and a second one for a compressed
        // chunk.
        let capacity = repo.config.chunk_max as usize + 1 + haven_crypto::AEAD_OVERHEAD;
        let in_flight = workers.max(1) + 2 * CHANNEL_DEPTH + 2;
        let chunk_buffers = BufferPool::new(capacity, 2 * in_flight);
        let pending = Pending::default();
        let workers = (0..workers.max(1))
            .map(|_| {
                let job_rx = job_rx.clone();
                let sealed_tx = sealed_tx.clone();
                let sealer = Sealer {
                    repo: repo.clone(),
                    pending: pending.clone(),
                    buffers: chunk_buffers.clone(),
                };
                std::thread::spawn(move || loop {
                    let jobs = match job_rx.lock().expect("job queue lock").recv() {
                        Ok(jobs) => jobs,
                        Err(_) => return,
                    };
                    let sealed = jobs
                        .into_iter()
                        .filter_map(|job| sealer.seal(job))
                        .collect();
                    if sealed_tx.send(sealed).is_err() {
                        return;
                    }
                })
            })
            .collect();
        drop(sealed_tx);
        let packer = Packer::new(repo.clone(), handle, limits, written, chunk_buffers.clone());
        let packer = std::thread::spawn(move || packer.run(sealed_rx));
        Self {
            repo,
            chunk_buffers,
            jobs: Some(job_tx),
            batch: Vec::new(),
            batch_bytes: 0,
            workers,
            packer: Some(packer),
            pending,
            zero_ids: HashMap::new(),
            used: HashSet::new(),
        }
    }

    /// Hashes a blob and queues it unless the repository or this run already has it.
    /// Returns the id and whether the blob was new.
    pub fn save(
        &mut self,
        blob_type: BlobType,
        plaintext: Vec<u8>,
        compress: bool,
    ) -> Result<(ObjectId, bool)> {
        // Runs of zeros (sparse files, preallocated space) repeat the same chunk, so
        // their ids are cached by length instead of hashed again.
        let zero_run = blob_type == BlobType::Data && plaintext.iter().all(|b| *b == 0);
        let id = match self.zero_ids.get(&plaintext.len()) {
            Some(id) if zero_run => *id,
            _ => pack::blob_id(&self.repo.keys, &plaintext),
        };
        if zero_run {
            self.zero_ids.insert(plaintext.len(), id);
        }
        self.used.insert(id);
        if !self.pending.claim(&self.repo, id) {
            return Ok((id, false));
        }
        self.queue(Job {
            blob_type,
            id: JobId::Known(id),
            plaintext: plaintext.into(),
            compress,
        })?;
        Ok((id, true))
    }

    /// Adds a data chunk of a file to `ids`. Chunks of at least [`LARGE_BLOB`] bytes
    /// are hashed on the sealing threads. On the walking thread, hashing a 500 MB file
    /// took about a quarter as long as reading and chunking it (perf profile).
    pub fn save_chunk(&mut self, ids: &mut ChunkIds, chunk: Chunk, compress: bool) -> Result<()> {
        // Runs of zeros keep the cache in `save`.
        let bytes = chunk.bytes();
        if bytes.len() < LARGE_BLOB || bytes.iter().all(|b| *b == 0) {
            let (id, _) = self.save(BlobType::Data, chunk.into_bytes(), compress)?;
            ids.ids.push(id);
            return Ok(());
        }
        let position = ids.ids.len();
        // A placeholder, replaced by `resolve`.
        ids.ids.push(ObjectId([0; 32]));
        ids.unhashed += 1;
        let hashed = ids.hashed.get_or_insert_with(Arc::default).clone();
        self.queue(Job {
            blob_type: BlobType::Data,
            id: JobId::Unhashed(hashed, position),
            plaintext: chunk,
            compress,
        })
    }

    /// Waits until the sealing threads have hashed every chunk in `ids` and returns
    /// the ids in order.
    pub fn resolve(&mut self, ids: ChunkIds) -> Result<Vec<ObjectId>> {
        let ChunkIds {
            ids: mut ordered,
            hashed,
            unhashed,
        } = ids;
        if let Some(hashed) = hashed {
            self.send_batch()?;
            let mut done = hashed.ids.lock().expect("chunk id lock");
            while done.len() < unhashed {
                if !self.is_running() {
                    drop(done);
                    return Err(self.stop_with_error());
                }
                done = hashed
                    .added
                    .wait_timeout(done, Duration::from_millis(50))
                    .expect("chunk id lock")
                    .0;
            }
            for (position, id) in done.drain(..) {
                ordered[position] = id;
            }
        }
        self.used.extend(ordered.iter().copied());
        Ok(ordered)
    }

    /// Returns false once a sealing thread or the packer has stopped.
    fn is_running(&self) -> bool {
        let packer_running = self.packer.as_ref().is_some_and(|p| !p.is_finished());
        packer_running && self.workers.iter().all(|w| !w.is_finished())
    }

    /// Adds a job to the batch and sends the batch once it is large enough.
    fn queue(&mut self, job: Job) -> Result<()> {
        self.batch_bytes += job.plaintext.bytes().len();
        self.batch.push(job);
        if self.batch_bytes >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Hands the batched jobs to the sealing threads.
    fn send_batch(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let sender = self.jobs.as_ref().expect("pipeline is running");
        if sender.send(batch).is_err() {
            // The packer stopped: its error is the real cause.
            return Err(self.stop_with_error());
        }
        Ok(())
    }

    fn stop_with_error(&mut self) -> RepoError {
        self.jobs = None;
        match self.join() {
            Err(e) => e,
            Ok(_) => RepoError::Pipeline("the packer stopped without an error".into()),
        }
    }

    fn join(&mut self) -> Result<PackerStats> {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            worker
                .join()
                .map_err(|_| RepoError::Pipeline("a sealing thread panicked".into()))?;
        }
        match self.packer.take() {
            Some(packer) => packer
                .join()
                .map_err(|_| RepoError::Pipeline("the packer thread panicked".into()))?,
            None => Err(RepoError::Pipeline("the packer already stopped".into())),
        }
    }

    /// Returns the pool that the chunker takes the buffers of large chunks from.
    pub fn chunk_pool(&self) -> ChunkPool {
        ChunkPool {
            buffers: self.chunk_buffers.clone(),
            from: LARGE_BLOB,
            head: pack::SEAL_HEAD,
        }
    }

    /// Records blobs that the snapshot references without passing them through
    /// [`Pipeline::save`], such as an unchanged file's content.
    pub fn record_reused(&mut self, ids: &[ObjectId]) {
        self.used.extend(ids.iter().copied());
    }

    /// Flushes the last packs and index file and returns what was written and every
    /// blob the snapshot references.
    pub fn finish(mut self) -> Result<(PackerStats, HashSet<ObjectId>)> {
        self.send_batch()?;
        let stats = self.join()?;
        Ok((stats, std::mem::take(&mut self.used)))
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.jobs = None;
    }
}

/// The state of one sealing thread: the keys and index, the blobs claimed so far, and
/// the buffer pools.
struct Sealer {
    repo: Repository,
    pending: Pending,
    /// Buffers for blobs of at least [`LARGE_BLOB`] bytes.
    buffers: BufferPool,
}

impl Sealer {
    /// Hashes the job's blob if the walking thread did not, and seals it unless this
    /// run or the repository already has it.
    fn seal(&self, job: Job) -> Option<SealedBlob> {
        let id = match job.id {
            JobId::Known(id) => id,
            JobId::Unhashed(hashed, position) => {
                let id = pack::blob_id(&self.repo.keys, job.plaintext.bytes());
                hashed
                    .ids
                    .lock()
                    .expect("chunk id lock")
                    .push((position, id));
                hashed.added.notify_one();
                if !self.pending.claim(&self.repo, id) {
                    self.buffers.put(job.plaintext.buffer);
                    return None;
                }
                id
            }
        };
        let raw_length = job.plaintext.bytes().len() as u64;
        let sealed = if job.plaintext.head == pack::SEAL_HEAD {
            pack::seal_blob_in_place(
                &self.repo.keys,
                job.blob_type,
                &id,
                job.plaintext.buffer,
                job.compress,
                || self.buffers.take(),
                |buffer| self.buffers.put(buffer),
            )
        } else {
            let mut sealed = if job.plaintext.bytes().len() >= LARGE_BLOB {
                self.buffers.take()
            } else {
                Vec::new()
            };
            pack::seal_blob_into(
                &self.repo.keys,
                job.blob_type,
                &id,
                job.plaintext.bytes(),
                job.compress,
                &mut sealed,
            );
            self.buffers.put(job.plaintext.buffer);
            sealed
        };
        Some(SealedBlob {
            blob_type: job.blob_type,
            id,
            sealed,
            raw_length,
        })
    }
}

/// Thread and memory bounds of the pipeline.
pub(crate) struct PipelineLimits {
    /// Threads that compress and encrypt.
    pub workers: usize,
    /// Packs uploaded at once. Each keeps its whole pack in memory until it is written.
    pub uploads: usize,
    /// Maximum packs covered by one index file.
    pub flush_every_packs: usize,
}

/// A pack whose upload is running on the async runtime.
struct Upload {
    task: tokio::task::JoinHandle<Result<()>>,
    pack: IndexedPack,
}

/// Data packs written into a local folder as they fill.
struct LocalPacks {
    root: PathBuf,
    writes: DirectWrites,
    pack: Option<PackFile>,
    /// Finished packs that the write thread is syncing, oldest first.
    closing: VecDeque<ClosingPack>,
}

impl Drop for LocalPacks {
    /// Waits for the writes of a pack left unfinished by an error.
    fn drop(&mut self) {
        if let Some(pack) = self.pack.take() {
            pack.abandon(&mut self.writes);
        }
    }
}

struct Packer {
    repo: Repository,
    buffers: BufferPool,
    /// Pool of sealed chunk buffers, returned for the next chunks.
    sealed_buffers: BufferPool,
    handle: Handle,
    flush_every_packs: usize,
    max_uploads: usize,
    data: PackBuilder,
    /// The local folder that data packs are written into while they fill.
    local: Option<LocalPacks>,
    trees: PackBuilder,
    uploads: VecDeque<Upload>,
    unindexed: Vec<IndexedPack>,
    last_flush: Instant,
    stats: PackerStats,
    written: Arc<AtomicU64>,
}

impl Packer {
    fn new(
        repo: Repository,
        handle: Handle,
        limits: &PipelineLimits,
        written: Arc<AtomicU64>,
        sealed_buffers: BufferPool,
    ) -> Self {
        let max_uploads = limits.uploads.max(1);
        // A pack closes once it reaches the pack size, so its last blob (at most the
        // largest chunk, sealed) and the header may take it past that.
        let capacity = repo.config.pack_size as usize + repo.config.chunk_max as usize + (1 << 20);
        // Two buffers kept: one filling while one uploads. Slower storage with more
        // uploads in flight gets more buffers, freed when their uploads finish.
        let buffers = BufferPool::new(capacity, 2);
        let local = repo.storage.local_root().and_then(|root| {
            let writes = DirectWrites::start()
                .inspect_err(|e| tracing::debug!("packs go through memory: {e}"))
                .ok()?;
            Some(LocalPacks {
                root: root.to_path_buf(),
                writes,
                pack: None,
                closing: VecDeque::new(),
            })
        });
        Self {
            data: PackBuilder::default(),
            local,
            buffers,
            sealed_buffers,
            repo,
            handle,
            flush_every_packs: limits.flush_every_packs.max(1),
            max_uploads,
            trees: PackBuilder::default(),
            uploads: VecDeque::new(),
            unindexed: Vec::new(),
            last_flush: Instant::now(),
            stats: PackerStats::default(),
            written,
        }
    }

    fn run(mut self, batches: Receiver<Vec<SealedBlob>>) -> Result<PackerStats> {
        let pack_size = self.repo.config.pack_size;
        for blob in batches.into_iter().flatten() {
            self.stats.blobs += 1;
            if blob.blob_type == BlobType::Data && self.local.is_some() {
                self.add_to_file(&blob)?;
                self.sealed_buffers.put(blob.sealed);
                self.maybe_flush_index()?;
                continue;
            }
            let builder = match blob.blob_type {
                BlobType::Data => {
                    // Taken when the first blob arrives: a backup of unchanged files
                    // writes no data pack at all.
                    if self.data.has_no_buffer() {
                        self.data = PackBuilder::with_buffer(self.buffers.take());
                    }
                    &mut self.data
                }
                BlobType::Tree => &mut self.trees,
            };
            builder.add(blob.blob_type, blob.id, &blob.sealed, blob.raw_length);
            self.sealed_buffers.put(blob.sealed);
            if builder.len() >= pack_size {
                let full = std::mem::take(builder);
                self.upload(full)?;
            }
            self.maybe_flush_index()?;
        }
        let data = std::mem::take(&mut self.data);
        let trees = std::mem::take(&mut self.trees);
        self.finish_file()?;
        self.upload(data)?;
        self.upload(trees)?;
        self.flush_index()?;
        Ok(self.stats)
    }

    fn maybe_flush_index(&mut self) -> Result<()> {
        self.settle_files(false)?;
        let closing = self
            .local
            .as_ref()
            .is_some_and(|local| !local.closing.is_empty());
        let waiting = !self.unindexed.is_empty() || closing;
        if self.unindexed.len() >= self.flush_every_packs
            || (waiting && self.last_flush.elapsed() >= INDEX_FLUSH_INTERVAL)
        {
            self.flush_index()?;
        }
        Ok(())
    }

    /// Adds a data blob to the pack file being written, and finishes the pack once it
    /// reaches the pack size.
    fn add_to_file(&mut self, blob: &SealedBlob) -> Result<()> {
        let local = self.local.as_mut().expect("called for a local folder");
        let pack = match &mut local.pack {
            Some(pack) => pack,
            None => {
                let created = PackFile::create(&local.root, &mut local.writes)
                    .map_err(|e| RepoError::io("create a pack in", local.root.join(".tmp"), e))?;
                local.pack.insert(created)
            }
        };
        pack.add(
            &mut local.writes,
            blob.blob_type,
            blob.id,
            &blob.sealed,
            blob.raw_length,
        )
        .map_err(|e| RepoError::io("write", pack.path(), e))?;
        if pack.len() >= self.repo.config.pack_size {
            self.finish_file()?;
        }
        Ok(())
    }

    /// Finishes the pack file being written, if any, and queues it for the next index.
    fn finish_file(&mut self) -> Result<()> {
        let Some(local) = self.local.as_mut() else {
            return Ok(());
        };
        let Some(pack) = local.pack.take() else {
            return Ok(());
        };
        let closing = pack
            .finish(&mut local.writes, &self.repo.keys, &local.root)
            .map_err(|(path, e)| RepoError::io("write", path, e))?;
        local.closing.push_back(closing);
        self.settle_files(false)
    }

    /// Queues for the next index the packs that the write thread has synced and
    /// renamed, oldest first. With `wait`, waits for all of them. The syncs run on
    /// the write thread because one took up to 14 ms on the packer thread.
    fn settle_files(&mut self, wait: bool) -> Result<()> {
        loop {
            let Some(local) = self.local.as_mut() else {
                return Ok(());
            };
            let Some(closing) = local.closing.front_mut() else {
                return Ok(());
            };
            if !wait && !closing.is_done() {
                return Ok(());
            }
            let closing = local.closing.pop_front().expect("a closing pack");
            let finished = closing
                .wait()
                .map_err(|(path, e)| RepoError::io("write", path, e))?;
            tracing::debug!(pack = %finished.id, size = finished.size, blobs = finished.blobs.len(), "pack written");
            self.record_written(finished.size);
            self.stats.packs += 1;
            self.unindexed.push(finished);
        }
    }

    /// Starts the upload of a pack, after waiting for the oldest upload if the
    /// maximum number are running.
    fn upload(&mut self, builder: PackBuilder) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        if self.uploads.len() >= self.max_uploads {
            self.finish_oldest_upload()?;
        }
        let finished = builder.finish(&self.repo.keys);
        let pack = IndexedPack {
            id: finished.id,
            size: finished.bytes.len() as u64,
            blobs: finished.entries,
        };
        let storage = self.repo.storage.clone();
        let path = pack::pack_path(&pack.id);
        let bytes = self.buffers.share(finished.bytes);
        let task = self
            .handle
            .spawn(async move { storage.write(&path, bytes).await });
        self.uploads.push_back(Upload { task, pack });
        Ok(())
    }

    /// Waits for the oldest running upload and queues its pack for the next index.
    fn finish_oldest_upload(&mut self) -> Result<()> {
        let Some(upload) = self.uploads.pop_front() else {
            return Ok(());
        };
        self.handle
            .block_on(upload.task)
            .map_err(|e| RepoError::Pipeline(format!("a pack upload task failed: {e}")))??;
        let pack = upload.pack;
        tracing::debug!(pack = %pack.id, size = pack.size, blobs = pack.blobs.len(), "pack written");
        self.record_written(pack.size);
        self.stats.packs += 1;
        self.unindexed.push(pack);
        Ok(())
    }

    /// Writes an index file for every pack uploaded so far. An index never names a
    /// pack whose upload has not finished.
    fn flush_index(&mut self) -> Result<()> {
        while !self.uploads.is_empty() {
            self.finish_oldest_upload()?;
        }
        self.settle_files(true)?;
        self.last_flush = Instant::now();
        if self.unindexed.is_empty() {
            return Ok(());
        }
        let file = IndexFile {
            packs: std::mem::take(&mut self.unindexed),
        };
        let (id, bytes) = index::encode_index(&self.repo.keys, &file);
        let size = bytes.len() as u64;
        self.handle
            .block_on(self.repo.storage.write(&index::index_path(&id), bytes))?;
        self.record_written(size);
        let mut index = self.repo.index.write().expect("index lock");
        for pack in &file.packs {
            index.add_pack(pack);
        }
        Ok(())
    }

    fn record_written(&mut self, bytes: u64) {
        self.stats.bytes_written += bytes;
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }
}
