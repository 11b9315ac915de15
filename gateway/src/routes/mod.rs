//! Declared routes (issue 16): any upstream API behind delegated keys, from configuration.
//!
//! `config.rs` is the table as written (`[[gateway.routes]]`, `[gateway.upstreams.*]`),
//! `table.rs` checks and compiles it (every problem named by its key), `matcher.rs` the path
//! patterns, `handle.rs` one call through the phases of `services/phases.rs`, `reload.rs` the
//! swap on SIGHUP or file change (an invalid table is refused and the current one stays).
//!
//! The built-in services are routed first and never look at this table: a declared route costs
//! them nothing. A request no built-in service takes looks here before the 404.

mod config;
mod handle;
mod matcher;
pub(crate) mod reload;
mod table;

use std::sync::{Mutex, OnceLock};

use arc_swap::ArcSwap;
use http::{header, HeaderValue};
use serde_json::Value;

pub use config::{
    ErrorConfig, OwnerIs, RouteConfig, RouteTableConfig, ScopeConfig, UpstreamAuth, UpstreamConfig,
};
pub(crate) use handle::handle;
pub use reload::RouteSource;
pub(crate) use table::{Found, Route, Table};

use crate::error::Refusal;
use crate::response::{json_resp, Resp};

/// The table in use, swapped whole on reload: a request holds the route it matched (an `Arc`)
/// until it is answered, so a swap never disturbs a call in flight.
pub(crate) struct Routes {
    current: ArcSwap<Table>,
    source: OnceLock<RouteSource>,
    /// Modification times of the source's files at the last load.
    stamp: Mutex<Vec<Option<std::time::SystemTime>>>,
}

impl Routes {
    pub fn new(t: Table) -> Routes {
        Routes {
            current: ArcSwap::from_pointee(t),
            source: OnceLock::new(),
            stamp: Mutex::new(Vec::new()),
        }
    }

    pub fn find(&self, method: &http::Method, path: &str) -> Option<Found> {
        self.current.load().find(method, path)
    }

    pub fn len(&self) -> usize {
        self.current.load().len()
    }
}

/// A refusal in the route's own envelope, when it declares one: in its JSON template, strings
/// equal to or containing `{code}`, `{message}`, `{status}`, `{right}`, `{field}` are replaced.
pub(crate) fn respond(route: &Route, r: &Refusal<'_>) -> Option<Resp> {
    let t = route.error.as_ref()?;
    let status = r.status.as_u16().to_string();
    let fill = |s: &str| {
        s.replace("{code}", r.code.as_str())
            .replace("{message}", &r.message)
            .replace("{status}", &status)
            .replace("{right}", r.right.unwrap_or(""))
            .replace("{field}", r.field.unwrap_or(""))
    };
    fn walk(v: &Value, fill: &dyn Fn(&str) -> String) -> Value {
        match v {
            Value::String(s) => Value::String(fill(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, fill)).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), walk(x, fill))).collect())
            }
            other => other.clone(),
        }
    }
    let mut resp = json_resp(t.status.unwrap_or(r.status), &walk(&t.body, &fill));
    if let Some(secs) = r.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Some(resp)
}
