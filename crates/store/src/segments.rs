//! Contact segments (seed 004 §4, "Segmentation libre: permet d'intégrer le collaborateur à un
//! segment de contact"): the operator defines segments, adds and removes contacts, filters the
//! contacts list by segment ([`crate::UserFilter::segment_id`]) and exports a segment.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, User};
use sesame_domain::FieldError;
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::rows::{user_from_row, USER_COLS};
use crate::write::{NewAudit, NewChange};

/// A segment and how many contacts it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub members: i64,
    pub created_at: i64,
}

/// At most this many segments: each is a row the operator's back office lists whole.
pub const MAX_SEGMENTS: i64 = 1000;

fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(FieldError::new("name", "name: 1 to 80 characters").into());
    }
    Ok(name)
}

fn segment_from_row(row: &sqlx::any::AnyRow) -> Result<Segment> {
    Ok(Segment {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        members: row.try_get("members")?,
        created_at: row.try_get("created_at")?,
    })
}

const SEGMENT_COLS: &str = "s.id, s.name, s.created_at, \
     (SELECT COUNT(*) FROM segment_members m WHERE m.segment_id = s.id) AS members";

impl Store {
    /// Every segment, by name.
    pub async fn segments(&self) -> Result<Vec<Segment>> {
        let rows = sqlx::query(&format!(
            "SELECT {SEGMENT_COLS} FROM segments s ORDER BY LOWER(s.name), s.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(segment_from_row).collect()
    }

    pub async fn segment(&self, id: i64) -> Result<Segment> {
        let sql = format!("SELECT {SEGMENT_COLS} FROM segments s WHERE s.id = $1");
        segment_from_row(
            &self
                .row_or_not_found(sqlx::query(&sql).bind(id), "segment")
                .await?,
        )
    }

    /// Creates a segment (names are unique: 409 naming `name`).
    pub async fn create_segment(&self, actor: Actor, name: &str) -> Result<Segment> {
        let name = check_name(name)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM segments")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if count >= MAX_SEGMENTS {
            return Err(FieldError::new("name", "name: too many segments (at most 1000)").into());
        }
        let mut w = self.write(actor).await?;
        let row =
            sqlx::query("INSERT INTO segments (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now_millis())
                .fetch_one(&mut *w.tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict { .. } => StoreError::Conflict { field: "name" },
                    other => other,
                })?;
        let id: i64 = row.try_get("id")?;
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, None, None),
            NewAudit::new("segment.create", None, None).after(json!({"segment": id, "name": name})),
        )
        .await?;
        self.segment(id).await
    }

    /// Deletes a segment (its memberships with it; the contacts stay).
    pub async fn delete_segment(&self, actor: Actor, id: i64) -> Result<()> {
        let before = self.segment(id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("DELETE FROM segments WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, None, None),
            NewAudit::new("segment.delete", None, None)
                .before(json!({"segment": id, "name": before.name, "members": before.members})),
        )
        .await
    }

    /// Adds a contact to a segment, or (`member` false) removes it; doing what is already so
    /// changes nothing and writes nothing.
    pub async fn set_segment_member(
        &self,
        actor: Actor,
        segment_id: i64,
        user_id: i64,
        member: bool,
    ) -> Result<()> {
        let segment = self.segment(segment_id).await?;
        let user = self.user(user_id).await?;
        let present = sqlx::query(
            "SELECT 1 AS x FROM segment_members WHERE segment_id = $1 AND user_id = $2",
        )
        .bind(segment_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some();
        if present == member {
            return Ok(());
        }
        let mut w = self.write(actor).await?;
        if member {
            sqlx::query(
                "INSERT INTO segment_members (segment_id, user_id, added_at) VALUES ($1, $2, $3)",
            )
            .bind(segment_id)
            .bind(user_id)
            .bind(now_millis())
            .execute(&mut *w.tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM segment_members WHERE segment_id = $1 AND user_id = $2")
                .bind(segment_id)
                .bind(user_id)
                .execute(&mut *w.tx)
                .await?;
        }
        let action = if member {
            "segment.add"
        } else {
            "segment.remove"
        };
        w.finish(
            NewChange::new(
                ChangeKind::ControlPlane,
                user.home_account_id,
                Some(user.id),
            ),
            NewAudit::new(action, user.home_account_id, Some(user.id))
                .after(json!({"segment": segment.id, "name": segment.name})),
        )
        .await
    }

    /// The ids of the segments contact `user_id` belongs to (its "Segmentation libre" page).
    pub async fn segments_of_user(&self, user_id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT segment_id FROM segment_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("segment_id")?)).collect()
    }

    /// The contacts of a segment, by name (for its export), at most `limit`.
    pub async fn segment_members(&self, segment_id: i64, limit: i64) -> Result<Vec<User>> {
        self.segment(segment_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u JOIN segment_members m ON m.user_id = u.id \
             WHERE m.segment_id = $1 ORDER BY LOWER(u.last_name), LOWER(u.first_name), u.id LIMIT $2"
        ))
        .bind(segment_id)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }
}
