use sesame_domain::rights::DelegationError;
use sesame_domain::FieldError;

/// Everything the store can refuse. Callers map these to answers; none of them carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is taken; names the field.
    #[error("{field} is already in use")]
    Conflict { field: &'static str },
    /// A value failed to parse or a field rule failed; names the field.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The delegation rule refused a right; names the right.
    #[error(transparent)]
    Delegation(#[from] DelegationError),
    /// A business rule refused the change (e.g. linking a standard user to another account).
    #[error("{0}")]
    Rule(String),
    /// The caller may not make this change whatever the values (e.g. an account editing an
    /// identity its user owns): 403 with the code and the field.
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    /// The database cannot be reached: callers answer 503, nothing was written.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A stored secret could not be decrypted (wrong master key).
    #[error("a stored secret cannot be decrypted with the configured master key")]
    Secret,
    /// A stored row does not parse: the database was edited by hand or by a newer version.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Too many password checks are under way (each holds ~19 MiB): nothing was checked or
    /// written; callers answer 503 with `Retry-After`.
    #[error("too many password checks under way; retry shortly")]
    Busy,
    /// A write transaction tried to commit without its change-log and audit entries.
    #[error("internal: write transaction without {0}")]
    Unrecorded(&'static str),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The password-check bound refused the call ([`crate::PasswordLimits`]).
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound("row"),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    StoreError::Conflict {
                        field: unique_field(db.message(), db.constraint()),
                    }
                } else if is_connection_loss(db.code().as_deref()) {
                    StoreError::Unavailable(e)
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

/// PostgreSQL class 08 (connection exception) and 57P (operator intervention: shutdown).
fn is_connection_loss(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
}

/// Names the field of a unique violation from SQLite's message ("UNIQUE constraint failed:
/// users.login") or PostgreSQL's constraint name ("users_login_key").
fn unique_field(message: &str, constraint: Option<&str>) -> &'static str {
    let hay = constraint.unwrap_or(message);
    const FIELDS: [(&str, &str); 7] = [
        ("accounts_number", "accountNumber"),
        ("accounts.number", "accountNumber"),
        ("users_login", "login"),
        ("users.login", "login"),
        ("users_user_key", "userKey"),
        ("users.user_key", "userKey"),
        ("departments", "department"),
    ];
    FIELDS
        .iter()
        .find(|(k, _)| hay.contains(k))
        .map(|(_, f)| *f)
        .unwrap_or("value")
}

pub(crate) fn corrupt(table: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: e.to_string(),
    }
}
