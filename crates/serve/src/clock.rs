//! A clock read at most once per poll of a connection's task (issue 17).
//!
//! One proxied request read the clock about fifteen times: the connection's clocks on each
//! read and write, the key cache's freshness, the upstream call's start, the pool's stamps.
//! Each read is a `clock_gettime` in the vDSO, ~1.7 % of the gateway's CPU under load (perf),
//! and everything in one poll runs within a few microseconds of the same instant. So the
//! connection task is polled inside [`Polled`], and [`now`] reads the clock on its first call
//! in a poll and hands out that reading for the rest of the poll. Outside a [`Polled`] poll
//! (other tasks, threads, tests), [`now`] is `Instant::now()`.
//!
//! What it may lag by is the poll's own CPU time so far (the time of the first read): fine for
//! deadlines of seconds and for latency buckets of a millisecond, and a deadline computed from
//! it is only ever earlier, never later. Measurements that must include a long synchronous
//! step (the request's total latency) keep reading the clock themselves.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

thread_local! {
    /// `None`: not inside a [`Polled`] poll. `Some(None)`: inside, clock not read yet.
    /// `Some(Some(t))`: inside, read at `t`.
    static NOW: Cell<Option<Option<Instant>>> = const { Cell::new(None) };
}

/// The time, read at most once per poll of the enclosing [`Polled`] future.
pub fn now() -> Instant {
    match NOW.get() {
        Some(Some(t)) => t,
        Some(None) => {
            let t = Instant::now();
            NOW.set(Some(Some(t)));
            t
        }
        None => Instant::now(),
    }
}

/// A future whose every poll shares one clock reading ([`now`]).
pub struct Polled<F>(pub F);

impl<F: Future + Unpin> Future for Polled<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Puts the outer state back, even on a panic (a `Polled` inside another one, or
        /// none).
        struct Restore(Option<Option<Instant>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                NOW.set(self.0);
            }
        }
        let _restore = Restore(NOW.replace(Some(None)));
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_reading_per_poll_and_a_fresh_one_outside() {
        let mut polled = Polled(Box::pin(async {
            let a = now();
            std::thread::sleep(Duration::from_millis(5));
            // Same poll: the same reading.
            assert_eq!(now(), a);
            tokio::task::yield_now().await;
            // Next poll: a new one.
            let b = now();
            assert!(b > a, "a new poll reads the clock again");
            b
        }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let b = rt.block_on(&mut polled);
        // Outside any `Polled` poll, every call reads the clock.
        let c = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() > c);
        assert!(c > b);
    }
}
