//! Seed 004's collaborators (sub-accounts): the module switched on per account (§2), and the
//! validation status of the collaborators an account's admin creates (§4). The operator's
//! back office sets both; the rules here are what every path that creates, edits or signs in a
//! collaborator checks.

use serde_json::json;
use sesame_domain::model::{
    now_millis, Account, Actor, ChangeKind, User, UserKind, ValidationStatus,
};

use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::write::{NewAudit, NewChange};

/// Refuses an account admin's (or its impersonation's) collaborator management when the
/// account's sub-accounts module is off (seed 004 §2: off, the extranet offers none). The
/// operator's back office always may.
pub(crate) fn check_sub_accounts(actor: &Actor, account: &Account) -> Result<()> {
    let extranet = matches!(
        actor,
        Actor::AccountAdmin { .. } | Actor::Impersonating { .. }
    );
    if extranet && !account.sub_accounts {
        return Err(StoreError::Forbidden {
            code: "sub_accounts_off",
            field: "accountNumber",
            message: "La gestion des sous-comptes (collaborateurs) n'est pas activée pour ce compte : \
                      adressez-vous à votre interlocuteur pour l'activer. The sub-accounts module is \
                      off for this account."
                .to_owned(),
        });
    }
    Ok(())
}

/// A new collaborator's status: pending when its account's admin creates it on an account whose
/// module requires validation, accepted otherwise (the back office's default, seed 004 §4).
pub(crate) fn initial_validation(actor: &Actor, account: &Account) -> ValidationStatus {
    let extranet = matches!(
        actor,
        Actor::AccountAdmin { .. } | Actor::Impersonating { .. }
    );
    if extranet && account.collaborator_validation {
        ValidationStatus::Pending
    } else {
        ValidationStatus::Accepted
    }
}

/// A collaborator not accepted (yet) does not sign in; its password being right, it is told why.
pub(crate) fn check_validated(user: &User) -> Result<()> {
    let message = match user.validation {
        ValidationStatus::Accepted => return Ok(()),
        ValidationStatus::Pending => {
            "Votre compte collaborateur est en attente de validation : vous pourrez vous connecter une fois validé."
        }
        ValidationStatus::Refused => "Votre compte collaborateur a été refusé : vous ne pouvez pas vous connecter.",
    };
    Err(StoreError::Forbidden {
        code: match user.validation {
            ValidationStatus::Pending => "validation_pending",
            _ => "validation_refused",
        },
        field: "login",
        message: message.to_owned(),
    })
}

impl Store {
    /// Switches an account's modules (operator): the sub-accounts module, and whether the
    /// collaborators its admin creates wait for validation.
    pub async fn set_account_modules(
        &self,
        actor: Actor,
        account_id: i64,
        sub_accounts: bool,
        collaborator_validation: bool,
    ) -> Result<Account> {
        let before = self.account(account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query(
            "UPDATE accounts SET sub_accounts = $1, collaborator_validation = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(i64::from(sub_accounts))
        .bind(i64::from(collaborator_validation))
        .bind(now_millis())
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
        let modules = |s: bool, v: bool| json!({"subAccounts": s, "collaboratorValidation": v});
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, Some(account_id), None),
            NewAudit::new("account.modules", Some(account_id), None)
                .before(modules(before.sub_accounts, before.collaborator_validation))
                .after(modules(sub_accounts, collaborator_validation)),
        )
        .await?;
        self.account(account_id).await
    }

    /// The operator accepts or refuses a collaborator (seed 004 §4), with an optional comment;
    /// a refused one's sessions end at once.
    pub async fn set_user_validation(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
        status: ValidationStatus,
        comment: Option<&str>,
    ) -> Result<User> {
        let before = self.user_in_account(account_id, user_id).await?;
        if before.kind != UserKind::Standard || before.main_contact {
            return Err(sesame_domain::FieldError::new(
                "status",
                "only a collaborator (standard user) has a validation status",
            )
            .into());
        }
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE users SET validation = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        if status != ValidationStatus::Accepted {
            crate::records::revoke_user_sessions(&mut w, user_id).await?;
        }
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(user_id)),
            NewAudit::new("user.validation", Some(account_id), Some(user_id))
                .before(json!({"validation": before.validation.as_str()}))
                .after(json!({"validation": status.as_str()}))
                .comment(comment),
        )
        .await?;
        self.user(user_id).await
    }
}
