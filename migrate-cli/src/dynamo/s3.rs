//! S3 access for exports and checkpoints, blocking calls over a tokio
//! runtime: whole-object get/put, listing, and multipart uploads that
//! stream a file without holding it.

use crate::app::AppError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::runtime::Handle;

/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl S3Location {
    pub fn parse(s: &str) -> Result<S3Location, AppError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| AppError::Usage(format!("`{s}` is not an s3://bucket/key address")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(AppError::Usage(format!("`{s}` names no bucket")));
        }
        Ok(S3Location {
            bucket: bucket.into(),
            key: key.trim_end_matches('/').into(),
        })
    }

    /// The location of `name` under this prefix.
    pub fn join(&self, name: &str) -> S3Location {
        S3Location {
            bucket: self.bucket.clone(),
            key: if self.key.is_empty() {
                name.into()
            } else {
                format!("{}/{name}", self.key)
            },
        }
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// AWS configuration from the standard chain, with an optional endpoint
/// and region (default `us-east-1` when the chain has none).
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
        // A local server (dynalite, moto, DynamoDB Local) takes any key:
        // with no credentials configured at all, sign with placeholders
        // rather than fail.
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let configured = [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
            || home.is_some_and(|h| {
                h.join(".aws/credentials").exists() || h.join(".aws/config").exists()
            });
        let local = e.contains("://127.") || e.contains("://localhost") || e.contains("://[::1]");
        if !configured && local {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                "local",
                "local",
                None,
                None,
                "sstable-migrate-local",
            ));
        }
    }
    let region = region.map(|r| r.to_string());
    let provider = aws_config::meta::region::RegionProviderChain::first_try(
        region.map(aws_config::Region::new),
    )
    .or_default_provider()
    .or_else(aws_config::Region::new("us-east-1"));
    loader.region(provider).load().await
}

/// A blocking S3 client.
#[derive(Clone)]
pub struct S3 {
    client: aws_sdk_s3::Client,
    rt: Handle,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3")
    }
}

fn s3_err(what: &str, loc: &S3Location, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("S3 {what} {loc}: {e}"))
}

fn sdk_err<E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static>(
    e: aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("(no message)")
        ),
        None => format!("{}", aws_sdk_s3::error::DisplayErrorContext(e)),
    }
}

impl S3 {
    /// Run a future to completion from sync code, also when called on a
    /// runtime worker (checkpoints are saved from writer tasks).
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        if Handle::try_current().is_ok() {
            tokio::task::block_in_place(|| self.rt.block_on(f))
        } else {
            self.rt.block_on(f)
        }
    }

    pub fn new(rt: Handle, endpoint: Option<&str>, region: Option<&str>) -> S3 {
        let conf = rt.block_on(sdk_config(endpoint, region));
        let s3conf = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(endpoint.is_some())
            .build();
        S3 {
            client: aws_sdk_s3::Client::from_conf(s3conf),
            rt,
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The object's bytes, or `None` if there is none.
    pub fn get_optional(&self, loc: &S3Location) -> Result<Option<Vec<u8>>, AppError> {
        self.block(async {
            match self
                .client
                .get_object()
                .bucket(&loc.bucket)
                .key(&loc.key)
                .send()
                .await
            {
                Ok(o) => {
                    let b = o.body.collect().await.map_err(|e| s3_err("read", loc, e))?;
                    Ok(Some(b.into_bytes().to_vec()))
                }
                Err(e) => {
                    if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                        Ok(None)
                    } else {
                        Err(s3_err("get", loc, sdk_err(e)))
                    }
                }
            }
        })
    }

    /// `put`, from async code.
    pub async fn put_async(&self, loc: &S3Location, bytes: Vec<u8>) -> Result<(), AppError> {
        self.client
            .put_object()
            .bucket(&loc.bucket)
            .key(&loc.key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| s3_err("put", loc, sdk_err(e)))?;
        Ok(())
    }

    pub fn put(&self, loc: &S3Location, bytes: Vec<u8>) -> Result<(), AppError> {
        self.block(async {
            self.client
                .put_object()
                .bucket(&loc.bucket)
                .key(&loc.key)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| s3_err("put", loc, sdk_err(e)))?;
            Ok(())
        })
    }

    /// Keys under a prefix.
    pub fn list(&self, loc: &S3Location) -> Result<Vec<String>, AppError> {
        self.block(async {
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = self
                    .client
                    .list_objects_v2()
                    .bucket(&loc.bucket)
                    .prefix(&loc.key);
                if let Some(t) = &token {
                    req = req.continuation_token(t);
                }
                let out = req
                    .send()
                    .await
                    .map_err(|e| s3_err("list", loc, sdk_err(e)))?;
                for o in out.contents() {
                    if let Some(k) = o.key() {
                        keys.push(k.to_string());
                    }
                }
                match out.next_continuation_token() {
                    Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            Ok(keys)
        })
    }

    pub fn delete(&self, loc: &S3Location) -> Result<(), AppError> {
        self.block(async {
            self.client
                .delete_object()
                .bucket(&loc.bucket)
                .key(&loc.key)
                .send()
                .await
                .map_err(|e| s3_err("delete", loc, sdk_err(e)))?;
            Ok(())
        })
    }

    /// Start a multipart upload to `loc`.
    pub fn upload(&self, loc: S3Location) -> Upload {
        Upload {
            s3: self.clone(),
            loc,
            id: None,
            parts: Vec::new(),
            buf: Vec::with_capacity(PART_SIZE),
        }
    }
}

