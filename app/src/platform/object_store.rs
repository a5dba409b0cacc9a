//! The object store of the installation's files: onboarding evidence, and the audit
//! checkpoints under their own prefix. The local file system under the data
//! directory by default, S3-compatible storage when `--evidence-store-url` names it.

use std::sync::Arc;

use object_store::ObjectStore;

use super::error::{Error, Result};
use super::settings::Settings;

/// The object store files live in.
pub type Store = Arc<dyn ObjectStore>;

pub fn open_store(settings: &Settings) -> Result<Store> {
    match &settings.evidence_store_url {
        None => {
            let dir = settings.data_dir.join("evidence");
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(Error::internal)?;
            Ok(Arc::new(store))
        }
        Some(url) => {
            let url = url::Url::parse(url).map_err(|e| {
                Error::Internal(format!("the evidence store URL is not valid: {e}"))
            })?;
            // Options (credentials, region, endpoint) come from the AWS_* environment,
            // then from the settings.
            let options = std::env::vars()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .filter(|(k, _)| k.starts_with("aws_"))
                .chain(settings.evidence_store_options.iter().cloned());
            let (store, prefix) =
                object_store::parse_url_opts(&url, options).map_err(Error::internal)?;
            Ok(Arc::new(object_store::prefix::PrefixStore::new(
                store, prefix,
            )))
        }
    }
}
