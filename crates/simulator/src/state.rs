//! The simulator's shared state and its public handle.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::NaiveDate;

use crate::config::{Faults, Latency, SimAccount, SimConfig, Stamp};
use crate::model::{CapturedRequest, Invoice, Parcel};
use crate::rng::{hash, mix};
use crate::synth;

/// How many requests [`Simulator::captured`] remembers.
pub const CAPTURE_CAPACITY: usize = 1000;

/// The simulated carrier. Cheap to clone: every clone shares the same state.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.inner.seed)
            .field("today", &self.inner.today)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) seed: u64,
    parcels_per_account: usize,
    invoices_per_account: usize,
    history_days: u32,
    /// "Today" in France, fixed when the simulator starts so a run sees stable data.
    pub(crate) today: NaiveDate,
    data: RwLock<Data>,
    knobs: RwLock<Knobs>,
    captured: Mutex<VecDeque<CapturedRequest>>,
    /// Sequence for label numbers, claim ids, request ids.
    counter: AtomicU64,
    /// State of the fault/latency draws (SplitMix64 stepped atomically).
    draws: AtomicU64,
    /// The commerce back-end's orders and addresses (issue 16).
    pub(crate) commerce: crate::commerce::Shops,
}

#[derive(Default)]
struct Data {
    accounts: HashMap<String, AccountData>,
    /// Parcel number → where it lives, for O(1) tracking look-ups.
    index: HashMap<String, (String, Slot)>,
}

#[derive(Clone, Copy)]
enum Slot {
    Synthetic(usize),
    Posted(usize),
}

struct AccountData {
    account: SimAccount,
    synthetic: Vec<Parcel>,
    parcel_draws: Vec<u64>,
    posted: Vec<Parcel>,
    invoices: Vec<Invoice>,
    invoice_draws: Vec<u64>,
}

#[derive(Clone, Default)]
struct Knobs {
    latency: Latency,
    faults: Faults,
    account_faults: HashMap<String, Faults>,
}

/// What the fault layer decided for one request.
pub(crate) struct Plan {
    pub(crate) delay_ms: u64,
    pub(crate) outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Proceed,
    Drop,
    Error,
}

// Lock helpers: a panic while holding a lock must not take the whole simulator down, and the
// data stays consistent enough for a test double, so poisoning is ignored.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}
fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
fn lock<T>(l: &Mutex<T>) -> MutexGuard<'_, T> {
    l.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Today's date in France (fixed +01:00, like every date the simulator writes).
fn today_in_france() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&synth::paris())
        .date_naive()
}

impl Simulator {
    /// Builds the simulator and generates the configured accounts' synthetic data.
    pub fn new(cfg: SimConfig) -> Simulator {
        Self::with_today(cfg, today_in_france())
    }

    /// Same as [`Simulator::new`] with "today" pinned, so data do not shift at midnight
    /// (useful when comparing runs made on different days).
    pub fn with_today(cfg: SimConfig, today: NaiveDate) -> Simulator {
        let sim = Simulator {
            inner: Arc::new(Inner {
                seed: cfg.seed,
                parcels_per_account: cfg.parcels_per_account,
                invoices_per_account: cfg.invoices_per_account,
                history_days: cfg.history_days,
                today,
                data: RwLock::new(Data::default()),
                knobs: RwLock::new(Knobs {
                    latency: cfg.latency,
                    faults: cfg.faults,
                    account_faults: HashMap::new(),
                }),
                captured: Mutex::new(VecDeque::with_capacity(CAPTURE_CAPACITY)),
                counter: AtomicU64::new(1),
                draws: AtomicU64::new(hash(cfg.seed, &["draws"])),
                commerce: crate::commerce::Shops::default(),
            }),
        };
        for a in cfg.accounts {
            sim.add_account(a);
        }
        sim
    }

    /// The date synthetic data are anchored to.
    pub fn today(&self) -> NaiveDate {
        self.inner.today
    }

