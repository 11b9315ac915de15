//! CSRF tokens: every console form carries `_csrf`, derived from a secret the visitor's cookie
//! holds (the session token once signed in, a random pre-session value before); a POST without
//! the right token is refused with a page that says so, before anything is read or written.
//! `SameSite=Strict` cookies already keep other sites' posts unauthenticated; the token also
//! covers browsers and proxies that ignore it.

use sesame_domain::secrets::ct_eq;
use sha2::{Digest, Sha256};

/// The form field that carries the token.
pub const FIELD: &str = "_csrf";

/// The token of a seed: a one-way function of it, so the page shows the token, never the seed.
pub fn token(seed: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sesame-console-csrf\0");
    h.update(seed.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `given` is the `expected` token (compared in constant time).
pub fn valid(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| ct_eq(g.as_bytes(), expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ_by_seed() {
        assert_ne!(super::token("a"), super::token("b"));
        assert_eq!(super::token("a").len(), 64);
        assert!(super::valid(&super::token("a"), Some(&super::token("a"))));
        assert!(!super::valid(&super::token("a"), None));
    }
}
