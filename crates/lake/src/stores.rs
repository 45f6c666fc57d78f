//! Object stores: the lake root parsed into store and prefix, the store built and registered.

use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use crate::durable_local::DurableLocalFileSystem;
use crate::error::LakeError;
use crate::spec::StorageOptions;

/// A parsed lake root: the store it lives in and the prefix inside that store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    url: Url,
}

impl LakeLocation {
    /// Parses a root: an absolute local path or a `file`, `s3`, `gs`, `az`/`abfs(s)`, `http(s)` URL.
    pub fn parse(root: &str) -> Result<Self, LakeError> {
        let invalid = |reason: &str| LakeError::InvalidLocation {
            location: root.to_string(),
            reason: reason.into(),
        };
        let mut url = if std::path::Path::new(root).is_absolute() {
            Url::from_directory_path(root).map_err(|()| invalid("not a valid absolute path"))?
        } else {
            match Url::parse(root) {
                Ok(u) => u,
                Err(url::ParseError::RelativeUrlWithoutBase) => {
                    return Err(invalid(
                        "a relative path must be resolved against the config file's folder",
                    ));
                }
                Err(e) => return Err(invalid(&e.to_string())),
            }
        };
        match url.scheme() {
            "file" | "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "http" | "https" => {}
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme '{other}': use a local path, s3://, gs://, az://, abfss:// or https://"
                )));
            }
        }
        if url.scheme() != "file" && url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL names no bucket or host"));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(Self { url })
    }

    /// The root as a URL with a trailing slash.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `scheme://host/` of the store.
    pub fn store_url(&self) -> ObjectStoreUrl {
        let base = match self.url.host_str() {
            Some(h) if self.url.scheme() != "file" => match self.url.port() {
                Some(p) => format!("{}://{h}:{p}", self.url.scheme()),
                None => format!("{}://{h}", self.url.scheme()),
            },
            _ => "file://".to_string(),
        };
        ObjectStoreUrl::parse(base).expect("a scheme and host always form a valid store URL")
    }

    /// The root's prefix inside its store.
    pub fn prefix(&self) -> Path {
        Path::from_url_path(self.url.path()).unwrap_or_default()
    }

    /// A location below the root, as a URL string. `rel` may end in `/` for a folder.
    pub fn join(&self, rel: &str) -> String {
        format!("{}{}", self.url.as_str(), rel.trim_start_matches('/'))
    }

    /// Whether this is a local folder.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }
}

/// Builds the object store for a lake location and registers it with the session.
///
/// Credentials come only from the environment (`from_env` of each builder). The builders are never
/// printed: their `Debug` output includes secret keys.
pub fn register_object_store(
    ctx: &SessionContext,
    location: &LakeLocation,
    options: &StorageOptions,
) -> Result<Arc<dyn ObjectStore>, LakeError> {
    let url = location.url();
    let host = url.host_str().unwrap_or_default().to_string();
    let err = |source| LakeError::ObjectStore {
        location: url.to_string(),
        source,
    };
    let r = options.retry;
    let client = ClientOptions::new()
        .with_allow_http(options.allow_http)
        .with_timeout(Duration::from_secs(r.request_timeout_seconds))
        .with_connect_timeout(Duration::from_secs(r.connect_timeout_seconds));
    let retry = RetryConfig {
        max_retries: r.max_retries,
        retry_timeout: Duration::from_secs(r.retry_timeout_seconds),
        ..RetryConfig::default()
    };
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => Arc::new(DurableLocalFileSystem::new()),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(&host)
                .with_client_options(client.clone())
                .with_retry(retry.clone())
                .with_virtual_hosted_style_request(options.virtual_hosted_style)
                .with_skip_signature(options.skip_signature);
            if let Some(e) = &options.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &options.region {
                b = b.with_region(r);
            }
            Arc::new(b.build().map_err(err)?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&host)
                .with_client_options(client.clone())
                .with_retry(retry.clone());
            if options.skip_signature {
                b = b.with_skip_signature(true);
            }
            Arc::new(b.build().map_err(err)?)
        }
        "az" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_client_options(client.clone())
                .with_retry(retry.clone());
            if let Some(e) = &options.endpoint {
                b = b.with_endpoint(e.clone());
            }
            if options.skip_signature {
                b = b.with_skip_signature(true);
            }
            Arc::new(b.build().map_err(err)?)
        }
        "http" | "https" => {
            let base = location.store_url();
            Arc::new(
                HttpBuilder::new()
                    .with_url(base.as_str())
                    .with_client_options(client.clone())
                    .with_retry(retry.clone())
                    .build()
                    .map_err(err)?,
            )
        }
        other => {
            return Err(LakeError::InvalidLocation {
                location: url.to_string(),
                reason: format!("unsupported scheme '{other}'"),
            });
        }
    };
    let store_url = location.store_url();
    ctx.register_object_store(store_url.as_ref(), Arc::clone(&store));
    tracing::debug!(store = %store_url.as_str(), endpoint = ?options.endpoint, region = ?options.region,
        allow_http = options.allow_http, "registered object store");
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_roots() {
        let l = LakeLocation::parse("s3://bucket/some/prefix").unwrap();
        assert_eq!(l.url().as_str(), "s3://bucket/some/prefix/");
        assert_eq!(l.store_url().as_str(), "s3://bucket/");
        assert_eq!(l.prefix().as_ref(), "some/prefix");
        assert_eq!(l.join("reviews/"), "s3://bucket/some/prefix/reviews/");
        let l = LakeLocation::parse("/tmp/lake").unwrap();
        assert!(l.is_local());
        assert_eq!(l.prefix().as_ref(), "tmp/lake");
        assert!(LakeLocation::parse("datasets/lake").is_err());
        assert!(
            LakeLocation::parse("ftp://x/y")
                .unwrap_err()
                .to_string()
                .contains("unsupported scheme")
        );
        assert!(LakeLocation::parse("s3:///nobucket").is_err());
    }
}
