//! Who may sign requests: the root credentials from the environment.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// Development credentials, used only when none are configured (the host warns loudly).
const DEV_ACCESS_KEY: &str = "tesseraadmin";
const DEV_SECRET_KEY: &str = "tesseraadmin";

pub struct RootAuth {
    access_key: String,
    secret_key: String,
}

impl RootAuth {
    /// `TESSERA_ROOT_USER` / `TESSERA_ROOT_PASSWORD`, or the development pair.
    pub fn from_env() -> Self {
        let access_key = std::env::var("TESSERA_ROOT_USER").ok().filter(|value| !value.is_empty());
        let secret_key = std::env::var("TESSERA_ROOT_PASSWORD").ok().filter(|value| !value.is_empty());
        match (access_key, secret_key) {
            (Some(access_key), Some(secret_key)) => Self { access_key, secret_key },
            _ => Self { access_key: DEV_ACCESS_KEY.into(), secret_key: DEV_SECRET_KEY.into() },
        }
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }
}

#[async_trait::async_trait]
impl S3Auth for RootAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        // The access key is public; only the secret needs constant-time handling, which s3s
        // does when it compares signatures.
        if access_key == self.access_key {
            Ok(SecretKey::from(self.secret_key.clone()))
        } else {
            Err(s3_error!(InvalidAccessKeyId, "The access key you provided does not exist"))
        }
    }
}
