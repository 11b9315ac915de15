//! The `[admin]` settings: listener-independent values, the SMTP relay, the sign-in throttle and
//! the connection limits. Plain data, checked by [`AdminConfig::problems`].

use serde::Deserialize;

/// SMTP relay settings. Without them, mails stay in the outbox (`GET /admin/v1/outbox`).
/// `Debug` redacts the password.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    /// STARTTLS (rustls) on the submission port; `false` only for a local relay.
    #[serde(default = "default_true")]
    pub starttls: bool,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("starttls", &self.starttls)
            .finish()
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_true() -> bool {
    true
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Base URL used in e-mail links.
    pub public_url: String,
    /// Lifetime of an account admin or user session.
    pub session_ttl_secs: u64,
    /// Lifetime of a back-office impersonation session (short).
    pub impersonation_ttl_secs: u64,
    pub smtp: Option<SmtpConfig>,
    /// Language of e-mails when a request does not say (`fr` or `en`).
    pub default_lang: String,
    /// Largest accepted CSV upload.
    pub max_import_bytes: usize,
    /// Most lines accepted in one CSV upload.
    pub max_import_lines: i64,
    /// The sign-in throttle (`[admin.throttle]`, see `sesame-throttle`).
    pub throttle: sesame_throttle::ThrottleConfig,
    /// Open connections on the admin listener and their clocks (first byte, head, body, idle).
    pub connections: sesame_serve::ConnLimits,
    /// The gateway's public listener, which the portal (`/console/suivi`, …) calls with the
    /// visitor's session for parcels, invoices and labels: one rule path, the gateway's.
    pub gateway_url: String,
    /// A PEM file of extra authorities for an https `gateway_url` (a private CA).
    pub gateway_ca_file: Option<std::path::PathBuf>,
}

impl AdminConfig {
    /// Every problem with the values, each naming its key (relative to `[admin]`).
    pub fn problems(&self) -> Vec<String> {
        let mut errors: Vec<String> = Vec::new();
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            errors.push("public_url: must start with http:// or https://".into());
        }
        if self.session_ttl_secs == 0 {
            errors.push("session_ttl_secs: must be positive".into());
        }
        if self.impersonation_ttl_secs == 0 || self.impersonation_ttl_secs > 4 * 3600 {
            errors.push("impersonation_ttl_secs: must be 1 to 14400 (a short session)".into());
        }
        if self.default_lang != "fr" && self.default_lang != "en" {
            errors.push("default_lang: must be \"fr\" or \"en\"".into());
        }
        if self.max_import_bytes < 1024 {
            errors.push("max_import_bytes: must be at least 1024".into());
        }
        if self.max_import_lines < 1 {
            errors.push("max_import_lines: must be positive".into());
        }
        match self.gateway_url.parse::<http::Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some()
                    && u.query().is_none() => {}
            _ => errors.push(
                "gateway_url: must be an http:// or https:// URL without a query, such as \"http://127.0.0.1:8080\"".into(),
            ),
        }
        if let Some(f) = &self.gateway_ca_file {
            if let Err(e) = sesame_serve::load_ca_file(f) {
                errors.push(format!("gateway_ca_file: {e}"));
            }
        }
        errors.extend(self.throttle.problems("throttle"));
        errors.extend(self.connections.problems());
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                errors.push("smtp.host: must not be empty".into());
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                errors.push(
                    "smtp.from: must be a mailbox such as \"Sesame <noreply@example.com>\"".into(),
                );
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                errors.push("smtp.username: username and password go together".into());
            }
        }
        errors
    }

    /// Checks the values; the error names every bad key.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.problems();
        if p.is_empty() {
            Ok(())
        } else {
            Err(p.join("; "))
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8081".into(),
            session_ttl_secs: 8 * 3600,
            impersonation_ttl_secs: 15 * 60,
            smtp: None,
            default_lang: "fr".into(),
            max_import_bytes: 16 * 1024 * 1024,
            max_import_lines: 50_000,
            throttle: sesame_throttle::ThrottleConfig::default(),
            connections: sesame_serve::ConnLimits::default(),
            gateway_url: "http://127.0.0.1:8080".into(),
            gateway_ca_file: None,
        }
    }
}
