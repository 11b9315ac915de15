//! The simulator's knobs, readable from a TOML table (`[simulator]` in the demo configuration).

use serde::{Deserialize, Serialize};

/// Everything the simulator needs to start. Unknown keys are refused so typos in a configuration
/// file are caught; every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every synthetic value: same seed (and same day) ⇒ same parcels and invoices.
    pub seed: u64,
    /// Synthetic parcels generated for each account.
    pub parcels_per_account: usize,
    /// Synthetic invoices generated for each account (one per past month).
    pub invoices_per_account: usize,
    /// Synthetic parcels are deposited within the last `history_days` days (today included).
    pub history_days: u32,
    /// Delay added to every service call.
    pub latency: Latency,
    /// Faults injected into every service call (unless an account overrides them).
    pub faults: Faults,
    /// Accounts known at start; more can be registered at runtime.
    pub accounts: Vec<SimAccount>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            parcels_per_account: 200,
            invoices_per_account: 24,
            history_days: 60,
            latency: Latency::default(),
            faults: Faults::default(),
            accounts: Vec::new(),
        }
    }
}

/// Delay added before answering: `fixed_ms` plus a uniform draw in `0..=jitter_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Latency {
    pub fixed_ms: u64,
    pub jitter_ms: u64,
}

/// Fault probabilities, each in `0..=1` (values outside are clamped).
///
/// Per request, in this order: `drop_rate` closes the connection without an answer,
/// `error_rate` answers HTTP 503 in the service's envelope, `slow_rate` adds `slow_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    pub error_rate: f64,
    pub slow_rate: f64,
    pub slow_ms: u64,
    pub drop_rate: f64,
}

impl Faults {
    /// True when no fault can ever fire (lets the hot path skip the draws).
    pub fn is_none(&self) -> bool {
        self.error_rate <= 0.0 && self.slow_rate <= 0.0 && self.drop_rate <= 0.0
    }
}

/// One customer account of the carrier, with its own credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimAccount {
    /// Six digits; the `contractNumber` / `login` / `accountNumber` of the services.
    pub number: String,
    pub password: String,
    pub company: String,
    /// Department names; some synthetic invoices are addressed to one of them.
    pub departments: Vec<String>,
    /// Users' stamps; synthetic parcels and invoices are attributed to them.
    pub stamps: Vec<Stamp>,
    /// Overrides the global faults for calls made with this account's credentials.
    pub faults: Option<Faults>,
    /// Whether the pickup-point service is enabled for the account (error 202 otherwise).
    pub pickup_allowed: bool,
}

impl Default for SimAccount {
    fn default() -> Self {
        Self {
            number: String::new(),
            password: String::new(),
            company: String::new(),
            departments: Vec::new(),
            stamps: Vec::new(),
            faults: None,
            pickup_allowed: true,
        }
    }
}

impl SimAccount {
    /// An account with credentials and a company name, no stamps, every service allowed.
    pub fn new(
        number: impl Into<String>,
        password: impl Into<String>,
        company: impl Into<String>,
    ) -> Self {
        Self {
            number: number.into(),
            password: password.into(),
            company: company.into(),
            ..Self::default()
        }
    }
}

/// What the gateway writes on a parcel when a user posts a label: the user's key (32 hex) and
/// optional tag; `department` is used to attribute synthetic invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stamp {
    pub user_key: String,
    pub tag: Option<String>,
    pub department: Option<String>,
}

impl Stamp {
    pub fn new(user_key: impl Into<String>, tag: Option<&str>) -> Self {
        Self {
            user_key: user_key.into(),
            tag: tag.map(str::to_owned),
            department: None,
        }
    }
}
