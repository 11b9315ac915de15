//! Accounts: creating one (with its departments and main contact), reading them, the account
//! admin's sign-in, entitlements, status and the account's own credentials at the carrier.

use serde_json::json;
use sesame_domain::model::{
    now_millis, Account, AccountStatus, ChangeKind, UpstreamCredentials, ValidationStatus,
};
use sesame_domain::{AccountNumber, FieldError, Profile, RightSet, UserKind, UserStatus};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::departments::check_department_name;
use crate::error::{Result, StoreError};
use crate::records::{insert_link, insert_user_row, UserRow};
use crate::rows::{account_from_row, like_pattern, ACCOUNT_COLS};
use crate::write::{NewAudit, NewChange};

/// What the operator gives to create an account.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub number: AccountNumber,
    pub company: String,
    pub contract_type: String,
    pub entitlements: RightSet,
    /// The account admin's password (the account number is the login).
    pub admin_password: String,
    /// The account's own credentials at the carrier.
    pub upstream_login: String,
    pub upstream_password: String,
    pub departments: Vec<String>,
    /// The main contact (seed 004): created with the account, same rights as the account.
    pub contact: Option<Profile>,
}

/// Filters of the operator's accounts list (the back office): a search in the account number
/// and the company name, the status, and the page.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    /// Case-insensitive, anywhere in the number or the company name.
    pub q: Option<String>,
    pub status: Option<AccountStatus>,
    pub offset: i64,
    pub limit: i64,
}

/// A row of the accounts list: the account and how many users it has (its standard users, the
/// main contact included, and the advanced users linked to it).
#[derive(Clone, Debug)]
pub struct AccountSummary {
    pub account: Account,
    pub users: i64,
}

/// The account's credentials at the carrier, as an account is created or its credentials are
/// replaced.
fn check_upstream(login: &str, password: &str) -> Result<()> {
    if login.trim().is_empty() || login.len() > 64 {
        return Err(FieldError::new("upstreamLogin", "must be 1 to 64 characters").into());
    }
    if password.is_empty() || password.len() > 128 {
        return Err(FieldError::new("upstreamPassword", "must be 1 to 128 characters").into());
    }
    Ok(())
}

impl NewAccount {
    fn check(&self) -> Result<()> {
        let name = self.company.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(FieldError::new("company", "must be 1 to 120 characters").into());
        }
        if self.contract_type.trim().is_empty() || self.contract_type.len() > 40 {
            return Err(FieldError::new("contractType", "must be 1 to 40 characters").into());
        }
        sesame_domain::secrets::check_password_policy(&self.admin_password)
            .map_err(|e| FieldError::new("adminPassword", e.reason))?;
        check_upstream(&self.upstream_login, &self.upstream_password)?;
        for d in &self.departments {
            check_department_name(d)?;
        }
        if let Some(c) = &self.contact {
            c.check()?;
        }
        Ok(())
    }
}

fn snapshot(a: &Account) -> serde_json::Value {
    json!({
        "number": a.number, "company": a.company, "contractType": a.contract_type,
        "entitlements": a.entitlements, "status": a.status.as_str(), "upstreamLogin": a.upstream_login,
    })
}

