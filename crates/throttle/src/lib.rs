//! One password-guessing throttle for every place Sesame checks a password (the admin API's
//! sign-in, the gateway's legacy login/password) and for the gateway's failed-key slow-down.
//!
//! # Model
//!
//! Every failure is counted on up to three keys:
//!
//! - **pair** (login, address group): the full exponential curve. The first
//!   [`ThrottleConfig::login_free_failures`] failures are free, then each further attempt must
//!   wait `base_delay · 2^(failures − free)`, capped at `max_delay`. An attacker guessing from
//!   one address is slowed on its own pair key only.
//! - **login** (all addresses): the *shared budget*. Only the first failure of an address that
//!   has no history on this login (a "clean" address) is charged here. An attacker rotating
//!   source addresses spends this budget, and once spent every clean address waits on its
//!   curve; an attacker hammering from a few addresses barely touches it, so the real user
//!   from a clean address keeps signing in while the login is attacked from elsewhere.
//! - **address** (group, any login): a looser curve
//!   ([`ThrottleConfig::address_free_failures`]) against one address spraying many logins
//!   (and against connection-key guessing in the gateway).
//!
//! An address that signed in successfully on a login is remembered as *known good* for
//! [`ThrottleConfig::remember_success_secs`]: it skips the shared budget and the address
//! curve, so an attack spending the shared budget does not keep the real user out of its usual
//! address.
//!
//! Addresses are grouped (IPv4 `/32`, IPv6 `/64` by default) because one IPv6 client holds a
//! whole `/64`.
//!
//! # Atomicity
//!
//! [`Throttle::reserve`] checks the gates *and counts the attempt as a failure* in one step,
//! before the password is verified, so parallel guesses cannot all pass the check before the
//! first failure is recorded. [`Permit::succeeded`] credits it back; dropping the permit keeps
//! the failure (a cancelled attempt counts). A refused attempt is answered without verifying
//! the password (429 with `Retry-After`).
//!
//! # Memory
//!
//! At most [`ThrottleConfig::max_entries`] keys are remembered; when full, expired entries are
//! dropped first, then the least recently touched ones. A key is forgotten once its delay has
//! run out and `forget_after_secs` more have passed without a failure.
//!
//! # Backends
//!
//! The state lives behind [`Backend`]: [`Local`] (in memory, per process) today; a shared
//! backend (Redis, issue 18) implements the same trait, callers do not change.

mod local;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use local::Local;

/// The `throttle` table (`[gateway.throttle]`, `[admin.throttle]`).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failures of one login from one address group before delays start.
    pub login_free_failures: u32,
    /// The shared budget: first failures on one login from addresses without history on it,
    /// before such addresses must wait.
    pub shared_free_failures: u32,
    /// Failures from one address group (any login, and bad connection keys) before delays start.
    pub address_free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay_ms: u64,
    /// The longest delay.
    pub max_delay_secs: u64,
    /// A key is forgotten this long after its delay ran out without a new failure.
    pub forget_after_secs: u64,
    /// How long an address that signed in successfully on a login stays "known good" there.
    pub remember_success_secs: u64,
    /// Keys remembered at most (about 100 bytes each).
    pub max_entries: usize,
    /// Address grouping: IPv4 prefix length (32: one address).
    pub ipv4_prefix: u8,
    /// Address grouping: IPv6 prefix length (64: one subscriber).
    pub ipv6_prefix: u8,
    /// Connection keys (gateway): an address past its free failures waits this long at most
    /// before its key is checked, instead of being refused.
    pub key_max_wait_ms: u64,
}

impl ThrottleConfig {
    /// Small numbers that tests reach quickly (3 failures per login, 2 shared, 10 per address,
    /// 1 s base delay up to 60 s); the crate's and its backends' tests share them.
    pub fn small() -> ThrottleConfig {
        ThrottleConfig {
            login_free_failures: 3,
            shared_free_failures: 2,
            address_free_failures: 10,
            base_delay_ms: 1_000,
            max_delay_secs: 60,
            forget_after_secs: 100,
            remember_success_secs: 1_000,
            ..ThrottleConfig::default()
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            login_free_failures: 5,
            shared_free_failures: 5,
            address_free_failures: 20,
            base_delay_ms: 2_000,
            max_delay_secs: 900,
            forget_after_secs: 3_600,
            remember_success_secs: 30 * 24 * 3_600,
            max_entries: 100_000,
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            key_max_wait_ms: 2_000,
        }
    }
}

