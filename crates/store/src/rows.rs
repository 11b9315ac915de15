//! How rows read: the column lists and decoders of users, accounts, links and invitations, the
//! audit snapshots of a user, and the one "row or not found" fetch. Every resource module reads
//! through these; none of them writes.

use serde_json::json;
use sesame_domain::model::{
    Account, AccountStatus, Invitation, Link, User, UserKind, UserStatus, ValidationStatus,
};
use sesame_domain::{
    AccountNumber, Civility, Email, FieldError, Login, Profile, RightSet, Tag, UserKey,
};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::db::Store;
use crate::error::{corrupt, Result, StoreError};

/// A link as the API shows it. The main contact's link is stored with every right so that it
/// follows the account's entitlements; it is shown as those entitlements, never as the catalogue.
pub(crate) const LINK_COLS: &str = "l.user_id, l.account_id, \
     CASE WHEN u.main_contact <> 0 THEN a.entitlements ELSE l.rights END AS rights, l.tag, l.created_at \
     FROM links l JOIN users u ON u.id = l.user_id JOIN accounts a ON a.id = l.account_id";

pub(crate) const USER_COLS: &str = "u.id, u.kind, u.civility, u.last_name, u.first_name, u.function, u.phone, \
     u.email, u.fax, u.address, u.postal_code, u.city, u.country, u.login, u.department_id, u.status, u.validation, \
     u.user_key, u.home_account_id, u.main_contact, u.created_at, u.updated_at";

/// An optional text column parsed by `parse`; a value that does not parse is a corrupt row of
/// `table`.
pub(crate) fn parse_opt<T>(
    row: &AnyRow,
    column: &str,
    table: &'static str,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Option<T>> {
    let value: Option<String> = row.try_get(column)?;
    value
        .as_deref()
        .map(parse)
        .transpose()
        .map_err(|e| corrupt(table, e))
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    let c = |e: FieldError| corrupt("users", e);
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let validation: String = row.try_get("validation")?;
    Ok(User {
        id: row.try_get("id")?,
        kind: UserKind::parse(&kind).map_err(c)?,
        profile: Profile {
            civility: parse_opt(row, "civility", "users", Civility::parse)?,
            last_name: row.try_get("last_name")?,
            first_name: row.try_get("first_name")?,
            function: row.try_get("function")?,
            phone: row.try_get("phone")?,
            email: parse_opt(row, "email", "users", Email::parse)?,
            fax: row.try_get("fax")?,
            address: row.try_get("address")?,
            postal_code: row.try_get("postal_code")?,
            city: row.try_get("city")?,
            country: row.try_get("country")?,
        },
        login: parse_opt(row, "login", "users", Login::parse)?,
        department_id: row.try_get("department_id")?,
        status: UserStatus::parse(&status).map_err(c)?,
        validation: ValidationStatus::parse(&validation).map_err(c)?,
        user_key: parse_opt(row, "user_key", "users", UserKey::parse)?,
        home_account_id: row.try_get("home_account_id")?,
        main_contact: row.try_get::<i64, _>("main_contact")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// What the audit log records of a user: identity and status, never a secret.
pub(crate) fn user_snapshot(u: &User) -> serde_json::Value {
    json!({
        "kind": u.kind.as_str(), "profile": u.profile, "login": u.login,
        "departmentId": u.department_id, "status": u.status.as_str(), "userKey": u.user_key,
    })
}

/// A case-insensitive `LIKE … ESCAPE '\\'` pattern matching `q` anywhere (the search boxes of the
/// users table, the accounts list and the audit log): the wildcards a user types are literal.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub(crate) const ACCOUNT_COLS: &str =
    "id, number, company, contract_type, entitlements, status, upstream_login, sub_accounts, \
     collaborator_validation, created_at, updated_at";

pub(crate) fn account_from_row(row: &AnyRow) -> Result<Account> {
    let number: String = row.try_get("number")?;
    let ent: String = row.try_get("entitlements")?;
    let status: String = row.try_get("status")?;
    Ok(Account {
        id: row.try_get("id")?,
        number: AccountNumber::parse(&number).map_err(|e| corrupt("accounts", e))?,
        company: row.try_get("company")?,
        contract_type: row.try_get("contract_type")?,
        entitlements: RightSet::from_db(&ent).map_err(|e| corrupt("accounts", e))?,
        status: AccountStatus::parse(&status).map_err(|e| corrupt("accounts", e))?,
        upstream_login: row.try_get("upstream_login")?,
        sub_accounts: row.try_get::<i64, _>("sub_accounts")? != 0,
        collaborator_validation: row.try_get::<i64, _>("collaborator_validation")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) fn invitation_from_row(row: &AnyRow) -> Result<Invitation> {
    let rights: String = row.try_get("rights")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        account_id: row
            .try_get::<Option<i64>, _>("account_id")?
            .unwrap_or_default(),
        rights: RightSet::from_db(&rights).map_err(|e| corrupt("invitations", e))?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn link_from_row(row: &AnyRow) -> Result<Link> {
    let rights: String = row.try_get("rights")?;
    Ok(Link {
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        rights: RightSet::from_db(&rights).map_err(|e| corrupt("links", e))?,
        tag: parse_opt(row, "tag", "links", Tag::parse)?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// The one row a query designates, or `NotFound(what)`.
    pub(crate) async fn row_or_not_found<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
        what: &'static str,
    ) -> Result<AnyRow> {
        query
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(what))
    }
}
