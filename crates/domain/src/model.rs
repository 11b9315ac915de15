//! The entities of SPEC §2, as the rest of Sesame sees them once loaded.

use serde::{Deserialize, Serialize};

use crate::{AccountNumber, Email, FieldError, Login, RightSet, Tag, UserKey};

/// Milliseconds since the Unix epoch. Both databases store times as integers, so comparisons and
/// expiry checks are the same everywhere.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Result<Self, FieldError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(FieldError::new(stringify!($name), format!("unknown value '{s}'"))),
                }
            }
        }
    };
}

text_enum!(
    /// Standard users belong to one account; advanced users are linked to many.
    UserKind { Standard => "standard", Advanced => "advanced" }
);
text_enum!(
    /// Invited users have not completed their confirmation form yet.
    UserStatus { Invited => "invited", Active => "active", Disabled => "disabled" }
);
text_enum!(AccountStatus { Active => "active", Disabled => "disabled" });
text_enum!(
    /// A collaborator's validation status (seed 004 §4): accepted by default when created in the
    /// back office, pending when created from the extranet on an account whose module requires
    /// validation, then accepted or refused by the operator. Only an accepted one signs in.
    ValidationStatus { Accepted => "accepted", Pending => "pending", Refused => "refused" }
);
text_enum!(Civility { Madame => "madame", Monsieur => "monsieur" });

/// A client account. Its upstream password is never part of this struct: it is decrypted only
/// into [`UpstreamCredentials`] when the gateway needs it.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: i64,
    pub number: AccountNumber,
    pub company: String,
    pub contract_type: String,
    /// The rights the account itself holds: the ceiling of every delegation and link.
    pub entitlements: RightSet,
    pub status: AccountStatus,
    /// The upstream contract number (the login the carrier knows the account by).
    pub upstream_login: String,
    /// Seed 004 §2, "Gestion des sous-comptes clients" switched on for this account: off, its
    /// admin manages no collaborators.
    pub sub_accounts: bool,
    /// Collaborators its admin creates wait for the operator's validation (seed 004 §4).
    pub collaborator_validation: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The account's own credentials at the carrier, decrypted. `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCredentials {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredentials")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A department ("service") of an account: the `group` of seed 004's document visibility.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Department {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
}

/// The identity fields of the seeds' forms.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub civility: Option<Civility>,
    pub last_name: String,
    pub first_name: String,
    pub function: String,
    pub phone: String,
    pub email: Option<Email>,
    pub fax: Option<String>,
    pub address: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

