//! Prometheus metrics, every name prefixed `sesame_`. Labels are bounded (routes, statuses,
//! reasons): never a key, a parcel number or an account number.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::startup::StartupError;

#[derive(Clone)]
pub struct Metrics {
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub fanout_width: HistogramVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_evictions: IntCounterVec,
    pub cached_principals: IntGauge,
    pub auth_failures: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub changelog_lag: Histogram,
    pub changelog_version: IntGauge,
    /// Children resolved once for the common outcomes: `with_label_values` hashes every label
    /// and takes a lock on each call, which showed in the proxy path's profile.
    hot: std::sync::Arc<Hot>,
}

/// Pre-resolved metric children, looked up by label in a short list.
struct Hot {
    /// Per route: `requests{status="200",outcome="ok"}` and `request_duration`.
    routes: Vec<(&'static str, IntCounter, Histogram)>,
    /// Per upstream service: `upstream_duration{result="ok"}`.
    upstream_ok: Vec<(&'static str, Histogram)>,
}

/// Route labels of the public services (`Service::route`).
const ROUTES: &[&str] = &[
    "labels",
    "labels_soap",
    "tracking",
    "tracking_v2",
    "pickup",
    "eligibility",
    "tracking_link",
    "sesame_api",
];
/// Upstream service labels of the hot calls.
const UPSTREAM_SERVICES: &[&str] = &[
    "labels",
    "labels_soap",
    "tracking",
    "tracking_v2",
    "pickup",
    "eligibility",
];

// Every label value the code records, so that `Metrics::new` can create each series at zero:
// a series that appears only at its first event leaves the shipped alerts and dashboard panels
// (deploy/) without data until then, and `rate()` misses that first event.
/// Upstream services of the private APIs (parcel search, claims, invoices).
const PRIVATE_SERVICES: &[&str] = &["tracking_tool", "invoices"];
/// `result` of `sesame_upstream_duration_seconds`.
const UPSTREAM_RESULTS: &[&str] = &["ok", "error", "timeout", "credentials_refused"];
/// `route` of `sesame_fanout_width` (`record_fanout` in services.rs).
const FANOUT_ROUTES: &[&str] = &[
    "tracking",
    "tracking_v2",
    "eligibility",
    "parcel_search",
    "invoices",
    "invoice_zip",
];
/// `reason` of `sesame_principal_cache_evictions_total`.
const EVICTION_REASONS: &[&str] = &["size", "expired", "change_log"];
/// `reason` of `sesame_auth_failures_total`.
const AUTH_FAILURE_REASONS: &[&str] = &[
    "missing_credentials",
    "malformed_key",
    "unknown_key",
    "disabled_or_expired",
    "bad_password",
];
/// `limit` of `sesame_rate_limited_total`.
const RATE_LIMITS: &[&str] = &["key", "account"];
/// Outcomes whose HTTP status is the same in every service's envelope (the error-rate alerts
/// select them), with that status.
const FIXED_STATUS_OUTCOMES: &[(&str, &str)] = &[
    ("rate_limited", "429"),
    ("store_unavailable", "503"),
    ("upstream_timeout", "504"),
    ("upstream_error", "502"),
    ("internal", "500"),
];

fn reg<T: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    c: T,
) -> Result<T, StartupError> {
    r.register(Box::new(c.clone()))
        .map_err(|e| StartupError::Metrics(format!("registration: {e}")))?;
    Ok(c)
}

fn err(e: prometheus::Error) -> StartupError {
    StartupError::Metrics(e.to_string())
}

impl Metrics {
    /// Counts a finished request and its latency.
    pub fn observe_request(&self, route: &str, status: http::StatusCode, outcome: &str, secs: f64) {
        match self.hot.routes.iter().find(|(r, _, _)| *r == route) {
            Some((_, ok, duration)) => {
                if status == http::StatusCode::OK && outcome == "ok" {
                    ok.inc();
                } else {
                    self.requests
                        .with_label_values(&[route, status.as_str(), outcome])
                        .inc();
                }
                duration.observe(secs);
            }
            None => {
                self.requests
                    .with_label_values(&[route, status.as_str(), outcome])
                    .inc();
                self.request_duration
                    .with_label_values(&[route])
                    .observe(secs);
            }
        }
    }

    /// Records an upstream call's latency by service and result.
    pub fn observe_upstream(&self, service: &str, result: &str, secs: f64) {
        if result == "ok" {
            if let Some((_, h)) = self.hot.upstream_ok.iter().find(|(s, _)| *s == service) {
                h.observe(secs);
                return;
            }
        }
        self.upstream_duration
            .with_label_values(&[service, result])
            .observe(secs);
    }

