//! Secrets kept on the drives (IAM users' secret keys, replication targets' secret keys) are
//! sealed with ChaCha20-Poly1305, a random nonce each and a caller-chosen name as associated
//! data, under a key derived from the root credentials: the drives alone do not give them
//! away. Changing the root credentials therefore makes the stored secrets unreadable.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a secret could not be sealed.
#[derive(Debug)]
pub enum SealError {
    NoRandomness(String),
    Cipher,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRandomness(why) => write!(formatter, "no randomness for a nonce: {why}"),
            Self::Cipher => write!(formatter, "sealing a secret failed"),
        }
    }
}

/// Seals and opens secrets with a key derived from the root credentials.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(root_access_key: &str, root_secret_key: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(root_secret_key.as_bytes()).expect("HMAC takes any key length");
        // The label predates this crate (IAM was first): it stays, or stored secrets would not open.
        mac.update(b"tessera/iam/secrets/v1\0");
        mac.update(root_access_key.as_bytes());
        let key = mac.finalize().into_bytes();
        Self { cipher: ChaCha20Poly1305::new(&key) }
    }

    /// `secret` sealed, bound to `name` (an access key): base64 of nonce and ciphertext.
    pub fn seal(&self, name: &str, secret: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|why| SealError::NoRandomness(why.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: name.as_bytes() })
            .map_err(|_| SealError::Cipher)?;
        Ok(base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// None when it does not open (another root key sealed it, another name, or tampering).
    pub fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(12)?;
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: name.as_bytes() }).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_only_under_the_same_root_and_name() {
        let secrets = SecretBox::new("root", "root-secret");
        let sealed = secrets.seal("alice", "s3cr3t-key").unwrap();
        assert_eq!(secrets.open("alice", &sealed).as_deref(), Some("s3cr3t-key"));
        assert_eq!(secrets.open("bob", &sealed), None);
        assert_eq!(SecretBox::new("root", "other-secret").open("alice", &sealed), None);
        assert_eq!(secrets.open("alice", "not base64!"), None);
    }
}