impl ThrottleConfig {
    /// Every problem with the values, each naming its key relative to `prefix` (e.g.
    /// `gateway.throttle`).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut p = Vec::new();
        if self.base_delay_ms == 0 {
            p.push(format!("{prefix}.base_delay_ms: must be at least 1"));
        }
        if self.max_delay_secs.saturating_mul(1000) < self.base_delay_ms {
            p.push(format!(
                "{prefix}.max_delay_secs: must be at least base_delay_ms"
            ));
        }
        if self.max_entries < 100 {
            p.push(format!("{prefix}.max_entries: must be at least 100"));
        }
        if self.ipv4_prefix > 32 {
            p.push(format!("{prefix}.ipv4_prefix: must be 0 to 32"));
        }
        if self.ipv6_prefix > 128 {
            p.push(format!("{prefix}.ipv6_prefix: must be 0 to 128"));
        }
        p
    }

    fn base(&self) -> Duration {
        Duration::from_millis(self.base_delay_ms.max(1))
    }

    fn cap(&self) -> Duration {
        Duration::from_secs(self.max_delay_secs).max(self.base())
    }
}

/// The wait imposed after `failures` counted failures on a key whose first `free` are free:
/// zero, then `base`, doubling with each failure, capped at `cap`.
pub fn delay(failures: u32, free: u32, base: Duration, cap: Duration) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let shift = (failures - free).min(32);
    base.saturating_mul(1u32 << shift.min(31)).min(cap)
}

/// The group an address is counted in: IPv4 (also IPv4-mapped IPv6) masked to `v4` bits,
/// IPv6 to `v6` bits.
pub fn group(addr: IpAddr, v4: u8, v6: u8) -> IpAddr {
    let addr = match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        a => a,
    };
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(v4.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(v6.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// An attempt refused without checking the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds for `Retry-After`, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let ms = self.retry_after.as_millis() as u64;
        ms.div_ceil(1000).max(1)
    }
}

/// What one attempt is counted on: a normalised login (if any) and an address group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub login: Option<Arc<str>>,
    pub addr: IpAddr,
}

/// What a reservation charged, so a success can credit exactly that back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reservation {
    pub charged_address: bool,
    pub charged_shared: bool,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the counters live. Each method is atomic with respect to the others.
pub trait Backend: Send + Sync + 'static {
    /// Checks every gate of the attempt and, when all are open, counts it as a failure on its
    /// keys (see the crate docs); otherwise refuses it, counting nothing.
    fn reserve<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<Reservation, Refused>>;
    /// The attempt reserved with `r` succeeded: credits the failure back and remembers the
    /// address as known good for the login.
    fn succeeded<'a>(&'a self, a: &'a Attempt, r: Reservation) -> BoxFuture<'a, ()>;
    /// The address gate alone (connection keys: checked, not counted, before the check).
    fn address_gate(&self, addr: IpAddr) -> BoxFuture<'_, Result<(), Refused>>;
    /// The address gate answered without waiting, when this backend can (in memory): every
    /// request with a connection key asks, and a boxed future is an allocation each time.
    fn address_gate_now(&self, _addr: IpAddr) -> Option<Result<(), Refused>> {
        None
    }
    /// Counts a failure on the address alone.
    fn address_failed(&self, addr: IpAddr) -> BoxFuture<'_, ()>;
    /// Keys remembered now.
    fn entries(&self) -> usize;
}

/// The throttle callers hold. Cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    cfg: Arc<ThrottleConfig>,
    backend: Arc<dyn Backend>,
}

impl Throttle {
    /// An in-memory throttle for this process.
    pub fn local(cfg: ThrottleConfig) -> Throttle {
        let backend = Arc::new(Local::new(cfg.clone()));
        Throttle::with_backend(cfg, backend)
    }

    pub fn with_backend(cfg: ThrottleConfig, backend: Arc<dyn Backend>) -> Throttle {
        Throttle {
            cfg: Arc::new(cfg),
            backend,
        }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.cfg
    }

