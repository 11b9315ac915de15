//! The compiled route table: every declared route and upstream checked and typed once (at
//! start-up, then at each reload), each problem named by its key.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::header::HeaderName;
use http::Method;
use serde_json::Value;
use sesame_domain::{Right, ScopedRight};

use super::config::{OwnerIs, RouteConfig, RouteTableConfig, UpstreamAuth, UpstreamConfig};
use super::matcher::Pattern;
use crate::auth::Link;
use crate::metrics::Metrics;
use crate::services::{self, Service};
use crate::trace::Spans;
use crate::upstream::Upstream;

/// Most declared routes in one table (each request not served by a built-in service looks
/// through them in order).
pub(crate) const MAX_ROUTES: usize = 1_024;

/// A named upstream origin with its own pool.
pub(crate) struct Origin {
    /// Label of `sesame_upstream_duration_seconds{service}`.
    pub name: &'static str,
    pub client: Upstream,
    pub timeout: Duration,
    pub auth: Auth,
}

/// How an account's own credentials are presented upstream (header names parsed once).
pub(crate) enum Auth {
    Basic,
    Header {
        login: Option<HeaderName>,
        password: HeaderName,
    },
    Body {
        login: String,
        password: String,
    },
}

/// Where a value sits in the caller's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Header(HeaderName),
    Query(String),
    Body(String),
    /// Index of a path parameter.
    Path(usize),
}

impl Source {
    fn parse(s: &str, pattern: &Pattern, path_ok: bool) -> Result<Source, String> {
        let (kind, name) = s
            .split_once(':')
            .filter(|(_, n)| !n.trim().is_empty())
            .ok_or_else(|| {
                format!("{s:?}: expected header:<name>, query:<name> or body:<field>")
            })?;
        let name = name.trim();
        match kind {
            "header" => HeaderName::from_bytes(name.as_bytes())
                .map(Source::Header)
                .map_err(|_| format!("{s:?}: not a header name")),
            "query" => Ok(Source::Query(name.to_owned())),
            "body" => Ok(Source::Body(name.to_owned())),
            "path" if path_ok => pattern
                .names()
                .iter()
                .position(|n| n == name)
                .map(Source::Path)
                .ok_or_else(|| format!("{s:?}: the path has no parameter {{{name}}}")),
            _ => Err(format!(
                "{s:?}: unknown place {kind:?} (header, query, body{})",
                if path_ok { ", path" } else { "" }
            )),
        }
    }

    /// The name a caller is told to fill when several accounts could serve the call.
    fn field(&self, pattern: &Pattern) -> String {
        match self {
            Source::Header(h) => h.as_str().to_owned(),
            Source::Query(n) | Source::Body(n) => n.clone(),
            Source::Path(i) => pattern.names().get(*i).cloned().unwrap_or_default(),
        }
    }
}

/// The right a route needs on the selected account.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Needed {
    Plain(Right),
    /// A scoped right, held with any scope but none.
    Scoped(ScopedRight),
}

impl Needed {
    pub fn id(self) -> &'static str {
        match self {
            Needed::Plain(r) => r.id(),
            Needed::Scoped(s) => s.id(),
        }
    }
    pub fn held_by(self, l: &Link) -> bool {
        match self {
            Needed::Plain(r) => l.rights.has(r),
            Needed::Scoped(s) => !l.rights.scope(s).is_none(),
        }
    }
}

/// Which part of an answer the caller's scope filters.
pub(crate) enum ScopeMode {
    Items(String),
    Item,
    Lookup(Pattern),
}

pub(crate) struct ScopeRule {
    pub right: ScopedRight,
    pub mode: ScopeMode,
    pub owner: String,
    pub owner_is: OwnerIs,
    pub department: String,
}

/// A route's own error envelope (a JSON template).
pub(crate) struct ErrorTemplate {
    pub status: Option<http::StatusCode>,
    pub body: Value,
}

