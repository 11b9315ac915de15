//! Sign-in throttling: after repeated failures for one identifier, further attempts are refused
//! for a while (429 with `Retry-After`), so passwords cannot be guessed at full speed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within the window before attempts are refused.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on remembered identifiers (attackers may invent many).
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// `Err(seconds to wait)` when the identifier is locked out.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((n, last)) if *n >= MAX_FAILURES && last.elapsed() < WINDOW => {
                Err((WINDOW - last.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, last)| last.elapsed() < WINDOW);
        }
        let e = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            e.0 = 0;
        }
        e.0 += 1;
        e.1 = Instant::now();
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn locks_after_max_failures_and_resets_on_success() {
        let t = super::Throttle::default();
        for _ in 0..super::MAX_FAILURES {
            assert!(t.check("a").is_ok());
            t.failed("a");
        }
        assert!(t.check("a").is_err());
        assert!(t.check("b").is_ok());
        t.succeeded("a");
        assert!(t.check("a").is_ok());
    }
}
