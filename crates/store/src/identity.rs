//! Identity ownership (SPEC §2) in one place: who may change a user's identity, which profile
//! fields a form changes, and the audit line of a refused change.

use serde_json::json;
use sesame_domain::model::{Actor, User, UserKind, UserStatus};
use sesame_domain::Profile;
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, StoreError};

/// The profile fields (API names) whose stored values would differ, compared as they are stored
/// (trimmed, country defaulting to France), so resubmitting a form unchanged changes nothing.
fn changed_profile_fields(old: &Profile, new: &Profile) -> Vec<&'static str> {
    let country = |p: &Profile| {
        let c = p.country.trim();
        if c.is_empty() {
            "France".to_owned()
        } else {
            c.to_owned()
        }
    };
    let mut out = Vec::new();
    if old.civility.map(|c| c.as_str()) != new.civility.map(|c| c.as_str()) {
        out.push("civility");
    }
    for (field, a, b) in [
        ("lastName", &old.last_name, &new.last_name),
        ("firstName", &old.first_name, &new.first_name),
        ("function", &old.function, &new.function),
        ("phone", &old.phone, &new.phone),
        ("address", &old.address, &new.address),
        ("postalCode", &old.postal_code, &new.postal_code),
        ("city", &old.city, &new.city),
    ] {
        if a.trim() != b.trim() {
            out.push(field);
        }
    }
    if old.email != new.email {
        out.push("email");
    }
    if old.fax != new.fax {
        out.push("fax");
    }
    if country(old) != country(new) {
        out.push("country");
    }
    out
}

impl Store {
    /// SPEC §2 "Identity ownership", the one implementation of the rule: who may change a user's
    /// identity (profile, e-mail, login, password, keys). A confirmed advanced user's identity is
    /// its own: no account that links it (nor an account admin impersonating it) changes it,
    /// since any of them could otherwise redirect the e-mail and take the password reset. Before
    /// confirmation only the inviting account edits the invited profile. A standard user's
    /// identity is its home account's. The operator (and Sesame itself) may always.
    /// `field` names the first field the refused change touches.
    pub(crate) async fn check_identity_editor(
        &self,
        actor: &Actor,
        user: &User,
        field: &'static str,
    ) -> Result<()> {
        let refuse = |message: &str| {
            Err(StoreError::Forbidden {
                code: "identity_owned",
                field,
                message: format!("{field}: {message}"),
            })
        };
        match *actor {
            Actor::Operator | Actor::OperatorImpersonating { .. } | Actor::System => Ok(()),
            Actor::User { user_id } if user_id == user.id => Ok(()),
            Actor::User { .. } => refuse("a user changes only its own identity"),
            Actor::AccountAdmin { account_id } | Actor::Impersonating { account_id, .. } => {
                match user.kind {
                    UserKind::Standard if user.home_account_id == Some(account_id) => Ok(()),
                    UserKind::Standard => refuse("the user belongs to another account"),
                    UserKind::Advanced
                        if user.status == UserStatus::Invited
                            && matches!(actor, Actor::AccountAdmin { .. }) =>
                    {
                        if self.inviting_account(user.id).await? == Some(account_id) {
                            Ok(())
                        } else {
                            refuse("before confirmation, only the account that invited the user edits its profile")
                        }
                    }
                    UserKind::Advanced => refuse(
                        "a confirmed advanced user's identity belongs to the user: an account edits only its link (rights, tag)",
                    ),
                }
            }
        }
    }

    /// The account whose invitation created an advanced user: its first invitation's.
    async fn inviting_account(&self, user_id: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT account_id FROM invitations WHERE user_id = $1 AND purpose = 'invitation' \
             ORDER BY id LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("account_id")?,
            None => None,
        })
    }

    /// Refuses a profile edit that touches an identity the actor may not change; the refusal is
    /// recorded (every field the edit touched), so every account linked to the user sees the
    /// attempt in its audit log. An edit that changes nothing passes.
    pub(crate) async fn check_profile_edit(
        &self,
        actor: &Actor,
        user: &User,
        new: &Profile,
        account_id: Option<i64>,
    ) -> Result<()> {
        let changed = changed_profile_fields(&user.profile, new);
        let Some(first) = changed.first() else {
            return Ok(());
        };
        if let Err(e) = self.check_identity_editor(actor, user, first).await {
            self.record_note(
                actor.clone(),
                "user.identity_change_refused",
                account_id,
                user.id,
                json!({ "fields": changed }),
            )
            .await?;
            return Err(e);
        }
        Ok(())
    }
}
