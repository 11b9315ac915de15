//! Guessing costs time: failed connection keys slow their address down, legacy passwords are
//! reserved with the shared password-guessing throttle before argon2 runs (docs/THROTTLE.md).

use std::net::IpAddr;

use sesame_domain::AccountNumber;
use sesame_throttle::{Permit, Refused, Throttle};

pub(crate) struct Slowdown {
    throttle: Throttle,
}

impl Slowdown {
    /// On `throttle`: in memory, or shared on Redis (`gateway.rate_limit.backend`, issue 18).
    pub fn new(throttle: Throttle) -> Slowdown {
        Slowdown { throttle }
    }

    /// Callers with recent failed keys wait before each attempt, on the throttle's address
    /// curve, at most `key_max_wait_ms`. Keys are not guessable (128 bits): this only keeps a
    /// bad-key loop from costing much; honest clients with a typo see nothing.
    pub async fn before_key(&self, ip: IpAddr) {
        let wait = self.throttle.key_wait(ip).await;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// A failed connection key: counted on the caller's address.
    pub async fn key_failed(&self, ip: IpAddr) {
        self.throttle.key_failed(ip).await;
    }

    /// Counts a legacy password attempt before it is verified (per login and per address).
    pub async fn reserve_password(&self, login: &str, ip: IpAddr) -> Result<Permit, Refused> {
        self.throttle.reserve(&throttle_key(login), ip).await
    }
}

/// The throttle key of a legacy login, as the admin API's sign-in keys it: an account number
/// is the account admin, anything else a user login.
fn throttle_key(login: &str) -> String {
    match AccountNumber::parse(login) {
        Ok(n) => format!("account:{n}"),
        Err(_) => format!("login:{login}"),
    }
}
