//! `sesame_throttle::Backend` on Redis, so a guesser spreading attempts over the replicas
//! meets one budget. Each operation is one atomic script (`throttle.lua`, the model of
//! `sesame_throttle::Local`); when the link is degraded, or a call fails, the operation runs
//! on this process's [`Local`] backend instead.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use sesame_throttle::{Attempt, Backend, BoxFuture, Local, Refused, Reservation, ThrottleConfig};

use crate::Link;

pub struct RedisThrottle {
    link: Arc<Link>,
    /// `<prefix>th:<namespace>:`: the gateway's and the admin API's throttles count apart,
    /// as they do in memory (each has its own `[…throttle]` settings).
    keys: String,
    cfg: ThrottleConfig,
    script: Script,
    local: Local,
}

impl RedisThrottle {
    pub fn new(link: Arc<Link>, namespace: &str, cfg: ThrottleConfig) -> RedisThrottle {
        RedisThrottle {
            keys: format!("{}th:{namespace}:", link.prefix()),
            link,
            local: Local::new(cfg.clone()),
            cfg,
            script: Script::new(include_str!("throttle.lua")),
        }
    }

    fn key_names(&self, a: &Attempt) -> Vec<String> {
        let mut k = vec![format!("{}a:{}", self.keys, a.addr)];
        if let Some(login) = &a.login {
            k.push(format!("{}l:{login}", self.keys));
            k.push(format!("{}p:{}|{login}", self.keys, a.addr));
        }
        k
    }

    fn args(&self, op: &str, r: Reservation) -> Vec<String> {
        let c = &self.cfg;
        let base = c.base_delay_ms.max(1);
        let cap = c.max_delay_secs.saturating_mul(1000).max(base);
        vec![
            op.to_owned(),
            base.to_string(),
            cap.to_string(),
            c.forget_after_secs.saturating_mul(1000).to_string(),
            c.address_free_failures.to_string(),
            c.login_free_failures.to_string(),
            c.shared_free_failures.to_string(),
            c.remember_success_secs.saturating_mul(1000).to_string(),
            u8::from(r.charged_address).to_string(),
            u8::from(r.charged_shared).to_string(),
        ]
    }

    /// `Some((ok, wait_ms, charged_address, charged_shared))`, or `None`: decide locally.
    async fn run(&self, keys: &[String], op: &str, r: Reservation) -> Option<(i64, i64, i64, i64)> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.link.eval(&self.script, &keys, &self.args(op, r)).await
    }
}

fn refused(wait_ms: i64) -> Refused {
    Refused {
        retry_after: Duration::from_millis(wait_ms.max(0) as u64),
    }
}

impl Backend for RedisThrottle {
    fn reserve<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<Reservation, Refused>> {
        Box::pin(async move {
            let keys = self.key_names(a);
            match self.run(&keys, "reserve", Reservation::default()).await {
                Some((1, _, ca, cs)) => Ok(Reservation {
                    charged_address: ca == 1,
                    charged_shared: cs == 1,
                }),
                Some((_, wait, _, _)) => Err(refused(wait)),
                None => self.local.reserve(a).await,
            }
        })
    }

    fn succeeded<'a>(&'a self, a: &'a Attempt, r: Reservation) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let keys = self.key_names(a);
            if self.run(&keys, "succeeded", r).await.is_none() {
                self.local.succeeded(a, r).await;
            }
        })
    }

    fn address_gate(&self, addr: IpAddr) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(async move {
            let keys = [format!("{}a:{addr}", self.keys)];
            match self.run(&keys, "gate", Reservation::default()).await {
                Some((1, ..)) => Ok(()),
                Some((_, wait, ..)) => Err(refused(wait)),
                None => self.local.address_gate(addr).await,
            }
        })
    }

    fn address_failed(&self, addr: IpAddr) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let keys = [format!("{}a:{addr}", self.keys)];
            if self
                .run(&keys, "failed", Reservation::default())
                .await
                .is_none()
            {
                self.local.address_failed(addr).await;
            }
        })
    }

    /// Keys in this process's fallback (Redis's keys expire on their own).
    fn entries(&self) -> usize {
        self.local.entries()
    }
}
