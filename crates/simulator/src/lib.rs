//! # Sesame upstream simulator
//!
//! An offline imitation of the carrier's (Colissimo) web services, so the gateway, the tests,
//! the demo and the benchmarks run without the real carrier: labels (multipart with a real PDF),
//! tracking (timelineCompany and v2), pickup points, eligibility, the tracking tool's parcel
//! search and claims, invoices with PDFs. Every account has its own credentials (a wrong
//! password is refused), data are synthetic and deterministic for a seed, and latency and
//! faults (errors, slow answers, dropped connections) can be injected globally or per account.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sesame_simulator::{SimAccount, SimConfig, Simulator, Stamp};
//! let sim = Simulator::new(SimConfig { seed: 7, ..SimConfig::default() });
//! let mut acc = SimAccount::new("123456", "secret", "ACME");
//! acc.stamps.push(Stamp::new("0123456789abcdef0123456789abcdef", Some("shop")));
//! sim.add_account(acc);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! sim.run(listener, std::future::pending()).await
//! # }
//! ```
//!
//! Routes, envelopes and assumptions are documented in `docs/SIMULATOR.md`.

mod commerce;
mod config;
mod http;
mod model;
mod pdf;
mod rng;
mod state;
mod synth;

pub use commerce::{Address, Document, Order, OrderLine};
pub use config::{Faults, Latency, SimAccount, SimConfig, Stamp};
pub use model::{CapturedRequest, Event, Invoice, Parcel, ParcelStatus};
pub use state::{SimHandle, Simulator, CAPTURE_CAPACITY};