/// One declared route, ready to serve.
pub(crate) struct Route {
    pub name: &'static str,
    pub method: Method,
    pub pattern: Pattern,
    pub upstream: Arc<Origin>,
    pub upstream_path: Pattern,
    pub right: Needed,
    pub keys: Vec<Source>,
    pub sessions: bool,
    pub legacy: bool,
    pub account: Option<Source>,
    /// What the caller is told to fill when several linked accounts hold the right.
    pub account_field: &'static str,
    pub scope: Option<ScopeRule>,
    pub error: Option<ErrorTemplate>,
}

impl Route {
    /// Whether the request body must be parsed as a JSON object (a credential or the account
    /// sits in it, or the account's credentials go into it).
    pub fn reads_json(&self) -> bool {
        self.keys.iter().any(|k| matches!(k, Source::Body(_)))
            || self.legacy
            || matches!(self.account, Some(Source::Body(_)))
            || matches!(self.upstream.auth, Auth::Body { .. })
    }
}

/// The declared routes, in the order they were written.
#[derive(Default)]
pub(crate) struct Table {
    pub routes: Vec<Arc<Route>>,
}

/// What a request not served by a built-in service finds in the table.
pub(crate) enum Found {
    Route(Arc<Route>, Vec<String>),
    /// The path is declared, for other methods only: 405 in that route's envelope.
    WrongMethod(Arc<Route>),
}

