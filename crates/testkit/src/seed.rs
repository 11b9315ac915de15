//! Accounts and users created straight in the store (as the operator and the account admin),
//! for tests and benches that exercise the gateway rather than the admin API.

use sesame_domain::model::Actor;
use sesame_domain::{AccountNumber, Login, RightSet, Tag};
use sesame_store::{NewAccount, NewAdvancedUser, Store};

/// The administrator password of every fixture account.
pub const ADMIN_PASSWORD: &str = "AdminPass123";
/// The password every fixture user chooses when accepting its invitation.
pub const USER_PASSWORD: &str = "UserPass123";

/// Upstream password of a fixture account (the simulator is told the same).
pub fn upstream_password(number: &str) -> String {
    format!("up-{number}-Secret")
}

/// A complete profile (the store refuses incomplete ones); the e-mail is `<name>@example.fr`.
pub use sesame_store::testing::profile;

/// Creates an account (as the operator) entitled to `entitlements`; returns its id.
pub async fn account(
    store: &Store,
    number: &str,
    entitlements: RightSet,
    departments: &[&str],
) -> i64 {
    store
        .create_account(
            Actor::Operator,
            NewAccount {
                number: AccountNumber::parse(number).expect("number"),
                company: format!("Société {number}"),
                contract_type: "PRIVILEGE".into(),
                entitlements,
                admin_password: ADMIN_PASSWORD.into(),
                upstream_login: number.into(),
                upstream_password: upstream_password(number),
                departments: departments.iter().map(|d| (*d).to_owned()).collect(),
                contact: None,
            },
        )
        .await
        .expect("create account")
        .id
}

/// An advanced user who accepted its invitation.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub id: i64,
    /// Its connection key (the caller's API key).
    pub key: String,
    pub user_key: String,
}

/// An advanced user of `account_id` with `rights`, invited then confirmed with `login`.
pub async fn advanced_user(
    store: &Store,
    account_id: i64,
    login: &str,
    tag: Option<&str>,
    department_id: Option<i64>,
    rights: RightSet,
) -> Seeded {
    let (user, _inv, token) = store
        .create_advanced_user(
            Actor::AccountAdmin { account_id },
            account_id,
            NewAdvancedUser {
                profile: profile(login),
                tag: tag.map(|t| Tag::parse(t).expect("tag")),
                rights,
                department_id,
            },
        )
        .await
        .expect("create user");
    let act = store
        .accept_invitation(
            &token,
            &Login::parse(login).expect("login"),
            USER_PASSWORD,
            None,
        )
        .await
        .expect("accept");
    Seeded {
        id: user.id,
        key: act.connection_key.expose().to_owned(),
        user_key: user.user_key.expect("user key").as_str().to_owned(),
    }
}

/// Links the user `user_key` to `account_id` with `rights` (as that account's admin).
pub async fn associate(store: &Store, account_id: i64, user_key: &str, rights: RightSet) {
    associate_tagged(store, account_id, user_key, rights, None).await;
}

/// Links the advanced user holding `user_key` to `account_id`, which gives it `tag` (tags are
/// per link).
pub async fn associate_tagged(
    store: &Store,
    account_id: i64,
    user_key: &str,
    rights: RightSet,
    tag: Option<&str>,
) {
    let uk = sesame_domain::UserKey::parse(user_key).expect("user key");
    let tag = tag.map(|t| Tag::parse(t).expect("tag"));
    store
        .associate(
            Actor::AccountAdmin { account_id },
            account_id,
            &uk,
            rights,
            tag,
        )
        .await
        .expect("associate");
}

/// A standard user (a collaborator, seed 004) of `account_id` with `rights`, signing in with
/// `login` and [`USER_PASSWORD`]; returns its id.
pub async fn standard_user(
    store: &Store,
    account_id: i64,
    login: &str,
    department_id: Option<i64>,
    rights: RightSet,
) -> i64 {
    store
        .create_standard_user(
            Actor::AccountAdmin { account_id },
            account_id,
            sesame_store::NewStandardUser {
                profile: profile(login),
                login: Login::parse(login).expect("login"),
                password: USER_PASSWORD.into(),
                rights,
                department_id,
            },
        )
        .await
        .expect("create standard user")
        .id
}
