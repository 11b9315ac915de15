//! Start-up errors: what stops `Gateway::new` (configuration values, files that do not load,
//! metrics registration). Never a client's answer, so never a `GatewayError`.

/// Why the gateway cannot start; the message names the setting (`gateway.…`).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad values or files, each naming its key; several are joined with `; `.
    #[error("configuration: {0}")]
    Config(String),
    #[error("metrics: {0}")]
    Metrics(String),
}
