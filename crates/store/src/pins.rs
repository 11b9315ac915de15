//! "Colis épinglés" (issue 14, seed 000 §9): the parcels a user pinned in the tracking tool,
//! kept per user (a new session finds them again), at most [`MAX_PINS`] each. Whether the user
//! may still see a pinned parcel is the gateway's business (scopes change); the store only
//! keeps the list. Pins go with the user (`ON DELETE CASCADE`) and with an erased identity.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Millis};
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, RuleViolation};
use crate::write::{NewAudit, NewChange};

/// At most this many pins per user: the list is answered whole, and each pin may cost the
/// gateway a lookup, so what one user can make it keep and spend is bounded.
pub const MAX_PINS: i64 = 500;

/// One pinned parcel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub parcel_number: String,
    /// The account the parcel was found on when it was pinned.
    pub account_number: String,
    pub created_at: Millis,
}

fn pin_from_row(row: &sqlx::any::AnyRow) -> Result<Pin> {
    Ok(Pin {
        parcel_number: row.try_get("parcel_number")?,
        account_number: row.try_get("account_number")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// The user's pin of `parcel_number`, if any.
    pub async fn pin_of(&self, user_id: i64, parcel_number: &str) -> Result<Option<Pin>> {
        let row = sqlx::query(
            "SELECT parcel_number, account_number, created_at FROM pins \
             WHERE user_id = $1 AND parcel_number = $2",
        )
        .bind(user_id)
        .bind(parcel_number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pin_from_row).transpose()
    }

    /// Every pin of the user, newest first (then by parcel number, so the order is stable).
    pub async fn pins_of(&self, user_id: i64) -> Result<Vec<Pin>> {
        let rows = sqlx::query(
            "SELECT parcel_number, account_number, created_at FROM pins WHERE user_id = $1 \
             ORDER BY created_at DESC, parcel_number LIMIT $2",
        )
        .bind(user_id)
        .bind(MAX_PINS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pin_from_row).collect()
    }

    /// Pins `parcel_number` (found on `account_number`) for the user. Pinning a pinned parcel
    /// writes nothing and answers the existing pin; a new pin past [`MAX_PINS`] is refused
    /// ([`RuleViolation::TooManyPins`]). The caller has checked that the user may see it.
    pub async fn pin(
        &self,
        actor: Actor,
        user_id: i64,
        parcel_number: &str,
        account_number: &str,
    ) -> Result<Pin> {
        if let Some(p) = self.pin_of(user_id, parcel_number).await? {
            return Ok(p);
        }
        let mut w = self.write(actor).await?;
        // Counted inside the write: writers are serialised, so two concurrent pins cannot
        // both pass the bound.
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM pins WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *w.tx)
            .await?
            .try_get("n")?;
        if count >= MAX_PINS {
            return Err(RuleViolation::TooManyPins.into());
        }
        let pin = Pin {
            parcel_number: parcel_number.to_owned(),
            account_number: account_number.to_owned(),
            created_at: now_millis(),
        };
        let inserted = sqlx::query(
            "INSERT INTO pins (user_id, parcel_number, account_number, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, parcel_number) DO NOTHING",
        )
        .bind(user_id)
        .bind(&pin.parcel_number)
        .bind(&pin.account_number)
        .bind(pin.created_at)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Pinned meanwhile by another request of the same user: that pin stands.
            drop(w);
            return self
                .pin_of(user_id, parcel_number)
                .await?
                .ok_or(crate::StoreError::NotFound("pin"));
        }
        // A pin is no cached principal's business: versioned and audited, nothing evicted.
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, None, Some(user_id)),
            NewAudit::new("pin.add", None, Some(user_id)).after(
                json!({"parcelNumber": pin.parcel_number, "accountNumber": pin.account_number}),
            ),
        )
        .await?;
        Ok(pin)
    }

    /// Unpins `parcel_number`; whether it was pinned (unpinning an unpinned parcel writes
    /// nothing).
    pub async fn unpin(&self, actor: Actor, user_id: i64, parcel_number: &str) -> Result<bool> {
        if self.pin_of(user_id, parcel_number).await?.is_none() {
            return Ok(false);
        }
        let mut w = self.write(actor).await?;
        let removed = sqlx::query("DELETE FROM pins WHERE user_id = $1 AND parcel_number = $2")
            .bind(user_id)
            .bind(parcel_number)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, None, Some(user_id)),
            NewAudit::new("pin.remove", None, Some(user_id))
                .before(json!({"parcelNumber": parcel_number})),
        )
        .await?;
        Ok(true)
    }
}
