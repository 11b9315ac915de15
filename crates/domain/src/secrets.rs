//! Secrets at rest: keyed hashes for connection keys and tokens, AES-256-GCM for upstream
//! passwords, argon2id for user and admin passwords.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::{ConnectionKey, KeyHash};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret must be at least 32 bytes")]
    TooShort,
    #[error("the stored ciphertext is malformed or was encrypted with another master key")]
    Decrypt,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// HMAC-SHA-256 under the server secret. The keyed state is computed once; hashing a key clones
/// it (no allocation), which keeps cache-hit resolution well under a microsecond.
#[derive(Clone)]
pub struct KeyHasher {
    mac: HmacSha256,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

impl KeyHasher {
    pub fn new(secret: &[u8]) -> Result<Self, SecretError> {
        if secret.len() < 32 {
            return Err(SecretError::TooShort);
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(secret).map_err(|_| SecretError::TooShort)?;
        Ok(Self { mac })
    }
    pub fn hash_bytes(&self, data: &[u8]) -> KeyHash {
        let mut m = self.mac.clone();
        m.update(data);
        KeyHash(m.finalize().into_bytes().into())
    }
    pub fn hash_key(&self, key: &ConnectionKey) -> KeyHash {
        self.hash_bytes(key.as_bytes())
    }
    /// Tokens (invitations, sessions, resets) are random and stored only as this hash.
    pub fn hash_token(&self, token: &str) -> KeyHash {
        // Domain-separate tokens from connection keys so one can never be replayed as the other.
        let mut m = self.mac.clone();
        m.update(b"token:");
        m.update(token.as_bytes());
        KeyHash(m.finalize().into_bytes().into())
    }
}

/// A random URL-safe token with 256 bits of entropy.
pub fn new_token() -> String {
    use base64_alphabet::encode_url_safe;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    encode_url_safe(&raw)
}

mod base64_alphabet {
    // A tiny URL-safe base64 (no padding) so the domain crate needs no extra dependency.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    pub fn encode_url_safe(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len() * 4 / 3 + 2);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}

/// AES-256-GCM with a master key; each value gets a fresh 96-bit nonce stored in front of it.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<secret>)")
    }
}

impl Cipher {
    /// `key` must be exactly 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, SecretError> {
        if key.len() != 32 {
            return Err(SecretError::TooShort);
        }
        let aead = Aes256Gcm::new_from_slice(key).map_err(|_| SecretError::TooShort)?;
        Ok(Self { aead })
    }
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and an in-memory buffer cannot fail.
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plain)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, SecretError> {
        if data.len() < 12 + 16 {
            return Err(SecretError::Decrypt);
        }
        let (nonce, ct) = data.split_at(12);
        self.aead
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SecretError::Decrypt)
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes), the OWASP baseline.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Password policy shared by every form: 8–128 characters with a letter and a digit.
pub fn check_password_policy(password: &str) -> Result<(), crate::FieldError> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(crate::FieldError::new(
            "password",
            "must be 8 to 128 characters",
        ));
    }
    if !password.chars().any(char::is_alphabetic) || !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(crate::FieldError::new(
            "password",
            "must contain a letter and a digit",
        ));
    }
    Ok(())
}

/// Constant-time equality for secrets compared outside a hash lookup.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_keyed_and_stable() {
        let a = KeyHasher::new(&[7u8; 32]).unwrap();
        let b = KeyHasher::new(&[8u8; 32]).unwrap();
        let k = ConnectionKey::parse("0E0AC69EA87355213770755A310BFB32").unwrap();
        assert_eq!(a.hash_key(&k), a.hash_key(&k));
        assert_ne!(a.hash_key(&k), b.hash_key(&k));
        assert_ne!(a.hash_key(&k), a.hash_token(k.expose()));
        assert_eq!(
            KeyHasher::new(&[1u8; 31]).unwrap_err(),
            SecretError::TooShort
        );
    }

    #[test]
    fn cipher_round_trips_and_detects_tampering() {
        let c = Cipher::new(&[3u8; 32]).unwrap();
        let ct = c.encrypt(b"s3cret-upstream");
        assert!(!ct.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(c.decrypt(&ct).unwrap(), b"s3cret-upstream");
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(c.decrypt(&bad), Err(SecretError::Decrypt));
        // A fresh nonce each time: the same plaintext never gives the same ciphertext.
        assert_ne!(c.encrypt(b"s3cret-upstream"), ct);
        assert!(Cipher::new(&[4u8; 32]).unwrap().decrypt(&ct).is_err());
    }

    #[test]
    fn passwords() {
        let h = hash_password("Secret123").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Secret123", &h));
        assert!(!verify_password("Secret124", &h));
        assert!(!verify_password("Secret123", "not a hash"));
        assert!(check_password_policy("short1").is_err());
        assert!(check_password_policy("longenough").is_err());
        assert!(check_password_policy("longenough1").is_ok());
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(t, new_token());
    }
}
