//! The audit log: reading it with filters, and the audit-only writes (a note about a user with
//! nothing else changed: a message sent, a refused change).

use serde_json::json;
use sesame_domain::model::{Actor, AuditEntry, ChangeKind, Millis};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::Result;
use crate::write::{NewAudit, NewChange};

/// Filters of the audit log (SPEC §5): by user, by actor, by date; newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// The account's own entries and those about the users linked to it (since the link).
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    pub actor_kind: Option<String>,
    pub actor_user_id: Option<i64>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// An action (`user.status`) or a family of actions ending with a dot (`user.`).
    pub action: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

impl Store {
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        // Every condition is always present and disabled by a NULL parameter, so the SQL is
        // static and the same on both backends. An account's log also holds what happened to
        // the users linked to it, whoever did it, from the moment of the link on: a shared
        // identity's accounts all see what another account (or the user) did to it, and a newly
        // linking account does not read the others' past.
        let rows = sqlx::query(
            "SELECT id, at, actor_kind, actor_account_id, actor_user_id, account_id, user_id, action, \
             before_json, after_json, comment FROM audit_log WHERE \
             ($1 IS NULL OR account_id = $1 OR EXISTS (SELECT 1 FROM links l WHERE \
             l.account_id = $1 AND l.user_id = audit_log.user_id AND l.created_at <= audit_log.at)) \
             AND ($2 IS NULL OR user_id = $2) AND \
             ($3 IS NULL OR actor_kind = $3) AND ($4 IS NULL OR actor_user_id = $4) AND \
             ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at <= $6) AND \
             ($9 IS NULL OR action = $9 OR (SUBSTR($9, LENGTH($9), 1) = '.' AND SUBSTR(action, 1, LENGTH($9)) = $9)) \
             ORDER BY id DESC LIMIT $7 OFFSET $8",
        )
        .bind(f.account_id)
        .bind(f.user_id)
        .bind(f.actor_kind.clone())
        .bind(f.actor_user_id)
        .bind(f.from)
        .bind(f.to)
        .bind(f.limit.unwrap_or(100).clamp(1, 1000))
        .bind(f.offset.unwrap_or(0).max(0))
        .bind(f.action.clone())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}

impl Store {
    /// Records that the back office wrote an e-mail to a user (seed 004 §4 "Ecrire un e-mail").
    /// The audit line keeps the subject, not the body.
    pub async fn record_user_message(
        &self,
        actor: Actor,
        account_id: Option<i64>,
        user_id: i64,
        subject: &str,
    ) -> Result<()> {
        self.record_note(
            actor,
            "user.message",
            account_id,
            user_id,
            json!({"subject": subject}),
        )
        .await
    }

    /// An audit entry about a user with nothing else written (a message sent, a refusal): a
    /// control-plane change, so no cached principal is evicted for it.
    pub(crate) async fn record_note(
        &self,
        actor: Actor,
        action: &str,
        account_id: Option<i64>,
        user_id: i64,
        after: serde_json::Value,
    ) -> Result<()> {
        let w = self.write(actor).await?;
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, account_id, Some(user_id)),
            NewAudit::new(action, account_id, Some(user_id)).after(after),
        )
        .await
    }
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry> {
    let kind: String = row.try_get("actor_kind")?;
    let acc: Option<i64> = row.try_get("actor_account_id")?;
    let usr: Option<i64> = row.try_get("actor_user_id")?;
    let actor = match (kind.as_str(), acc, usr) {
        ("operator", ..) => Actor::Operator,
        ("account_admin", Some(account_id), _) => Actor::AccountAdmin { account_id },
        ("user", _, Some(user_id)) => Actor::User { user_id },
        ("impersonating", Some(account_id), Some(user_id)) => Actor::Impersonating {
            account_id,
            user_id,
        },
        ("operator_impersonating", Some(account_id), Some(user_id)) => {
            Actor::OperatorImpersonating {
                account_id,
                user_id,
            }
        }
        _ => Actor::System,
    };
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor,
        account_id: row.try_get("account_id")?,
        user_id: row.try_get("user_id")?,
        action: row.try_get("action")?,
        before: row.try_get("before_json")?,
        after: row.try_get("after_json")?,
        comment: row.try_get("comment")?,
    })
}