    /// The attempt as counted: the login trimmed and lower-cased (so case variants share one
    /// budget), the address grouped.
    pub fn attempt(&self, login: &str, addr: IpAddr) -> Attempt {
        let login = login.trim().to_lowercase();
        Attempt {
            login: (!login.is_empty()).then(|| Arc::from(login)),
            addr: self.group(addr),
        }
    }

    fn group(&self, addr: IpAddr) -> IpAddr {
        group(addr, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix)
    }

    /// Reserves a password check for `login` (namespaced by the caller, e.g. `account:900138`)
    /// from `addr`. Verify the password only with the permit in hand.
    pub async fn reserve(&self, login: &str, addr: IpAddr) -> Result<Permit, Refused> {
        let attempt = self.attempt(login, addr);
        let reservation = self.backend.reserve(&attempt).await?;
        Ok(Permit {
            backend: self.backend.clone(),
            attempt,
            reservation,
        })
    }

    /// Connection keys: how long an address with recent failures waits before its key is
    /// checked (bounded by `key_max_wait_ms`); zero for everyone else.
    pub async fn key_wait(&self, addr: IpAddr) -> Duration {
        let group = self.group(addr);
        let gate = match self.backend.address_gate_now(group) {
            Some(now) => now,
            None => self.backend.address_gate(group).await,
        };
        match gate {
            Ok(()) => Duration::ZERO,
            Err(r) => r
                .retry_after
                .min(Duration::from_millis(self.cfg.key_max_wait_ms)),
        }
    }

    /// Counts a failed connection key from `addr`.
    pub async fn key_failed(&self, addr: IpAddr) {
        self.backend.address_failed(self.group(addr)).await;
    }

    pub fn entries(&self) -> usize {
        self.backend.entries()
    }
}

/// A reserved attempt. Already counted as a failure: call [`Permit::succeeded`] when the
/// password was right; drop it otherwise.
pub struct Permit {
    backend: Arc<dyn Backend>,
    attempt: Attempt,
    reservation: Reservation,
}

impl Permit {
    pub async fn succeeded(self) {
        self.backend
            .succeeded(&self.attempt, self.reservation)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_curve_is_free_then_doubles_up_to_the_cap() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(900);
        let d = |n| delay(n, 5, base, cap).as_secs();
        assert_eq!((0..5).map(d).collect::<Vec<_>>(), [0, 0, 0, 0, 0]);
        assert_eq!(
            (5..14).map(d).collect::<Vec<_>>(),
            [2, 4, 8, 16, 32, 64, 128, 256, 512]
        );
        assert_eq!(d(14), 900);
        assert_eq!(d(40), 900);
        assert_eq!(d(u32::MAX), 900);
        assert_eq!(delay(0, 0, base, cap), base);
    }

    #[test]
    fn addresses_are_grouped() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            group(ip("2001:db8:1:2:aaaa::1"), 32, 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            group(ip("2001:db8:1:2:aaaa::1"), 32, 64),
            group(ip("2001:db8:1:2:ffff::9"), 32, 64)
        );
        assert_ne!(
            group(ip("2001:db8:1:3::1"), 32, 64),
            group(ip("2001:db8:1:2::1"), 32, 64)
        );
        assert_eq!(group(ip("::ffff:10.1.2.3"), 32, 64), ip("10.1.2.3"));
        assert_eq!(group(ip("10.1.2.3"), 24, 64), ip("10.1.2.0"));
        assert_eq!(group(ip("10.1.2.3"), 0, 0), ip("0.0.0.0"));
    }

    #[test]
    fn retry_after_rounds_up() {
        let r = |ms| Refused {
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(r(0).retry_after_secs(), 1);
        assert_eq!(r(1001).retry_after_secs(), 2);
        assert_eq!(r(2000).retry_after_secs(), 2);
    }

    #[test]
    fn shipped_defaults_are_valid() {
        assert!(ThrottleConfig::default().problems("t").is_empty());
        let bad = ThrottleConfig {
            base_delay_ms: 0,
            ipv6_prefix: 200,
            ..ThrottleConfig::default()
        };
        let p = bad.problems("gateway.throttle");
        assert!(p
            .iter()
            .any(|m| m.starts_with("gateway.throttle.base_delay_ms")));
        assert!(p
            .iter()
            .any(|m| m.starts_with("gateway.throttle.ipv6_prefix")));
    }
}