    /// The configured seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Registers an account, or updates it (credentials, company, departments, stamps, faults)
    /// if its number is already known. Parcels posted through `generateLabel` are kept; the
    /// synthetic parcels and invoices are re-attributed from the new stamp list.
    pub fn add_account(&self, a: SimAccount) {
        let inner = &self.inner;
        if let Some(f) = a.faults {
            write(&inner.knobs)
                .account_faults
                .insert(a.number.clone(), f);
        }
        let mut data = write(&inner.data);
        if let Some(existing) = data.accounts.get_mut(&a.number) {
            existing.account = a;
            existing.reattribute();
            return;
        }

        let mut synthetic: Vec<Parcel> = Vec::with_capacity(inner.parcels_per_account);
        let mut parcel_draws = Vec::with_capacity(inner.parcels_per_account);
        // Numbers drawn so far for this account (a set: benchmarks may ask for many parcels).
        let mut local: HashSet<String> = HashSet::with_capacity(inner.parcels_per_account);
        for i in 0..inner.parcels_per_account {
            let (p, draw) = {
                let index = &data.index;
                let local = &local;
                let taken = |n: &str| index.contains_key(n) || local.contains(n);
                synth::parcel(
                    inner.seed,
                    &a.number,
                    i,
                    inner.today,
                    inner.history_days,
                    &taken,
                )
            };
            local.insert(p.number.clone());
            synthetic.push(p);
            parcel_draws.push(draw);
        }
        let mut invoices = Vec::with_capacity(inner.invoices_per_account);
        let mut invoice_draws = Vec::with_capacity(inner.invoices_per_account);
        for j in 0..inner.invoices_per_account {
            let (inv, draw) = synth::invoice(inner.seed, &a.number, &a.company, j, inner.today);
            invoices.push(inv);
            invoice_draws.push(draw);
        }
        for (i, p) in synthetic.iter().enumerate() {
            data.index
                .insert(p.number.clone(), (a.number.clone(), Slot::Synthetic(i)));
        }
        let mut acc = AccountData {
            account: a,
            synthetic,
            parcel_draws,
            posted: Vec::new(),
            invoices,
            invoice_draws,
        };
        acc.reattribute();
        data.accounts.insert(acc.account.number.clone(), acc);
    }

    /// Adds stamps to an account (a stamp with an already known user key replaces it) and
    /// re-attributes its synthetic parcels and invoices. Unknown account: nothing happens.
    pub fn add_stamps(&self, account: &str, stamps: Vec<Stamp>) {
        let mut data = write(&self.inner.data);
        let Some(acc) = data.accounts.get_mut(account) else {
            tracing::warn!(account, "add_stamps on an unknown simulator account");
            return;
        };
        for s in stamps {
            match acc
                .account
                .stamps
                .iter_mut()
                .find(|e| e.user_key == s.user_key)
            {
                Some(existing) => *existing = s,
                None => acc.account.stamps.push(s),
            }
        }
        acc.reattribute();
    }

    /// Every parcel of the account: synthetic ones first, then those posted through
    /// `generateLabel`, in posting order. Empty for an unknown account.
    pub fn parcels(&self, account: &str) -> Vec<Parcel> {
        read(&self.inner.data)
            .accounts
            .get(account)
            .map(|a| a.synthetic.iter().chain(a.posted.iter()).cloned().collect())
            .unwrap_or_default()
    }

    /// Every invoice of the account, most recent first.
    pub fn invoices(&self, account: &str) -> Vec<Invoice> {
        read(&self.inner.data)
            .accounts
            .get(account)
            .map(|a| a.invoices.clone())
            .unwrap_or_default()
    }

    /// The account numbers known to the simulator, sorted.
    pub fn accounts(&self) -> Vec<String> {
        let mut v: Vec<String> = read(&self.inner.data).accounts.keys().cloned().collect();
        v.sort();
        v
    }

    /// Sets the global faults (`account == None`) or one account's override.
    pub fn set_faults(&self, account: Option<&str>, f: Faults) {
        let mut k = write(&self.inner.knobs);
        match account {
            None => k.faults = f,
            Some(a) => {
                k.account_faults.insert(a.to_owned(), f);
            }
        }
    }

    /// Removes an account's fault override: the global faults apply to it again.
    pub fn clear_account_faults(&self, account: &str) {
        write(&self.inner.knobs).account_faults.remove(account);
    }

    pub fn set_latency(&self, l: Latency) {
        write(&self.inner.knobs).latency = l;
    }

    /// The last [`CAPTURE_CAPACITY`] service requests received, oldest first (control routes
    /// under `/_sim/` are not captured).
    pub fn captured(&self) -> Vec<CapturedRequest> {
        lock(&self.inner.captured).iter().cloned().collect()
    }

    pub fn clear_captured(&self) {
        lock(&self.inner.captured).clear();
    }