    pub fn new(r: &Registry) -> Result<Metrics, StartupError> {
        let mut m = Self::unresolved(r)?;
        let routes = ROUTES
            .iter()
            .map(|r| {
                (
                    *r,
                    m.requests.with_label_values(&[r, "200", "ok"]),
                    m.request_duration.with_label_values(&[r]),
                )
            })
            .collect();
        let upstream_ok = UPSTREAM_SERVICES
            .iter()
            .map(|s| (*s, m.upstream_duration.with_label_values(&[s, "ok"])))
            .collect();
        m.hot = std::sync::Arc::new(Hot {
            routes,
            upstream_ok,
        });
        m.zero_known_series();
        Ok(m)
    }

    /// Creates every known label set at zero (see `FANOUT_ROUTES` and the lists above it).
    fn zero_known_series(&self) {
        for route in ROUTES {
            for (outcome, status) in FIXED_STATUS_OUTCOMES {
                self.requests.with_label_values(&[route, status, outcome]);
            }
        }
        for service in UPSTREAM_SERVICES.iter().chain(PRIVATE_SERVICES) {
            for result in UPSTREAM_RESULTS {
                self.upstream_duration.with_label_values(&[service, result]);
            }
        }
        for route in FANOUT_ROUTES {
            self.fanout_width.with_label_values(&[route]);
        }
        for reason in EVICTION_REASONS {
            self.cache_evictions.with_label_values(&[reason]);
        }
        for reason in AUTH_FAILURE_REASONS {
            self.auth_failures.with_label_values(&[reason]);
        }
        for limit in RATE_LIMITS {
            self.rate_limited.with_label_values(&[limit]);
        }
    }

    fn unresolved(r: &Registry) -> Result<Metrics, StartupError> {
        let lat_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        Ok(Metrics {
            requests: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sesame_gateway_requests_total",
                        "Gateway requests by route, HTTP status and outcome",
                    ),
                    &["route", "status", "outcome"],
                )
                .map_err(err)?,
            )?,
            request_duration: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "sesame_gateway_request_duration_seconds",
                        "Gateway request latency by route",
                    )
                    .buckets(lat_buckets.clone()),
                    &["route"],
                )
                .map_err(err)?,
            )?,
            upstream_duration: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "sesame_upstream_duration_seconds",
                        "Upstream call latency by service and result",
                    )
                    .buckets(lat_buckets),
                    &["service", "result"],
                )
                .map_err(err)?,
            )?,
            fanout_width: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "sesame_fanout_width",
                        "Accounts called concurrently per fanned-out request",
                    )
                    .buckets(vec![1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
                    &["route"],
                )
                .map_err(err)?,
            )?,
            cache_hits: reg(
                r,
                IntCounter::new("sesame_principal_cache_hits_total", "Principal cache hits")
                    .map_err(err)?,
            )?,
            cache_misses: reg(
                r,
                IntCounter::new(
                    "sesame_principal_cache_misses_total",
                    "Principal cache misses that read the database (concurrent misses on one key count once)",
                )
                .map_err(err)?,
            )?,
            cache_evictions: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sesame_principal_cache_evictions_total",
                        "Principal cache evictions by reason",
                    ),
                    &["reason"],
                )
                .map_err(err)?,
            )?,
            cached_principals: reg(
                r,
                IntGauge::new(
                    "sesame_principal_cache_entries",
                    "Principals currently cached",
                )
                .map_err(err)?,
            )?,
            auth_failures: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sesame_auth_failures_total",
                        "Failed authentications by reason",
                    ),
                    &["reason"],
                )
                .map_err(err)?,
            )?,
            rate_limited: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sesame_rate_limited_total",
                        "Calls refused by a rate limit, by limit",
                    ),
                    &["limit"],
                )
                .map_err(err)?,
            )?,
            changelog_lag: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "sesame_changelog_lag_seconds",
                        "Delay between a change's commit and its eviction by this gateway",
                    )
                    .buckets(vec![
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
                    ]),
                )
                .map_err(err)?,
            )?,
            changelog_version: reg(
                r,
                IntGauge::new(
                    "sesame_changelog_applied_version",
                    "Last change-log version applied by this gateway",
                )
                .map_err(err)?,
            )?,
            hot: std::sync::Arc::new(Hot {
                routes: Vec::new(),
                upstream_ok: Vec::new(),
            }),
        })
    }
}
