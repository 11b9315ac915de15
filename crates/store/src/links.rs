//! Links between users and accounts: reading them, associating an advanced user by its user
//! key, editing a link's rights, unlinking.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Link, User, UserKind, UserStatus};
use sesame_domain::{RightSet, Tag, UserKey};
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, RuleViolation, StoreError};
use crate::records::{end_sessions_without_site_access, insert_link, update_link_rights};
use crate::rows::{link_from_row, LINK_COLS};
use crate::write::{NewAudit, NewChange};

impl Store {
    pub async fn links_of_user(&self, user_id: i64) -> Result<Vec<Link>> {
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLS} WHERE l.user_id = $1 ORDER BY l.account_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(link_from_row).collect()
    }

    pub async fn link(&self, user_id: i64, account_id: i64) -> Result<Link> {
        let sql = format!("SELECT {LINK_COLS} WHERE l.user_id = $1 AND l.account_id = $2");
        let query = sqlx::query(&sql).bind(user_id).bind(account_id);
        link_from_row(&self.row_or_not_found(query, "link").await?)
    }

    /// How many accounts other than `account_id` the user is linked to: all an account admin
    /// learns of a shared user's other links (issue 15: who they are is none of its business).
    pub async fn other_links_count(&self, user_id: i64, account_id: i64) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM links WHERE user_id = $1 AND account_id <> $2")
                .bind(user_id)
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// Links an existing advanced user to an account with rights and the tag this account gives
    /// it (seed 000 §6: the association form asks for "Tag utilisateur").
    pub async fn associate(
        &self,
        actor: Actor,
        account_id: i64,
        user_key: &UserKey,
        rights: RightSet,
        tag: Option<Tag>,
    ) -> Result<User> {
        rights.check_advanced()?;
        let account = self.account(account_id).await?;
        RightSet::check_delegation(rights, account.entitlements)?;
        let user = self.find_advanced_by_user_key(user_key).await?;
        // Before confirmation the invited profile is the inviting account's business alone.
        if user.status == UserStatus::Invited {
            return Err(StoreError::Rule(RuleViolation::InvitationPending));
        }
        let mut w = self.write(actor).await?;
        insert_link(&mut w, user.id, account_id, rights, tag.as_ref()).await?;
        w.finish(
            NewChange::new(ChangeKind::Link, Some(account_id), Some(user.id)),
            NewAudit::new("link.create", Some(account_id), Some(user.id))
                .after(json!({"rights": rights, "tag": tag})),
        )
        .await?;
        Ok(user)
    }

    /// Replaces the rights of a link (delegation rule applies).
    pub async fn set_link_rights(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
        rights: RightSet,
    ) -> Result<Link> {
        let user = self.user_in_account(account_id, user_id).await?;
        // The main contact's rights are the account's: refused even when they would not change.
        self.check_link_rights(&user, account_id, rights, false)
            .await?;
        let before = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        update_link_rights(&mut w, user_id, account_id, rights).await?;
        end_sessions_without_site_access(&mut w, &user, before.rights, rights).await?;
        w.finish(
            NewChange::new(ChangeKind::Link, Some(account_id), Some(user_id)),
            NewAudit::new("link.rights", Some(account_id), Some(user_id))
                .before(json!({"rights": before.rights}))
                .after(json!({"rights": rights})),
        )
        .await?;
        self.link(user_id, account_id).await
    }

    /// Removes the link between an advanced user and an account, keeping the user (seed 000 §7);
    /// a user who never confirmed, removed from its last account, is deleted with its invitation.
    pub async fn unlink(&self, actor: Actor, account_id: i64, user_id: i64) -> Result<()> {
        let user = self.user_in_account(account_id, user_id).await?;
        if user.kind != UserKind::Advanced {
            return Err(StoreError::Rule(RuleViolation::StandardUserUnlink));
        }
        let before = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("DELETE FROM links WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        // A removed user's pending invitation from this account dies with the link; with no link
        // left, every pending link (invitation or password reset) of the user does.
        sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL AND \
             (account_id = $3 OR NOT EXISTS (SELECT 1 FROM links l WHERE l.user_id = $2))",
        )
        .bind(now_millis())
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
        // A user who never confirmed is only an invitation: removed from its last account, it
        // is deleted with its invitation (nothing else holds it, and it would hold its e-mail).
        if user.status == UserStatus::Invited {
            sqlx::query(
                "DELETE FROM users WHERE id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM links l WHERE l.user_id = $1)",
            )
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        }
        w.finish(
            NewChange::new(ChangeKind::Link, Some(account_id), Some(user_id)),
            NewAudit::new("link.delete", Some(account_id), Some(user_id))
                .before(json!({"rights": before.rights, "tag": before.tag})),
        )
        .await
    }

    /// The rules a link's new rights pass before anything is written: the user kind's
    /// catalogue, the main contact's rights following the account's (`unchanged` rights pass),
    /// and the delegation rule.
    pub(crate) async fn check_link_rights(
        &self,
        user: &User,
        account_id: i64,
        rights: RightSet,
        unchanged: bool,
    ) -> Result<()> {
        match user.kind {
            UserKind::Advanced => rights.check_advanced()?,
            UserKind::Standard => rights.check_standard()?,
        }
        if user.main_contact && !unchanged {
            return Err(StoreError::Rule(RuleViolation::MainContactRights));
        }
        let account = self.account(account_id).await?;
        RightSet::check_delegation(rights, account.entitlements)?;
        Ok(())
    }
}
