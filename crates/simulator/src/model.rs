//! The simulator's data, as exposed to tests and reference models.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Serialize;

/// Where a parcel is in its journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParcelStatus {
    /// Label printed, not yet handed to the carrier.
    Announced,
    InTransit,
    OutForDelivery,
    AvailableAtPickupPoint,
    Delivered,
    ReturnedToSender,
    /// Stuck after an incident (damaged, address problem…).
    Anomaly,
}

impl ParcelStatus {
    /// The code used in the tracking tool's JSON (`status`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Announced => "ANNOUNCED",
            Self::InTransit => "IN_TRANSIT",
            Self::OutForDelivery => "OUT_FOR_DELIVERY",
            Self::AvailableAtPickupPoint => "AVAILABLE_AT_PICKUP_POINT",
            Self::Delivered => "DELIVERED",
            Self::ReturnedToSender => "RETURNED_TO_SENDER",
            Self::Anomaly => "ANOMALY",
        }
    }

    /// The French label shown to customers.
    pub fn label(self) -> &'static str {
        match self {
            Self::Announced => "Colis annoncé",
            Self::InTransit => "En cours d'acheminement",
            Self::OutForDelivery => "En cours de livraison",
            Self::AvailableAtPickupPoint => "Disponible en point de retrait",
            Self::Delivered => "Livré",
            Self::ReturnedToSender => "Retourné à l'expéditeur",
            Self::Anomaly => "Incident en cours",
        }
    }

    /// Final statuses never change again (`isFinal` in tracking v2).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::ReturnedToSender)
    }
}

/// One tracking event. `code` is the six-letter code of the timelineCompany service; tracking v2
/// shows the matching short code (see `docs/SIMULATOR.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub code: String,
    /// Local time in France (the simulator always uses +01:00).
    pub date: DateTime<FixedOffset>,
    pub site_name: String,
    pub label_long: String,
    pub label_short: String,
}

/// A parcel: synthetic, or posted through `generateLabel`. `events` are oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parcel {
    pub number: String,
    pub account: String,
    pub user_key: Option<String>,
    pub tag: Option<String>,
    pub reference: String,
    pub recipient_name: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub product: String,
    pub status: ParcelStatus,
    pub deposit_date: NaiveDate,
    pub events: Vec<Event>,
    pub weight_kg: f64,
    /// Sent with a prepaid "Colissimo Pass".
    pub pass: bool,
}

impl Parcel {
    pub fn last_event(&self) -> Option<&Event> {
        self.events.last()
    }
}

/// A monthly invoice of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub number: String,
    pub account: String,
    pub company: String,
    pub date: NaiveDate,
    /// "F" (facture).
    pub kind: String,
    pub amount_ttc_cents: i64,
    pub pages: u32,
    pub contact_user_key: Option<String>,
    pub department: Option<String>,
}

/// A request as the simulator received it (before latency and faults), for tests that check what
/// the gateway forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    /// Path and query string, e.g. `/suivi/v2/idships/6A123?lang=fr_FR`.
    pub path: String,
    /// Headers in arrival order; names are lowercase, values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl CapturedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when `needle` appears anywhere in the path, a header value or the body.
    pub fn contains(&self, needle: &str) -> bool {
        if needle.is_empty() {
            return true;
        }
        self.path.contains(needle)
            || self.headers.iter().any(|(_, v)| v.contains(needle))
            || self
                .body
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
    }
}
