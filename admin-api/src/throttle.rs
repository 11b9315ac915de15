//! Sign-in throttling through the shared throttle (`sesame-throttle`, see its crate docs for the
//! model): each sign-in reserves its password check per login and per client address *before*
//! the password is verified; a refused attempt is answered 429 with `Retry-After`, unverified.
//!
//! Also here: the bounded pool that runs the forgotten-password work off the request, so the
//! answer takes as long whether or not the details match.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::Extension;
use sesame_throttle::{Permit, Refused, ThrottleConfig};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// Forgotten-password requests being handled in the background at most; past it, 429 for
/// everyone alike (it says nothing about the details sent).
const BACKGROUND_SLOTS: usize = 64;

pub struct Throttle {
    inner: sesame_throttle::Throttle,
    background: Arc<Semaphore>,
}

/// The peer address the listener recorded. Without one (the router served some other way),
/// every client is one address: the per-login limits still hold.
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

pub fn peer_ip(peer: &Peer) -> IpAddr {
    peer.as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0 .0.ip())
}

fn refused(r: Refused) -> ApiError {
    ApiError::TooManyAttempts {
        retry_after: r.retry_after_secs(),
    }
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Throttle {
        Throttle {
            inner: sesame_throttle::Throttle::local(cfg),
            background: Arc::new(Semaphore::new(BACKGROUND_SLOTS)),
        }
    }

    /// Uses `inner` (e.g. the throttle on Redis, issue 18) instead of the in-memory one.
    pub fn with_inner(inner: sesame_throttle::Throttle) -> Throttle {
        Throttle {
            inner,
            background: Arc::new(Semaphore::new(BACKGROUND_SLOTS)),
        }
    }

    /// Reserves one password check of `key` (`account:<number>` or `login:<login>`, the same
    /// keys as the gateway's legacy login) from `ip`. Drop the permit on failure; call
    /// [`Permit::succeeded`] on success.
    pub async fn reserve(&self, key: &str, ip: IpAddr) -> ApiResult<Permit> {
        self.inner.reserve(key, ip).await.map_err(refused)
    }

    /// Runs `work` after the answer, on a bounded number of slots.
    pub fn off_request(&self, work: impl Future<Output = ()> + Send + 'static) -> ApiResult<()> {
        let Ok(slot) = self.background.clone().try_acquire_owned() else {
            return Err(ApiError::TooManyRequests);
        };
        tokio::spawn(async move {
            work.await;
            drop(slot);
        });
        Ok(())
    }
}
