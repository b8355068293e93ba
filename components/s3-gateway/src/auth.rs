//! Who may sign requests: the root credentials from the environment, and the users of the
//! identity store (`iam`), each with its own secret, while enabled.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::iam::{self, SecretBox};

/// Development credentials, used only when none are configured (the host warns loudly).
const DEV_ACCESS_KEY: &str = "tesseraadmin";
const DEV_SECRET_KEY: &str = "tesseraadmin";

pub struct NodeAuth {
    access_key: String,
    secret_key: String,
}

impl NodeAuth {
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

    /// What seals the users' secrets in the identity store.
    pub fn secret_box(&self) -> SecretBox {
        SecretBox::new(&self.access_key, &self.secret_key)
    }
}

#[async_trait::async_trait]
impl S3Auth for NodeAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        // The access key is public; only the secret needs constant-time handling, which s3s
        // does when it compares signatures.
        if access_key == self.access_key {
            return Ok(SecretKey::from(self.secret_key.clone()));
        }
        let unknown = || s3_error!(InvalidAccessKeyId, "The access key you provided does not exist");
        let user = iam::snapshot()?.users.get(access_key).ok_or_else(unknown)?;
        if !user.enabled {
            eprintln!("tessera audit: access denied: who={access_key} why=the user is disabled");
            return Err(unknown());
        }
        match self.secret_box().open(access_key, &user.secret) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => {
                eprintln!("tessera audit: the secret of {access_key} does not open: were the root credentials changed?");
                Err(unknown())
            }
        }
    }
}
