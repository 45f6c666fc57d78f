//! The local-disk object store of the lake: object_store's `LocalFileSystem`, with puts that are on
//! the disk before they are visible.
//!
//! `LocalFileSystem` writes a put to a staging file and links (create-only) or renames it into
//! place, but never fsyncs: after a power cut, a Delta commit that readers had already seen can be
//! an empty or torn `_delta_log/N.json`, which makes the whole table unreadable. Here the staging
//! file is fsynced before it is linked, and the folder after, so a commit is durable the moment it
//! becomes visible. Everything else (reads, listings, multipart uploads, whose files the publisher
//! fsyncs itself before committing) is `LocalFileSystem`'s own.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

const STORE: &str = "DurableLocalFileSystem";

/// The local file system, with durable puts (see the module).
#[derive(Debug, Default)]
pub struct DurableLocalFileSystem {
    inner: LocalFileSystem,
}

impl DurableLocalFileSystem {
    /// The local file system, paths being absolute.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Display for DurableLocalFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE}")
    }
}

fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(source),
    }
}

/// Writes `payload` to a staging file beside `path` (`name#N`, which listings skip, as
/// `LocalFileSystem`'s own), fsyncs it, links (`create`) or renames it to `path`, and fsyncs the
/// folder.
fn durable_put(path: &FsPath, payload: &PutPayload, create: bool) -> Result<()> {
    let dir = path.parent().ok_or_else(|| {
        generic(std::io::Error::new(
            ErrorKind::InvalidInput,
            format!("'{}' has no folder", path.display()),
        ))
    })?;
    std::fs::create_dir_all(dir).map_err(generic)?;
    let (mut file, staging) = (1..)
        .map(|n| {
            let mut p = path.as_os_str().to_owned();
            p.push(format!("#{n}"));
            let p = PathBuf::from(p);
            (OpenOptions::new().write(true).create_new(true).open(&p), p)
        })
        .find(|(f, _)| !matches!(f, Err(e) if e.kind() == ErrorKind::AlreadyExists))
        .map(|(f, p)| f.map(|f| (f, p)))
        .expect("an unbounded range always yields")
        .map_err(generic)?;
    let written = payload
        .iter()
        .try_for_each(|chunk| file.write_all(chunk))
        .and_then(|()| file.sync_all());
    drop(file);
    let placed = written.and_then(|()| {
        if create {
            std::fs::hard_link(&staging, path)
        } else {
            std::fs::rename(&staging, path)
        }
    });
    if create || placed.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    match placed {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(object_store::Error::AlreadyExists {
                path: path.display().to_string(),
                source: Box::new(e),
            });
        }
        Err(e) => return Err(generic(e)),
        Ok(()) => {}
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(generic)
}

#[async_trait]
impl ObjectStore for DurableLocalFileSystem {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let create = match opts.mode {
            PutMode::Create => true,
            PutMode::Overwrite if opts.attributes.is_empty() => false,
            // What LocalFileSystem refuses, it refuses with its own message.
            _ => return self.inner.put_opts(location, payload, opts).await,
        };
        let path = self.inner.path_to_filesystem(location)?;
        tokio::task::spawn_blocking(move || durable_put(&path, &payload, create))
            .await
            .map_err(generic)??;
        let meta = self.inner.head(location).await?;
        Ok(PutResult {
            e_tag: meta.e_tag,
            version: meta.version,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[tokio::test]
    async fn puts_land_whole_create_only_refuses_and_leave_no_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableLocalFileSystem::new();
        let at = Path::from_absolute_path(dir.path().join("t/_delta_log/00000000000000000001.json")).unwrap();
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        store
            .put_opts(
                &at,
                PutPayload::from_static(b"{\"commitInfo\":{}}\n"),
                create.clone(),
            )
            .await
            .unwrap();
        let again = store
            .put_opts(&at, PutPayload::from_static(b"other"), create)
            .await
            .unwrap_err();
        assert!(
            matches!(again, object_store::Error::AlreadyExists { .. }),
            "{again}"
        );
        let got = store.get(&at).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"{\"commitInfo\":{}}\n");
        store
            .put(&at, PutPayload::from_static(b"replaced"))
            .await
            .unwrap();
        assert_eq!(
            &store.get(&at).await.unwrap().bytes().await.unwrap()[..],
            b"replaced"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("t/_delta_log"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["00000000000000000001.json".to_string()]);
    }
}
