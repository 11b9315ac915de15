//! Account data shared between principals: a million cached principals over a few thousand
//! accounts hold a few thousand copies of the upstream credentials, not a million.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use http::HeaderValue;
use sesame_domain::model::UserStatus;
use sesame_store::PrincipalRecord;

use super::principal::{AccountInfo, Link, Principal};

/// Account id → its interned data; bounded by the number of accounts.
#[derive(Default)]
pub(crate) struct Accounts {
    by_id: Mutex<HashMap<i64, Arc<AccountInfo>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Accounts {
    /// Turns a store record into a cached principal, sharing account data with other
    /// principals when it is unchanged (a changed account gets a fresh shared entry).
    pub fn build(&self, r: PrincipalRecord) -> Principal {
        let mut accounts = lock(&self.by_id);
        let links = r
            .links
            .into_iter()
            .map(|l| {
                let same = accounts.get(&l.account_id).filter(|a| {
                    a.upstream_login == l.upstream.login
                        && a.upstream_password == l.upstream.password
                        && a.company == l.company
                });
                let account = match same {
                    Some(a) => a.clone(),
                    None => {
                        let basic = base64::engine::general_purpose::STANDARD
                            .encode(format!("{}:{}", l.upstream.login, l.upstream.password));
                        let a = Arc::new(AccountInfo {
                            company: l.company,
                            basic_auth: HeaderValue::from_str(&format!("Basic {basic}")).ok(),
                            upstream_login: l.upstream.login,
                            upstream_password: l.upstream.password,
                        });
                        accounts.insert(l.account_id, a.clone());
                        a
                    }
                };
                Link {
                    account_id: l.account_id,
                    number: l.number,
                    rights: l.rights,
                    tag: l.tag,
                    account,
                }
            })
            .collect();
        Principal {
            user_id: r.user_id,
            active: r.status == UserStatus::Active,
            user_key: r.user_key,
            department: r.department,
            key_expires_at: r.key_expires_at,
            links,
        }
    }
}