impl Table {
    pub fn find(&self, method: &Method, path: &str) -> Option<Found> {
        let mut other = None;
        for r in &self.routes {
            if let Some(values) = r.pattern.matches(path) {
                if r.method == *method {
                    return Some(Found::Route(r.clone(), values));
                }
                other.get_or_insert_with(|| r.clone());
            }
        }
        other.map(Found::WrongMethod)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Checks and compiles `cfg`; every problem is reported, each naming its key (relative to
    /// `[gateway]`).
    pub fn build(
        cfg: &RouteTableConfig,
        metrics: &Metrics,
        spans: &Spans,
    ) -> Result<Table, Vec<String>> {
        let mut errors = Vec::new();
        let mut origins: BTreeMap<&str, Arc<Origin>> = BTreeMap::new();
        for (name, u) in &cfg.upstreams {
            match origin(name, u, metrics, spans) {
                Ok(o) => {
                    origins.insert(name, Arc::new(o));
                }
                Err(e) => errors.extend(e),
            }
        }
        if cfg.routes.len() > MAX_ROUTES {
            errors.push(format!("routes: at most {MAX_ROUTES} routes"));
        }
        let mut routes: Vec<Arc<Route>> = Vec::new();
        let mut names = HashSet::new();
        for (i, rc) in cfg.routes.iter().enumerate() {
            let at = |field: &str, m: String| format!("routes[{i}].{field}: {m}");
            if !names.insert(rc.name.as_str()) {
                errors.push(at("name", format!("{:?} is declared twice", rc.name)));
            }
            match route(rc, &origins, cfg.upstreams.contains_key(&rc.upstream)) {
                Ok(r) => {
                    if let Some(j) = routes
                        .iter()
                        .position(|o| o.method == r.method && o.pattern.same_shape(&r.pattern))
                    {
                        errors.push(at("path", format!("same method and path as routes[{j}]")));
                    }
                    routes.push(Arc::new(r));
                }
                Err(e) => errors.extend(e.into_iter().map(|(f, m)| at(f, m))),
            }
        }
        if errors.is_empty() {
            Ok(Table { routes })
        } else {
            Err(errors)
        }
    }
}

/// Built-in metric labels a declared name may not take.
const BUILT_IN_ROUTES: &[&str] = &[
    "labels",
    "tracking",
    "tracking_v2",
    "pickup",
    "eligibility",
    "tracking_link",
    "sesame_api",
    "parcel_search",
    "invoices",
    "invoice_zip",
];
const BUILT_IN_UPSTREAMS: &[&str] = &[
    "labels",
    "tracking",
    "tracking_v2",
    "pickup",
    "eligibility",
    "tracking_tool",
    "invoices",
    "none",
];

fn label_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn origin(
    name: &str,
    u: &UpstreamConfig,
    metrics: &Metrics,
    spans: &Spans,
) -> Result<Origin, Vec<String>> {
    let mut errors = Vec::new();
    let at = |field: &str, m: &str| format!("upstreams.{name}.{field}: {m}");
    if !label_ok(name) || BUILT_IN_UPSTREAMS.contains(&name) {
        errors.push(format!(
            "upstreams.{name}: the name must be 1 to 64 of a-z, 0-9, _ and not a built-in service's ({})",
            BUILT_IN_UPSTREAMS.join(", ")
        ));
    }
    if !(u.url.starts_with("http://") || u.url.starts_with("https://")) {
        errors.push(at("url", "must start with http:// or https://"));
    }
    for (field, v) in [
        ("connect_timeout_ms", u.connect_timeout_ms),
        ("request_timeout_ms", u.request_timeout_ms),
    ] {
        if v == 0 {
            errors.push(at(field, "must be positive"));
        }
    }
    let header = |field: &str, h: &str| {
        HeaderName::from_bytes(h.as_bytes()).map_err(|_| at(field, "not a header name"))
    };
    let auth = match &u.credentials {
        UpstreamAuth::Basic => Some(Auth::Basic),
        UpstreamAuth::Header { login, password } => {
            let login = login
                .as_deref()
                .map(|l| header("credentials.login", l))
                .transpose();
            match (login, header("credentials.password", password)) {
                (Ok(login), Ok(password)) => Some(Auth::Header { login, password }),
                (l, p) => {
                    errors.extend(l.err());
                    errors.extend(p.err());
                    None
                }
            }
        }
        UpstreamAuth::Body { login, password } => {
            if login.is_empty() || password.is_empty() || login == password {
                errors.push(at(
                    "credentials",
                    "login and password need two different field names",
                ));
                None
            } else {
                Some(Auth::Body {
                    login: login.clone(),
                    password: password.clone(),
                })
            }
        }
    };
    let roots = match &u.ca_file {
        Some(path) => match sesame_serve::load_ca_file(path) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(at("ca_file", &e));
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let client = Upstream::new(
        &u.url,
        Duration::from_millis(u.connect_timeout_ms),
        roots,
        &[],
        metrics.clone(),
        spans.clone(),
    )
    .map_err(|e| vec![at("url", &e.to_string())])?;
    Ok(Origin {
        name: intern(name),
        client,
        timeout: Duration::from_millis(u.request_timeout_ms),
        auth: auth.ok_or_else(|| vec![at("credentials", "invalid")])?,
    })
}

type Problems = Vec<(&'static str, String)>;

fn route(
    rc: &RouteConfig,
    origins: &BTreeMap<&str, Arc<Origin>>,
    declared: bool,
) -> Result<Route, Problems> {
    let mut errors: Problems = Vec::new();
    if !label_ok(&rc.name) || BUILT_IN_ROUTES.contains(&rc.name.as_str()) {
        errors.push((
            "name",
            "must be 1 to 64 of a-z, 0-9, _ and not a built-in route's label".into(),
        ));
    }
    let method = match rc.method.to_ascii_uppercase().as_str() {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        "PUT" => Some(Method::PUT),
        "PATCH" => Some(Method::PATCH),
        "DELETE" => Some(Method::DELETE),
        _ => {
            errors.push(("method", "must be GET, POST, PUT, PATCH or DELETE".into()));
            None
        }
    };
    let pattern = match Pattern::parse(&rc.path) {
        Ok(p) => {
            if let Some(m) = &method {
                if services::route(m, &p.sample()) != Service::NotFound {
                    errors.push(("path", "taken by a built-in service".into()));
                }
            }
            Some(p)
        }
        Err(e) => {
            errors.push(("path", e));
            None
        }
    };
    let pattern = pattern.unwrap_or_else(Pattern::empty);
    let sub_pattern = |field: &'static str, s: &str, errors: &mut Problems| match Pattern::parse(s)
    {
        Ok(p) => {
            for n in p.names() {
                if !pattern.names().contains(n) {
                    errors.push((field, format!("{{{n}}} is not a parameter of path")));
                }
            }
            Some(p)
        }
        Err(e) => {
            errors.push((field, e));
            None
        }
    };
    let upstream_path = sub_pattern(
        "upstream_path",
        rc.upstream_path.as_deref().unwrap_or(&rc.path),
        &mut errors,
    );
    let upstream = origins.get(rc.upstream.as_str()).cloned();
    if upstream.is_none() && !declared {
        errors.push((
            "upstream",
            format!("no [gateway.upstreams.{}] declared", rc.upstream),
        ));
    }
    let right = if let Some(r) = Right::from_id(&rc.right) {
        Some(Needed::Plain(r))
    } else if let Some(s) = ScopedRight::ALL.into_iter().find(|s| s.id() == rc.right) {
        Some(Needed::Scoped(s))
    } else {
        errors.push(("right", format!("unknown right {:?}", rc.right)));
        None
    };
    let mut keys = Vec::new();
    for k in &rc.key {
        match Source::parse(k, &pattern, false) {
            Ok(s) => keys.push(s),
            Err(e) => errors.push(("key", e)),
        }
    }
    if rc.key.is_empty() && !rc.sessions && !rc.legacy {
        errors.push((
            "key",
            "the route accepts no credentials: set key, sessions or legacy".into(),
        ));
    }
    let account = match rc
        .account
        .as_deref()
        .map(|a| Source::parse(a, &pattern, true))
    {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            errors.push(("account", e));
            None
        }
        None => None,
    };
    let scope = match (&rc.scope, right) {
        (None, _) => None,
        (Some(sc), r) => {
            let scoped = match r {
                Some(Needed::Scoped(s)) => Some(s),
                _ => {
                    errors.push((
                        "scope",
                        "needs a scoped right in right (tracking_tool, tracking_tool_cs, invoices)"
                            .into(),
                    ));
                    None
                }
            };
            let mode = match (&sc.items, sc.item, &sc.lookup) {
                (Some(p), false, None) if p.is_empty() || p.starts_with('/') => {
                    Some(ScopeMode::Items(p.clone()))
                }
                (Some(_), false, None) => {
                    errors.push(("scope.items", "must be a JSON pointer (/documents)".into()));
                    None
                }
                (None, true, None) => Some(ScopeMode::Item),
                (None, false, Some(l)) => {
                    sub_pattern("scope.lookup", l, &mut errors).map(ScopeMode::Lookup)
                }
                _ => {
                    errors.push(("scope", "set exactly one of items, item, lookup".into()));
                    None
                }
            };
            if sc.owner.is_empty() || sc.department.is_empty() {
                errors.push((
                    "scope",
                    "owner and department name the items' fields".into(),
                ));
            }
            match (scoped, mode) {
                (Some(right), Some(mode)) => Some(ScopeRule {
                    right,
                    mode,
                    owner: sc.owner.clone(),
                    owner_is: sc.owner_is,
                    department: sc.department.clone(),
                }),
                _ => None,
            }
        }
    };
    let error = match &rc.error {
        None => None,
        Some(e) => {
            let status = match e.status.map(http::StatusCode::from_u16) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => {
                    errors.push(("error.status", "must be an HTTP status (100 to 599)".into()));
                    None
                }
            };
            match serde_json::from_str::<Value>(&e.body) {
                Ok(body) => Some(ErrorTemplate { status, body }),
                Err(x) => {
                    errors.push(("error.body", format!("not JSON: {x}")));
                    None
                }
            }
        }
    };
    let account_field = intern(
        &account
            .as_ref()
            .map_or_else(|| "account".to_owned(), |a| a.field(&pattern)),
    );
    match (method, upstream, upstream_path, right) {
        (Some(method), Some(upstream), Some(upstream_path), Some(right)) if errors.is_empty() => {
            Ok(Route {
                name: intern(&rc.name),
                method,
                pattern,
                upstream,
                upstream_path,
                right,
                keys,
                sessions: rc.sessions,
                legacy: rc.legacy,
                account,
                account_field,
                scope,
                error,
            })
        }
        _ => {
            if errors.is_empty() {
                // The upstream is declared but did not build: its own errors say why.
                errors.push(("upstream", format!("upstreams.{} is invalid", rc.upstream)));
            }
            Err(errors)
        }
    }
}

/// Names that become metric labels and `&'static` fields of refusals: leaked once per distinct
/// name, so reloading the same table any number of times allocates nothing new.
pub(crate) fn intern(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = set.get(s) {
        return n;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}
