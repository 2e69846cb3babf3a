//! Where the Lambda import reads the uploaded file and writes its result:
//! Amazon S3 in production, a local directory in tests (`<root>/<bucket>/<key>`).
//! Files are streamed to and from a local path, never held in memory.

use std::future::Future;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

/// An object store.
pub trait Objects: Send + Sync + 'static {
    /// Copies an object to a local file.
    fn download(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Copies a local file to an object (replacing it).
    fn upload(
        &self,
        bucket: &str,
        key: &str,
        src: &Path,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Amazon S3.
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
}

impl S3Objects {
    /// Wraps a client.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Objects { client }
    }
}

impl Objects for S3Objects {
    async fn download(&self, bucket: &str, key: &str, dest: &Path) -> Result<(), String> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read s3://{bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        let mut body = out.body.into_async_read();
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(|e| format!("cannot download s3://{bucket}/{key}: {e}"))?;
        file.sync_all()
            .await
            .map_err(|e| format!("{}: {e}", dest.display()))
    }

    async fn upload(&self, bucket: &str, key: &str, src: &Path) -> Result<(), String> {
        let body = ByteStream::from_path(src)
            .await
            .map_err(|e| format!("{}: {e}", src.display()))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot write s3://{bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }
}

/// A directory standing in for S3: object `key` of `bucket` is the file
/// `<root>/<bucket>/<key>`.
#[derive(Clone, Debug)]
pub struct LocalObjects {
    root: PathBuf,
}

impl LocalObjects {
    /// Objects under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjects { root: root.into() }
    }

    /// The file of an object; `None` for keys that would leave the root.
    pub fn path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.split('/')
                    .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        };
        (safe(bucket) && safe(key)).then(|| self.root.join(bucket).join(key))
    }
}

impl Objects for LocalObjects {
    async fn download(&self, bucket: &str, key: &str, dest: &Path) -> Result<(), String> {
        let src = self
            .path(bucket, key)
            .ok_or_else(|| format!("bad object key {key:?}"))?;
        tokio::fs::copy(&src, dest)
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", src.display()))
    }

    async fn upload(&self, bucket: &str, key: &str, src: &Path) -> Result<(), String> {
        let dest = self
            .path(bucket, key)
            .ok_or_else(|| format!("bad object key {key:?}"))?;
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        tokio::fs::copy(src, &dest)
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", dest.display()))
    }
}
