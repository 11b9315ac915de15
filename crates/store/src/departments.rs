//! Departments of an account: listing, adding, and checking that one belongs to an account.

use serde_json::json;
use sesame_domain::model::{ChangeKind, Department};
use sesame_domain::FieldError;
use sqlx::Row;

use crate::db::Store;
use crate::error::Result;
use crate::write::{NewAudit, NewChange};

pub(crate) fn check_department_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 80 {
        return Err(FieldError::new("departments", "each must be 1 to 80 characters").into());
    }
    Ok(())
}

impl Store {
    pub async fn departments(&self, account_id: i64) -> Result<Vec<Department>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name FROM departments WHERE account_id = $1 ORDER BY name",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Department {
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    pub async fn add_department(
        &self,
        actor: sesame_domain::Actor,
        account_id: i64,
        name: &str,
    ) -> Result<Department> {
        check_department_name(name)?;
        let mut w = self.write(actor).await?;
        let row =
            sqlx::query("INSERT INTO departments (account_id, name) VALUES ($1, $2) RETURNING id")
                .bind(account_id)
                .bind(name.trim())
                .fetch_one(&mut *w.tx)
                .await?;
        let id: i64 = row.try_get("id")?;
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("department.create", Some(account_id), None)
                .after(json!({"name": name.trim()})),
        )
        .await?;
        Ok(Department {
            id,
            account_id,
            name: name.trim().to_owned(),
        })
    }

    pub(crate) async fn check_department(
        &self,
        account_id: i64,
        department_id: Option<i64>,
    ) -> Result<()> {
        if let Some(d) = department_id {
            let found = sqlx::query("SELECT id FROM departments WHERE id = $1 AND account_id = $2")
                .bind(d)
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
                return Err(
                    FieldError::new("departmentId", "is not a department of this account").into(),
                );
            }
        }
        Ok(())
    }
}