    /// Serves on `listener` until `shutdown` completes, then stops gracefully (in-flight
    /// requests finish).
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Small request/response exchanges: Nagle's algorithm would add tens of milliseconds.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Starts serving on `127.0.0.1` with an ephemeral port in a background task (tests, demo).
    /// The server stops when the handle is shut down or dropped.
    pub async fn spawn(&self) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.clone().run(listener, async move {
            // Either an explicit shutdown or the sender being dropped ends the server.
            let _ = rx.await;
        }));
        Ok(SimHandle {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    // ---- used by the HTTP layer ----

    pub(crate) fn next_seq(&self) -> u64 {
        self.inner.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A uniform draw in `[0, 1)` from the shared fault stream.
    fn draw(&self) -> f64 {
        let s = self
            .inner
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        (mix(s) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True when some account has its own faults (the fault layer then needs to know which
    /// account a request is for).
    pub(crate) fn has_account_faults(&self) -> bool {
        !read(&self.inner.knobs).account_faults.is_empty()
    }

    /// Decides latency and fault for one request made with `account`'s credentials.
    pub(crate) fn plan(&self, account: Option<&str>) -> Plan {
        let (latency, faults) = {
            let k = read(&self.inner.knobs);
            let f = account
                .and_then(|a| k.account_faults.get(a))
                .copied()
                .unwrap_or(k.faults);
            (k.latency, f)
        };
        let mut delay_ms = latency.fixed_ms;
        if latency.jitter_ms > 0 {
            delay_ms += (self.draw() * (latency.jitter_ms as f64 + 1.0)) as u64;
        }
        if faults.is_none() {
            return Plan {
                delay_ms,
                outcome: Outcome::Proceed,
            };
        }
        let outcome = if self.draw() < faults.drop_rate.clamp(0.0, 1.0) {
            Outcome::Drop
        } else if self.draw() < faults.error_rate.clamp(0.0, 1.0) {
            Outcome::Error
        } else {
            Outcome::Proceed
        };
        if outcome == Outcome::Proceed && self.draw() < faults.slow_rate.clamp(0.0, 1.0) {
            delay_ms += faults.slow_ms;
        }
        Plan { delay_ms, outcome }
    }

    pub(crate) fn capture(&self, req: CapturedRequest) {
        let mut c = lock(&self.inner.captured);
        while c.len() >= CAPTURE_CAPACITY {
            c.pop_front();
        }
        c.push_back(req);
    }

    /// The account registered as `number` (its credentials, stamps, departments).
    pub(crate) fn account(&self, number: &str) -> Option<SimAccount> {
        read(&self.inner.data)
            .accounts
            .get(number.trim())
            .map(|a| a.account.clone())
    }

    /// The account if `number`/`password` are its credentials.
    pub(crate) fn authenticate(
        &self,
        number: Option<&str>,
        password: Option<&str>,
    ) -> Option<SimAccount> {
        let (number, password) = (number?, password?);
        let data = read(&self.inner.data);
        let acc = data.accounts.get(number.trim())?;
        (!acc.account.password.is_empty() && acc.account.password == password)
            .then(|| acc.account.clone())
    }

    /// A parcel of `account` by number; `None` when unknown *or* another account's, so the two
    /// cases cannot be told apart.
    pub(crate) fn parcel_of(&self, account: &str, number: &str) -> Option<Parcel> {
        let data = read(&self.inner.data);
        let (owner, slot) = data.index.get(number)?;
        if owner != account {
            return None;
        }
        let acc = data.accounts.get(owner)?;
        match *slot {
            Slot::Synthetic(i) => acc.synthetic.get(i),
            Slot::Posted(i) => acc.posted.get(i),
        }
        .cloned()
    }

    /// An invoice of `account` by number (`None` when unknown or another account's).
    pub(crate) fn invoice_of(&self, account: &str, number: &str) -> Option<Invoice> {
        read(&self.inner.data)
            .accounts
            .get(account)?
            .invoices
            .iter()
            .find(|i| i.number == number)
            .cloned()
    }

    /// Stores a parcel posted through `generateLabel`, giving it a fresh number.
    pub(crate) fn post_parcel(&self, mut p: Parcel, international: bool) -> Parcel {
        let mut data = write(&self.inner.data);
        let mut attempt = 0u64;
        p.number = loop {
            let seq = self.next_seq().to_string();
            let mut rng = crate::rng::SplitMix64::new(hash(self.inner.seed, &["label", &seq]));
            let n = synth::parcel_number(&mut rng, international);
            if !data.index.contains_key(&n) || attempt > 1000 {
                break n;
            }
            attempt += 1;
        };
        let account = p.account.clone();
        if let Some(acc) = data.accounts.get_mut(&account) {
            let slot = Slot::Posted(acc.posted.len());
            acc.posted.push(p.clone());
            data.index.insert(p.number.clone(), (account, slot));
        }
        p
    }
}

impl AccountData {
    /// Re-applies the owner draws with the current stamps, departments and company.
    fn reattribute(&mut self) {
        let stamps = &self.account.stamps;
        for (p, d) in self.synthetic.iter_mut().zip(&self.parcel_draws) {
            synth::stamp_parcel(p, *d, stamps);
        }
        for (inv, d) in self.invoices.iter_mut().zip(&self.invoice_draws) {
            synth::attribute_invoice(inv, *d, stamps, &self.account.departments);
            inv.company.clone_from(&self.account.company);
        }
    }
}

/// A simulator served in the background by [`Simulator::spawn`].
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