/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// A multipart upload in progress: bytes written are uploaded in parts;
/// `finish` completes the object (it appears whole or not at all). An
/// upload dropped unfinished is aborted.
pub struct Upload {
    s3: S3,
    loc: S3Location,
    id: Option<String>,
    parts: Vec<CompletedPart>,
    buf: Vec<u8>,
}

impl Upload {
    fn flush_part(&mut self) -> Result<(), AppError> {
        let s3 = self.s3.clone();
        let loc = self.loc.clone();
        let body = std::mem::replace(&mut self.buf, Vec::with_capacity(PART_SIZE));
        let number = self.parts.len() as i32 + 1;
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let out = s3
                    .block(
                        s3.client
                            .create_multipart_upload()
                            .bucket(&loc.bucket)
                            .key(&loc.key)
                            .send(),
                    )
                    .map_err(|e| s3_err("create multipart upload", &loc, sdk_err(e)))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| s3_err("create multipart upload", &loc, "no upload id"))?
                    .to_string();
                self.id = Some(id.clone());
                id
            }
        };
        let out = s3
            .block(
                s3.client
                    .upload_part()
                    .bucket(&loc.bucket)
                    .key(&loc.key)
                    .upload_id(&id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .map_err(|e| s3_err("upload part", &loc, sdk_err(e)))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// Complete the object.
    pub fn finish(mut self) -> Result<(), AppError> {
        let Some(id) = self.id.clone() else {
            // Small enough for one request.
            let body = std::mem::take(&mut self.buf);
            return self.s3.put(&self.loc, body);
        };
        if !self.buf.is_empty() {
            self.flush_part()?;
        }
        let parts = std::mem::take(&mut self.parts);
        let s3 = self.s3.clone();
        let loc = self.loc.clone();
        s3.block(
            s3.client
                .complete_multipart_upload()
                .bucket(&loc.bucket)
                .key(&loc.key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send(),
        )
        .map_err(|e| s3_err("complete multipart upload", &loc, sdk_err(e)))?;
        self.id = None;
        Ok(())
    }
}

impl std::io::Write for Upload {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= PART_SIZE {
            self.flush_part().map_err(std::io::Error::other)?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.s3.block(
                self.s3
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.loc.bucket)
                    .key(&self.loc.key)
                    .upload_id(id)
                    .send(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = S3Location::parse("s3://b/some/prefix/").unwrap();
        assert_eq!(l.bucket, "b");
        assert_eq!(l.key, "some/prefix");
        assert_eq!(l.join("x.json").key, "some/prefix/x.json");
        assert_eq!(S3Location::parse("s3://b").unwrap().join("k").key, "k");
        assert!(S3Location::parse("s3:///k").is_err());
        assert!(S3Location::parse("/tmp/x").is_err());
    }
}