impl Store {
    /// Creates an account, its departments and its main contact, in one transaction.
    pub async fn create_account(
        &self,
        actor: sesame_domain::Actor,
        new: NewAccount,
    ) -> Result<Account> {
        new.check()?;
        let admin_hash = self.passwords.hash(&new.admin_password).await?;
        let secret = self.cipher().encrypt(new.upstream_password.as_bytes());
        let now = now_millis();
        let mut w = self.write(actor).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO accounts (number, company, contract_type, entitlements, status, upstream_login, \
             upstream_secret, admin_password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $8) RETURNING {ACCOUNT_COLS}"
        ))
        .bind(new.number.as_str())
        .bind(new.company.trim())
        .bind(new.contract_type.trim())
        .bind(new.entitlements.to_db())
        .bind(new.upstream_login.trim())
        .bind(secret)
        .bind(admin_hash)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        let account = account_from_row(&row)?;
        for d in &new.departments {
            sqlx::query("INSERT INTO departments (account_id, name) VALUES ($1, $2)")
                .bind(account.id)
                .bind(d.trim())
                .execute(&mut *w.tx)
                .await?;
        }
        let contact = new.contact.clone().unwrap_or_else(|| Profile {
            last_name: "ADMIN".into(),
            first_name: account.number.to_string(),
            ..Profile::default()
        });
        let contact_id = insert_user_row(
            &mut w,
            UserRow {
                kind: UserKind::Standard,
                profile: &contact,
                login: None,
                password_hash: None,
                department_id: None,
                status: UserStatus::Active,
                validation: ValidationStatus::Accepted,
                user_key: None,
                home_account_id: Some(account.id),
                main_contact: true,
            },
        )
        .await?;
        // The main contact holds everything; effective rights cut that down to the account's
        // entitlements, so it always has "the same rights as the account".
        insert_link(&mut w, contact_id, account.id, RightSet::everything(), None).await?;
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account.id), None),
            NewAudit::new("account.create", Some(account.id), None).after(snapshot(&account)),
        )
        .await?;
        Ok(account)
    }

    pub async fn account(&self, id: i64) -> Result<Account> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1");
        account_from_row(
            &self
                .row_or_not_found(sqlx::query(&sql).bind(id), "account")
                .await?,
        )
    }

    pub async fn account_by_number(&self, number: &AccountNumber) -> Result<Account> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE number = $1");
        let query = sqlx::query(&sql).bind(number.as_str());
        account_from_row(&self.row_or_not_found(query, "account").await?)
    }

    pub async fn list_accounts(&self, offset: i64, limit: i64) -> Result<Vec<Account>> {
        let f = AccountFilter {
            offset,
            limit,
            ..AccountFilter::default()
        };
        let (items, _) = self.search_accounts(&f).await?;
        Ok(items.into_iter().map(|s| s.account).collect())
    }

    /// The accounts list of the back office, by number: the page the filter selects and the
    /// number of accounts it matches.
    pub async fn search_accounts(&self, f: &AccountFilter) -> Result<(Vec<AccountSummary>, i64)> {
        let q =
            f.q.as_deref()
                .filter(|q| !q.trim().is_empty())
                .map(like_pattern);
        let status = f.status.map(|s| s.as_str().to_owned());
        // Static SQL, each condition switched off by a NULL parameter (the same on both backends).
        const WHERE: &str = "FROM accounts WHERE ($1 IS NULL OR number LIKE $1 ESCAPE '\\' \
             OR LOWER(company) LIKE $1 ESCAPE '\\') AND ($2 IS NULL OR status = $2)";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {WHERE}"))
            .bind(q.clone())
            .bind(status.clone())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLS}, (SELECT COUNT(*) FROM links l WHERE l.account_id = accounts.id) \
             AS users {WHERE} ORDER BY number LIMIT $3 OFFSET $4"
        ))
        .bind(q)
        .bind(status)
        .bind(f.limit.clamp(1, 1000))
        .bind(f.offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(AccountSummary {
                    account: account_from_row(r)?,
                    users: r.try_get("users")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((items, total))
    }

    /// Account admin sign-in: the account number and its password. `None` for any mismatch, so
    /// callers cannot tell an unknown account from a wrong password.
    pub async fn verify_account_admin(
        &self,
        number: &AccountNumber,
        password: &str,
    ) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLS}, admin_password_hash FROM accounts WHERE number = $1"
        ))
        .bind(number.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Spend the same time as a real check so timing does not reveal which accounts exist.
            self.passwords.verify(password, None).await?;
            return Ok(None);
        };
        let hash: Option<String> = row.try_get("admin_password_hash")?;
        let account = account_from_row(&row)?;
        let ok = self.passwords.verify(password, hash.as_deref()).await?;
        Ok(ok.then_some(account))
    }

    /// The account's credentials at the carrier, decrypted.
    pub async fn upstream_credentials(&self, account_id: i64) -> Result<UpstreamCredentials> {
        let row = self
            .row_or_not_found(
                sqlx::query("SELECT upstream_login, upstream_secret FROM accounts WHERE id = $1")
                    .bind(account_id),
                "account",
            )
            .await?;
        self.decrypt_upstream(&row)
    }

    pub(crate) fn decrypt_upstream(&self, row: &AnyRow) -> Result<UpstreamCredentials> {
        let login: String = row.try_get("upstream_login")?;
        let secret: Vec<u8> = row.try_get("upstream_secret")?;
        let plain = self
            .cipher()
            .decrypt(&secret)
            .map_err(|_| StoreError::Secret)?;
        let password = String::from_utf8(plain).map_err(|_| StoreError::Secret)?;
        Ok(UpstreamCredentials { login, password })
    }

    /// Replaces the account's entitlements. Withdrawing one withdraws it from every link at once
    /// (effective rights are computed against the current entitlements).
    pub async fn set_entitlements(
        &self,
        actor: sesame_domain::Actor,
        account_id: i64,
        ent: RightSet,
    ) -> Result<Account> {
        let before = self.account(account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE accounts SET entitlements = $1, updated_at = $2 WHERE id = $3")
            .bind(ent.to_db())
            .bind(now_millis())
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        let after = Account {
            entitlements: ent,
            ..before.clone()
        };
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("account.entitlements", Some(account_id), None)
                .before(snapshot(&before))
                .after(snapshot(&after)),
        )
        .await?;
        self.account(account_id).await
    }

    pub async fn set_account_status(
        &self,
        actor: sesame_domain::Actor,
        account_id: i64,
        status: AccountStatus,
        comment: Option<&str>,
    ) -> Result<Account> {
        let before = self.account(account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE accounts SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now_millis())
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        let after = Account {
            status,
            ..before.clone()
        };
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("account.status", Some(account_id), None)
                .before(snapshot(&before))
                .after(snapshot(&after))
                .comment(comment),
        )
        .await?;
        Ok(after)
    }

    pub async fn set_upstream_credentials(
        &self,
        actor: sesame_domain::Actor,
        account_id: i64,
        login: &str,
        password: &str,
    ) -> Result<()> {
        check_upstream(login, password)?;
        self.account(account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE accounts SET upstream_login = $1, upstream_secret = $2, updated_at = $3 WHERE id = $4")
            .bind(login.trim())
            .bind(self.cipher().encrypt(password.as_bytes()))
            .bind(now_millis())
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        // The audit line records that the credentials changed, never what they are.
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("account.upstream_credentials", Some(account_id), None)
                .after(json!({"upstreamLogin": login})),
        )
        .await
    }
}
