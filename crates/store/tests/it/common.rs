//! The one set-up every store test shares: an account, users at each stage, the audit log.

pub use sesame_domain::model::{now_millis, Account, Actor, AuditEntry, User};
pub use sesame_domain::{AccountNumber, ConnectionKey, Email, Login, Profile, RightSet, Tag};
pub use sesame_store::both_backends as both;
pub use sesame_store::testing::profile;
pub use sesame_store::{
    AuditFilter, LinkKind, NewAccount, NewAdvancedUser, NewStandardUser, RuleViolation, Store,
    StoreError,
};
pub use sqlx::Row;

pub fn rights(ids: &[&str]) -> RightSet {
    RightSet::parse_ids(ids.iter().copied()).unwrap()
}

/// Entitled to everything the tests grant, not to `ws_pickup_point` nor `collection` (the
/// delegation tests ask for those).
pub fn new_account(number: &str) -> NewAccount {
    NewAccount {
        number: AccountNumber::parse(number).unwrap(),
        company: format!("Company {number}"),
        contract_type: "PRIVILEGE".into(),
        entitlements: rights(sesame_store::testing::ENTITLEMENTS),
        admin_password: "AdminPass123".into(),
        upstream_login: number.into(),
        upstream_password: format!("upstream-secret-{number}"),
        departments: vec!["Logistique".into()],
        contact: None,
    }
}

/// A new account, created by the operator.
pub async fn account(store: &Store, number: &str) -> Account {
    store
        .create_account(Actor::Operator, new_account(number))
        .await
        .unwrap()
}

/// The account's admin.
pub fn admin(account_id: i64) -> Actor {
    Actor::AccountAdmin { account_id }
}

pub fn new_standard(name: &str, login: &str, password: &str, ids: &[&str]) -> NewStandardUser {
    NewStandardUser {
        profile: profile(name),
        login: Login::parse(login).unwrap(),
        password: password.into(),
        rights: rights(ids),
        department_id: None,
    }
}

/// A standard user of the account (password `StdPass123`, right `dashboard`); its id.
pub async fn standard(store: &Store, account_id: i64, name: &str, login: &str) -> i64 {
    store
        .create_standard_user(
            admin(account_id),
            account_id,
            new_standard(name, login, "StdPass123", &["dashboard"]),
        )
        .await
        .unwrap()
        .id
}

pub fn new_advanced(name: &str, ids: &[&str]) -> NewAdvancedUser {
    NewAdvancedUser {
        profile: profile(name),
        tag: None,
        rights: rights(ids),
        department_id: None,
    }
}

/// An advanced user invited by the account's admin: the user and the invitation token.
pub async fn invited(store: &Store, account_id: i64, name: &str, ids: &[&str]) -> (User, String) {
    let (user, _invitation, token) = store
        .create_advanced_user(admin(account_id), account_id, new_advanced(name, ids))
        .await
        .unwrap();
    (user, token)
}

/// An account (created unless it exists) and an active advanced user linked to it, tagged
/// `NORD`; returns (account id, user id, connection key).
pub async fn active_advanced(
    store: &Store,
    number: &str,
    login: &str,
    ids: &[&str],
) -> (i64, i64, ConnectionKey) {
    let acc = match store
        .account_by_number(&AccountNumber::parse(number).unwrap())
        .await
    {
        Ok(a) => a,
        Err(_) => account(store, number).await,
    };
    let mut new = new_advanced(login, ids);
    new.tag = Some(Tag::parse("NORD").unwrap());
    let (user, _inv, token) = store
        .create_advanced_user(admin(acc.id), acc.id, new)
        .await
        .unwrap();
    assert_eq!(user.status, sesame_domain::model::UserStatus::Invited);
    let act = store
        .accept_invitation(&token, &Login::parse(login).unwrap(), "UserPass123", None)
        .await
        .unwrap();
    (acc.id, user.id, act.connection_key)
}

/// Rows in a table, read under the interface.
pub async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(store.raw_pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// The audit log as the filter selects it.
pub async fn audit(store: &Store, filter: AuditFilter) -> Vec<AuditEntry> {
    store.audit_log(&filter).await.unwrap()
}

/// The audit log about one user.
pub async fn audit_of_user(store: &Store, user_id: i64) -> Vec<AuditEntry> {
    let filter = AuditFilter {
        user_id: Some(user_id),
        ..Default::default()
    };
    audit(store, filter).await
}

/// Whether the entries hold `action` with `comment`.
pub fn has_entry(log: &[AuditEntry], action: &str, comment: Option<&str>) -> bool {
    log.iter()
        .any(|e| e.action == action && e.comment.as_deref() == comment)
}

/// The rule a result broke, if it broke one.
pub fn rule<T: std::fmt::Debug>(r: Result<T, StoreError>) -> RuleViolation {
    match r {
        Err(StoreError::Rule(v)) => v,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}
