//! Account data shared between principals: a million cached principals over a few thousand
//! accounts hold a few thousand copies of the upstream credentials, not a million.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use sesame_domain::model::UserStatus;
use sesame_store::PrincipalRecord;

use super::principal::{AccountInfo, Link, Principal, Shared};

/// Account id → its interned data; bounded by the number of accounts. Tags and departments, by
/// text; bounded by the distinct values cached (unused ones are dropped as the set grows).
#[derive(Default)]
pub(crate) struct Accounts {
    by_id: Mutex<HashMap<i64, Arc<AccountInfo>>>,
    texts: Mutex<Texts>,
}

#[derive(Default)]
struct Texts {
    set: HashSet<Shared>,
    /// Size after the last sweep: the next one waits until the set doubles.
    swept: usize,
}

impl Texts {
    fn get(&mut self, s: &str) -> Shared {
        if let Some(t) = self.set.get(s) {
            return t.clone();
        }
        if self.set.len() >= 1_024.max(self.swept.saturating_mul(2)) {
            // Only this set holds them: no cached principal carries them any more.
            self.set.retain(|t| Arc::strong_count(&t.0) > 1);
            self.swept = self.set.len();
        }
        let t = Shared(Arc::from(s));
        self.set.insert(t.clone());
        t
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Accounts {
    /// Turns a store record into a cached principal, sharing account data with other
    /// principals when it is unchanged (a changed account gets a fresh shared entry).
    pub fn build(&self, r: PrincipalRecord) -> Principal {
        let mut texts = lock(&self.texts);
        let department = r.department.as_deref().map(|d| texts.get(d));
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
                        let a = Arc::new(AccountInfo::new(
                            l.company,
                            l.upstream.login,
                            l.upstream.password,
                        ));
                        accounts.insert(l.account_id, a.clone());
                        a
                    }
                };
                Link {
                    account_id: l.account_id,
                    number: l.number,
                    rights: l.rights,
                    tag: l.tag.as_ref().map(|t| texts.get(t.as_str())),
                    account,
                }
            })
            .collect();
        Principal {
            user_id: r.user_id,
            active: r.status == UserStatus::Active,
            user_key: r.user_key,
            department,
            key_expires_at: r.key_expires_at,
            links,
        }
    }
}
