//! CSV import jobs (seed 000 §5.2): one job per account at a time; the result file is kept 7 days
//! and replaced by the next import.
//!
//! Starting an import is an audited write. Progress counters and the result file are bookkeeping
//! of the job itself (no user data changes through them: each imported line is its own audited
//! write through `create_advanced_user`), so they are updated directly.

use serde_json::json;
use sesame_domain::model::{
    now_millis, Actor, ChangeKind, ImportJob, ImportStatus, IMPORT_RESULT_TTL_MILLIS,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::{corrupt, Result, RuleViolation, StoreError};
use crate::write::{NewAudit, NewChange};

const JOB_COLS: &str =
    "id, account_id, status, file_name, total_lines, processed_lines, ok_lines, created_at, finished_at, expires_at";

fn job_from_row(row: &AnyRow) -> Result<ImportJob> {
    let status: String = row.try_get("status")?;
    Ok(ImportJob {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        status: ImportStatus::parse(&status).map_err(|e| corrupt("import_jobs", e))?,
        file_name: row.try_get("file_name")?,
        total_lines: row.try_get("total_lines")?,
        processed_lines: row.try_get("processed_lines")?,
        ok_lines: row.try_get("ok_lines")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Queues an import for an account, replacing the previous one (and its result file).
    /// Returns the new job and the job it replaced, if any, so callers can warn when the replaced
    /// result was still available.
    pub async fn start_import(
        &self,
        actor: Actor,
        account_id: i64,
        file_name: &str,
        total_lines: i64,
        input: &[u8],
    ) -> Result<(ImportJob, Option<ImportJob>)> {
        self.account(account_id).await?;
        let previous = self.current_import(account_id).await?;
        if previous
            .as_ref()
            // A job that has not finished within an hour died with its node: it no longer blocks.
            .is_some_and(|p| {
                matches!(p.status, ImportStatus::Queued | ImportStatus::Running)
                    && p.created_at > now_millis() - 3600 * 1000
            })
        {
            return Err(StoreError::Rule(RuleViolation::ImportInProgress));
        }
        let now = now_millis();
        let mut w = self.write(actor).await?;
        sqlx::query("DELETE FROM import_jobs WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        let row = sqlx::query(&format!(
            "INSERT INTO import_jobs (account_id, status, file_name, total_lines, processed_lines, ok_lines, result, \
             created_at, finished_at, expires_at, input) VALUES ($1, 'queued', $2, $3, 0, 0, NULL, $4, NULL, $5, $6) \
             RETURNING {JOB_COLS}"
        ))
        .bind(account_id)
        .bind(file_name)
        .bind(total_lines)
        .bind(now)
        .bind(now + IMPORT_RESULT_TTL_MILLIS)
        .bind(input.to_vec())
        .fetch_one(&mut *w.tx)
        .await?;
        let job = job_from_row(&row)?;
        // Queuing an import changes no principal; each imported line is its own write.
        w.finish(NewChange::new(ChangeKind::ControlPlane, Some(account_id), None), NewAudit::new("import.start", Some(account_id), None).after(json!({"job": job.id, "fileName": file_name, "lines": total_lines, "replaced": previous.as_ref().map(|p| p.id)}))).await?;
        Ok((job, previous))
    }

    /// Claims the oldest queued import (atomically: two workers never take the same job) and
    /// returns it with its input.
    pub async fn claim_next_import(&self) -> Result<Option<(ImportJob, Vec<u8>)>> {
        loop {
            let row = sqlx::query(
                "SELECT id FROM import_jobs WHERE status = 'queued' ORDER BY id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let id: i64 = row.try_get("id")?;
            let claimed = sqlx::query(
                "UPDATE import_jobs SET status = 'running' WHERE id = $1 AND status = 'queued'",
            )
            .bind(id)
            .execute(&self.pool)
            .await?;
            if claimed.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query(&format!(
                "SELECT {JOB_COLS}, input FROM import_jobs WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            // Replaced by a newer import between the two statements: look again.
            let Some(row) = row else { continue };
            let input: Option<Vec<u8>> = row.try_get("input")?;
            return Ok(Some((job_from_row(&row)?, input.unwrap_or_default())));
        }
    }

    pub async fn import_progress(&self, job_id: i64, processed: i64, ok: i64) -> Result<()> {
        sqlx::query("UPDATE import_jobs SET processed_lines = $1, ok_lines = $2 WHERE id = $3")
            .bind(processed)
            .bind(ok)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores the result file, drops the input, and starts the 7-day availability.
    pub async fn finish_import(
        &self,
        job_id: i64,
        status: ImportStatus,
        processed: i64,
        ok: i64,
        result: &[u8],
    ) -> Result<()> {
        let now = now_millis();
        sqlx::query(
            "UPDATE import_jobs SET status = $1, processed_lines = $2, ok_lines = $3, result = $4, input = NULL, \
             finished_at = $5, expires_at = $6 WHERE id = $7",
        )
        .bind(status.as_str())
        .bind(processed)
        .bind(ok)
        .bind(result.to_vec())
        .bind(now)
        .bind(now + IMPORT_RESULT_TTL_MILLIS)
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's current import (the last one, while its result is available).
    pub async fn current_import(&self, account_id: i64) -> Result<Option<ImportJob>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM import_jobs WHERE account_id = $1 AND (expires_at > $2 OR status IN ('queued', 'running')) \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The result file of the account's last finished import, while it is available.
    pub async fn import_result(&self, account_id: i64) -> Result<Option<(ImportJob, Vec<u8>)>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLS}, result FROM import_jobs WHERE account_id = $1 AND expires_at > $2 AND result IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let result: Option<Vec<u8>> = r.try_get("result")?;
                Ok(Some((job_from_row(&r)?, result.unwrap_or_default())))
            }
        }
    }
}
