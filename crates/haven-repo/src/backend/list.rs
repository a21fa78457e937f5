//! A listing layer that returns every entry or an error, never a shorter list.
//!
//! OpenDAL 0.59 emulates recursive listing for services without it (WebDAV, local
//! folders) with a flat lister that skips a directory whose listing fails with
//! "permission denied", and that loses a directory when its first page fails and the
//! retry layer above calls it again. This layer walks directories itself, one
//! non-recursive listing per directory, below nothing but its own caller: each
//! per-directory listing is retried page by page by the retry layer underneath, and
//! any error that survives the retries fails the whole listing.
//!
//! The whole listing is collected before the first entry is returned, so a caller
//! never acts on part of a listing that later fails.

use std::collections::VecDeque;
use std::sync::Arc;

use opendal::options::ListOptions;
use opendal::raw::*;
use opendal::*;

#[derive(Debug, Clone)]
pub(crate) struct ListLayer {
    /// True when the service lists recursively itself (S3, Google Drive).
    pub native_recursive: bool,
    /// Entries per list request, where the service supports a limit (S3 `max-keys`).
    pub page_size: Option<usize>,
}

impl Layer for ListLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        Arc::new(ListService {
            inner,
            layer: self.clone(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct ListService {
    inner: Servicer,
    layer: ListLayer,
}

impl Service for ListService {
    type Reader = oio::Reader;
    type Writer = oio::Writer;
    type Lister = CollectedLister;
    type Deleter = oio::Deleter;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> Result<RpCreateDir> {
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(&self, ctx: &OperationContext, path: &str, args: OpStat) -> Result<RpStat> {
        self.inner.stat(ctx, path, args).await
    }

    fn read(&self, ctx: &OperationContext, path: &str, args: OpRead) -> Result<Self::Reader> {
        self.inner.read(ctx, path, args)
    }

    fn write(&self, ctx: &OperationContext, path: &str, args: OpWrite) -> Result<Self::Writer> {
        self.inner.write(ctx, path, args)
    }

    fn delete(&self, ctx: &OperationContext) -> Result<Self::Deleter> {
        self.inner.delete(ctx)
    }

    fn list(&self, ctx: &OperationContext, path: &str, args: OpList) -> Result<Self::Lister> {
        Ok(CollectedLister {
            inner: self.inner.clone(),
            ctx: ctx.clone(),
            path: path.to_string(),
            recursive: args.recursive(),
            start_after: args.start_after().map(str::to_string),
            layer: self.layer.clone(),
            entries: None,
        })
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> Result<Self::Copier> {
        self.inner.copy(ctx, from, to, args)
    }

    fn compose(&self, ctx: &OperationContext, to: &str, args: OpCompose) -> Result<Self::Composer> {
        self.inner.compose(ctx, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> Result<RpRename> {
        self.inner.rename(ctx, from, to, args).await
    }

    async fn restore(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRestore,
    ) -> Result<RpRestore> {
        self.inner.restore(ctx, path, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> Result<RpPresign> {
        self.inner.presign(ctx, path, args).await
    }
}

#[doc(hidden)]
pub struct CollectedLister {
    inner: Servicer,
    ctx: OperationContext,
    path: String,
    recursive: bool,
    start_after: Option<String>,
    layer: ListLayer,
    entries: Option<VecDeque<oio::Entry>>,
}

impl oio::List for CollectedLister {
    async fn next(&mut self) -> Result<Option<oio::Entry>> {
        if self.entries.is_none() {
            self.entries = Some(self.collect().await?);
        }
        Ok(self.entries.as_mut().and_then(VecDeque::pop_front))
    }
}

impl CollectedLister {
    async fn collect(&self) -> Result<VecDeque<oio::Entry>> {
        if !self.recursive || self.layer.native_recursive {
            return self.list_one(&self.path, self.recursive).await;
        }
        // Walk from the directory that contains the prefix, then keep what matches it.
        let top = if self.path.is_empty() || self.path.ends_with('/') {
            self.path.clone()
        } else {
            get_parent(&self.path).to_string()
        };
        let mut found = VecDeque::new();
        let mut pending = vec![top.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match self.list_one(&dir, false).await {
                Ok(entries) => entries,
                // A subdirectory removed since its parent was listed has no entries.
                Err(e) if e.kind() == ErrorKind::NotFound && dir != top => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                if entry.path() == dir {
                    continue;
                }
                if entry.mode().is_dir() {
                    pending.push(entry.path().to_string());
                }
                if entry.path().starts_with(&self.path) {
                    found.push_back(entry);
                }
            }
        }
        Ok(found)
    }

    /// Lists one path to the end. A page that fails after the retry layer's
    /// attempts fails the listing.
    async fn list_one(&self, path: &str, recursive: bool) -> Result<VecDeque<oio::Entry>> {
        let options = ListOptions {
            limit: self.layer.page_size,
            recursive,
            start_after: self.start_after.clone(),
            ..ListOptions::default()
        };
        let mut lister = self.inner.list(&self.ctx, path, OpList::from(options))?;
        let mut entries = VecDeque::new();
        while let Some(entry) = oio::List::next(&mut lister).await? {
            entries.push_back(entry);
        }
        Ok(entries)
    }
}