impl Profile {
    /// Field limits shared by the API and the CSV import; the error names the field.
    pub fn check(&self) -> Result<(), FieldError> {
        let fields: [(&'static str, &str, usize); 8] = [
            ("lastName", &self.last_name, 80),
            ("firstName", &self.first_name, 80),
            ("function", &self.function, 80),
            ("phone", &self.phone, 30),
            ("address", &self.address, 200),
            ("postalCode", &self.postal_code, 16),
            ("city", &self.city, 80),
            ("country", &self.country, 60),
        ];
        for (name, value, max) in fields {
            if value.chars().count() > max {
                return Err(FieldError::new(
                    name,
                    format!("must be at most {max} characters"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(FieldError::new(name, "must not contain control characters"));
            }
        }
        if let Some(fax) = &self.fax {
            if fax.chars().count() > 30 {
                return Err(FieldError::new("fax", "must be at most 30 characters"));
            }
        }
        Ok(())
    }

    /// The mandatory fields of the seeds' forms (everything marked `*`).
    pub fn check_complete(&self) -> Result<(), FieldError> {
        self.check()?;
        let required: [(&'static str, &str); 7] = [
            ("lastName", &self.last_name),
            ("firstName", &self.first_name),
            ("function", &self.function),
            ("phone", &self.phone),
            ("address", &self.address),
            ("postalCode", &self.postal_code),
            ("city", &self.city),
        ];
        for (name, value) in required {
            if value.trim().is_empty() {
                return Err(FieldError::new(name, "is required"));
            }
        }
        if self.email.is_none() {
            return Err(FieldError::new("email", "is required"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub kind: UserKind,
    pub profile: Profile,
    pub login: Option<Login>,
    pub department_id: Option<i64>,
    pub status: UserStatus,
    /// A collaborator's validation status (seed 004 §4); `Accepted` for everyone else.
    pub validation: ValidationStatus,
    /// Advanced users only.
    pub user_key: Option<UserKey>,
    /// Standard users: the one account they belong to.
    pub home_account_id: Option<i64>,
    /// The main contact created with its account (seed 004): same rights as the account.
    pub main_contact: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Advanced user ↔ account, with the rights granted on that account. A standard user has one
/// implicit link to its home account.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub user_id: i64,
    pub account_id: i64,
    pub rights: RightSet,
    /// The "tag utilisateur" this account gives the user (seed 000 §5.1, §6): per link, since
    /// each linked account's admin sets its own and its parcels are matched against it.
    pub tag: Option<Tag>,
    pub created_at: Millis,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: i64,
    pub user_id: i64,
    pub account_id: i64,
    /// The rights the link gets when the invitation is accepted.
    pub rights: RightSet,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    pub created_at: Millis,
}

/// Invitations expire 48 hours after they are sent (seed 000 §5.1).
pub const INVITATION_TTL_MILLIS: Millis = 48 * 3600 * 1000;
/// Import results are kept 7 days (seed 000 §5.2).
pub const IMPORT_RESULT_TTL_MILLIS: Millis = 7 * 24 * 3600 * 1000;

text_enum!(ImportStatus { Queued => "queued", Running => "running", Done => "done", Failed => "failed" });

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportJob {
    pub id: i64,
    pub account_id: i64,
    pub status: ImportStatus,
    pub file_name: String,
    pub total_lines: i64,
    pub processed_lines: i64,
    pub ok_lines: i64,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub expires_at: Millis,
}

/// Who made a change. Every audit entry has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The operator running Sesame (operator token).
    Operator,
    /// An account admin, signed in with the account number.
    AccountAdmin { account_id: i64 },
    /// A user acting on its own profile.
    User { user_id: i64 },
    /// A back-office admin acting as a user for a short, audited session.
    Impersonating { account_id: i64, user_id: i64 },
    /// The operator acting as a user of `account_id` (back office): named apart from an account
    /// admin's impersonation so the log says who really acted.
    OperatorImpersonating { account_id: i64, user_id: i64 },
    /// Sesame itself (background jobs, migrations, the demo).
    System,
}

impl Actor {
    /// The account and the user the actor names, as the audit log stores them.
    pub fn ids(&self) -> (Option<i64>, Option<i64>) {
        match *self {
            Actor::AccountAdmin { account_id } => (Some(account_id), None),
            Actor::User { user_id } => (None, Some(user_id)),
            Actor::Impersonating {
                account_id,
                user_id,
            }
            | Actor::OperatorImpersonating {
                account_id,
                user_id,
            } => (Some(account_id), Some(user_id)),
            Actor::Operator | Actor::System => (None, None),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Operator => "operator",
            Actor::AccountAdmin { .. } => "account_admin",
            Actor::User { .. } => "user",
            Actor::Impersonating { .. } => "impersonating",
            Actor::OperatorImpersonating { .. } => "operator_impersonating",
            Actor::System => "system",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    pub actor: Actor,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    pub action: String,
    /// JSON snapshots; never contain a secret.
    pub before: Option<String>,
    pub after: Option<String>,
    pub comment: Option<String>,
}

text_enum!(
    /// What a change-log entry invalidates in the gateways' caches.
    ChangeKind {
        User => "user",
        Account => "account",
        Link => "link",
        Key => "key",
        // Sessions, queued imports, back-office messages: audited and versioned like every
        // write, but no cached principal depends on them, so gateways evict nothing.
        ControlPlane => "control_plane",
    }
);

/// One entry of the change log: a monotonic version written in the same transaction as the
/// change it describes (SPEC §7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub version: i64,
    pub at: Millis,
    pub kind: ChangeKind,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    /// For key changes: the hash that stopped working, so caches can evict it directly.
    #[serde(skip)]
    pub key_hash: Option<crate::KeyHash>,
}
