//! Invitations: resending one, reading one by its token, and accepting it (the advanced user
//! sets login and password and gets its connection key).

use sesame_domain::model::{
    now_millis, Actor, ChangeKind, Invitation, User, UserStatus, INVITATION_TTL_MILLIS,
};
use sesame_domain::{ConnectionKey, FieldError, Login, Profile, RightSet};

use crate::db::Store;
use crate::error::{LinkKind, Result, RuleViolation, StoreError};
use crate::records::{insert_token, spend_link, update_profile, user_after_insert};
use crate::rows::{invitation_from_row, user_snapshot as snapshot};
use crate::write::{NewAudit, NewChange};

/// The result of accepting an invitation: the active user and its connection key, in clear for
/// this one answer only.
#[derive(Debug)]
pub struct Activation {
    pub user: User,
    pub connection_key: ConnectionKey,
    pub account_id: i64,
    pub rights: RightSet,
}

impl Store {
    /// Issues a fresh invitation for an invited user (the previous ones stop working).
    pub async fn resend_invitation(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
    ) -> Result<(User, Invitation, String)> {
        let user = self.user_in_account(account_id, user_id).await?;
        if user.status != UserStatus::Invited {
            return Err(StoreError::Rule(RuleViolation::InvitationCompleted));
        }
        let link = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND purpose = 'invitation' AND used_at IS NULL")
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        let (inv, token) = insert_token(
            &mut w,
            "invitation",
            user_id,
            Some(account_id),
            link.rights,
            INVITATION_TTL_MILLIS,
        )
        .await?;
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(user_id)),
            NewAudit::new("user.invitation_resend", Some(account_id), Some(user_id)),
        )
        .await?;
        Ok((user, inv, token))
    }

    /// The invitation a token designates, if it is still usable. The error says why not.
    pub async fn invitation_by_token(&self, token: &str) -> Result<(Invitation, User)> {
        let hash = self.hasher().hash_token(token);
        let query = sqlx::query(
            "SELECT id, user_id, account_id, rights, expires_at, used_at, created_at FROM invitations \
             WHERE token_hash = $1 AND purpose = 'invitation'",
        )
        .bind(hash.0.to_vec());
        let row = self.row_or_not_found(query, "invitation").await?;
        let mut inv = invitation_from_row(&row)?;
        if inv.used_at.is_some() {
            return Err(StoreError::Rule(RuleViolation::LinkUsed(
                LinkKind::Invitation,
            )));
        }
        if inv.expires_at <= now_millis() {
            return Err(StoreError::Rule(RuleViolation::LinkExpired(
                LinkKind::Invitation,
            )));
        }
        let user = self.user(inv.user_id).await?;
        // The invitation shows and grants the link as it is now: rights edited since it was sent
        // show as edited, and a removed link voids it (for rows voided before unlink did so).
        let link = match self.link(inv.user_id, inv.account_id).await {
            Ok(l) => l,
            Err(StoreError::NotFound(_)) => {
                return Err(StoreError::Rule(RuleViolation::InvitationWithdrawn))
            }
            Err(e) => return Err(e),
        };
        inv.rights = link.rights;
        Ok((inv, user))
    }

    /// The confirmation form (seed 000 §5.1): the invited user sets login and password (and may
    /// correct its details); the user becomes active and gets its connection key.
    pub async fn accept_invitation(
        &self,
        token: &str,
        login: &Login,
        password: &str,
        profile: Option<Profile>,
    ) -> Result<Activation> {
        let (inv, user) = self.invitation_by_token(token).await?;
        if login.looks_like_account() {
            return Err(FieldError::new("login", "must not be a 6-digit account number").into());
        }
        let profile = profile.unwrap_or_else(|| user.profile.clone());
        profile.check_complete()?;
        let password_hash = self.passwords.hash_new(password).await?;
        let key = ConnectionKey::generate();
        let key_hash = self.hasher().hash_key(&key);
        let mut w = self.write(Actor::User { user_id: user.id }).await?;
        spend_link(&mut w, inv.id, LinkKind::Invitation).await?;
        update_profile(&mut w, user.id, &profile).await?;
        sqlx::query(
            "UPDATE users SET login = $1, password_hash = $2, status = 'active', conn_key_hash = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(login.as_str())
        .bind(password_hash)
        .bind(key_hash.0.to_vec())
        .bind(now_millis())
        .bind(user.id)
        .execute(&mut *w.tx)
        .await?;
        let after = user_after_insert(&mut w, user.id).await?;
        w.finish(
            NewChange::new(ChangeKind::User, Some(inv.account_id), Some(user.id)),
            NewAudit::new("user.activate", Some(inv.account_id), Some(user.id))
                .before(snapshot(&user))
                .after(snapshot(&after)),
        )
        .await?;
        Ok(Activation {
            user: after,
            connection_key: key,
            account_id: inv.account_id,
            rights: inv.rights,
        })
    }
}
