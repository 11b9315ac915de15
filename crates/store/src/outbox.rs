use serde::Serialize;
use sesame_domain::model::{now_millis, Millis};
use sqlx::Row;

use crate::{Result, Store};

/// An e-mail waiting in (or sent from) the outbox. Without SMTP configured, the outbox is where
/// the demo and tests read what would have been sent.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMail {
    pub id: i64,
    pub at: Millis,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub lang: String,
    pub sent_at: Option<Millis>,
    pub error: Option<String>,
}

impl Store {
    pub async fn enqueue_mail(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        lang: &str,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO outbox (at, to_addr, subject, body, lang) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(now_millis())
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(lang)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// The newest mails first; `to` filters by recipient.
    pub async fn outbox(&self, to: Option<&str>, limit: i64) -> Result<Vec<OutboxMail>> {
        let rows = sqlx::query(
            "SELECT id, at, to_addr, subject, body, lang, sent_at, error FROM outbox \
             WHERE ($1 IS NULL OR to_addr = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(to.map(str::to_owned))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMail {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    to: r.try_get("to_addr")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    lang: r.try_get("lang")?,
                    sent_at: r.try_get("sent_at")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    /// Mails not yet handed to SMTP, oldest first.
    pub async fn unsent_mail(&self, limit: i64) -> Result<Vec<OutboxMail>> {
        let mut all = self.outbox(None, 1000).await?;
        all.retain(|m| m.sent_at.is_none());
        all.reverse();
        all.truncate(limit.max(0) as usize);
        Ok(all)
    }

    pub async fn mark_mail(&self, id: i64, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE outbox SET sent_at = $1, error = $2 WHERE id = $3")
            .bind(error.is_none().then(now_millis))
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
