use sesame_domain::rights::DelegationError;
use sesame_domain::FieldError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
    /// A business rule refused the change (e.g. linking a user twice to one account).
    #[error(transparent)]
    Rule(#[from] RuleViolation),
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
    /// The migrations could not run (not a database error of a statement: a missing or
    /// modified migration, a newer schema).
    #[error("migration failed: {0}")]
    Migration(String),
    /// Hashing a new password failed (argon2 refused its parameters, or the blocking task died).
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A write transaction tried to commit without its change-log and audit entries.
    #[error("internal: write transaction without {0}")]
    Unrecorded(&'static str),
}

/// Which single-use link a rule speaks of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Invitation,
    PasswordReset,
}

/// The business rules a write can break, one variant per rule. `Display` is the message the
/// admin API shows; callers choose their answer by variant, never by the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// A link between this user and this account already exists.
    #[error("the user is already linked to this account")]
    AlreadyLinked,
    /// The invitation or reset link was used already (single use).
    #[error("this {} link has already been used", .0.name())]
    LinkUsed(LinkKind),
    /// The invitation or reset link is past its expiry.
    #[error("{}", expired_message(*.0))]
    LinkExpired(LinkKind),
    /// The invitation's link to the account was removed since it was sent.
    #[error("this invitation link has already been used or was withdrawn")]
    InvitationWithdrawn,
    /// The user has not accepted its invitation (no login, no key yet).
    #[error("the user has not completed the invitation yet")]
    InvitationPending,
    /// Resending an invitation to a user that has accepted one.
    #[error("the user has already completed the invitation")]
    InvitationCompleted,
    /// A reset link for a user that has no login (still invited).
    #[error("the user has no login yet: resend the invitation instead")]
    NoLoginYet,
    /// Only advanced users hold a connection key.
    #[error("only advanced users hold a connection key")]
    KeyNeedsAdvancedUser,
    /// The main contact's rights follow the account's entitlements.
    #[error("the main contact always has the account's rights")]
    MainContactRights,
    /// The main contact is never deleted.
    #[error("the main contact cannot be deleted")]
    MainContactDeletion,
    /// An advanced user is unlinked from an account, never deleted by it.
    #[error("an advanced user is unlinked, not deleted")]
    AdvancedUserDeletion,
    /// A standard user belongs to its account: deleted, never unlinked.
    #[error("a standard user belongs to its account; delete it instead")]
    StandardUserUnlink,
    /// One import at a time per account.
    #[error("an import is already in progress for this account")]
    ImportInProgress,
    /// One e-mail, one advanced identity (SPEC §2): another advanced user holds this e-mail.
    #[error("email: an advanced user already holds this e-mail; associate that user with its user key instead")]
    EmailTaken,
    /// A user keeps at most [`crate::MAX_PINS`] pinned parcels.
    #[error("at most {} pinned parcels per user: unpin one first", crate::MAX_PINS)]
    TooManyPins,
}

impl LinkKind {
    fn name(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invitation",
            LinkKind::PasswordReset => "password reset",
        }
    }
}

fn expired_message(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Invitation => {
            "this invitation link has expired (valid 48 hours); ask for a new one"
        }
        LinkKind::PasswordReset => "this password reset link has expired; ask for a new one",
    }
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

#[cfg(test)]
mod tests {
    use super::{LinkKind, RuleViolation as R};

    /// The admin API shows these messages as they are: each rule keeps its wording.
    #[test]
    fn each_rule_says_what_it_said_as_a_string() {
        let cases = [
            (
                R::AlreadyLinked,
                "the user is already linked to this account",
            ),
            (
                R::LinkUsed(LinkKind::Invitation),
                "this invitation link has already been used",
            ),
            (
                R::LinkUsed(LinkKind::PasswordReset),
                "this password reset link has already been used",
            ),
            (
                R::LinkExpired(LinkKind::Invitation),
                "this invitation link has expired (valid 48 hours); ask for a new one",
            ),
            (
                R::LinkExpired(LinkKind::PasswordReset),
                "this password reset link has expired; ask for a new one",
            ),
            (
                R::InvitationWithdrawn,
                "this invitation link has already been used or was withdrawn",
            ),
            (
                R::InvitationPending,
                "the user has not completed the invitation yet",
            ),
            (
                R::InvitationCompleted,
                "the user has already completed the invitation",
            ),
            (
                R::NoLoginYet,
                "the user has no login yet: resend the invitation instead",
            ),
            (
                R::KeyNeedsAdvancedUser,
                "only advanced users hold a connection key",
            ),
            (
                R::MainContactRights,
                "the main contact always has the account's rights",
            ),
            (R::MainContactDeletion, "the main contact cannot be deleted"),
            (
                R::AdvancedUserDeletion,
                "an advanced user is unlinked, not deleted",
            ),
            (
                R::StandardUserUnlink,
                "a standard user belongs to its account; delete it instead",
            ),
            (
                R::ImportInProgress,
                "an import is already in progress for this account",
            ),
            (
                R::EmailTaken,
                "email: an advanced user already holds this e-mail; associate that user with its user key instead",
            ),
            (
                R::TooManyPins,
                "at most 500 pinned parcels per user: unpin one first",
            ),
        ];
        for (rule, message) in cases {
            assert_eq!(rule.to_string(), message);
            assert_eq!(super::StoreError::Rule(rule).to_string(), message);
        }
    }
}
