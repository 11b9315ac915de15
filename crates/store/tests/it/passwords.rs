//! Passwords: own changes (current one required), reset links (single use, expiring), and the
//! back office's messages.

use crate::common::*;
use sesame_domain::model::UserStatus;

both!(passwords_and_reset_links, |store: Store| async move {
    let acc = account(&store, "910004").await;
    let uid = standard(&store, acc.id, "Reset", "resetme").await;
    let me = Actor::User { user_id: uid };
    match store
        .change_password(me.clone(), uid, "wrong-pass1", "NewPass123")
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "currentPassword"),
        other => panic!("{other:?}"),
    }
    match store
        .change_password(me.clone(), uid, "StdPass123", "short")
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "password"),
        other => panic!("{other:?}"),
    }
    store
        .change_password(me, uid, "StdPass123", "NewPass123")
        .await
        .unwrap();
    let signs_in = |password: &'static str| {
        let store = store.clone();
        async move {
            store
                .verify_user_login("resetme", password)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(signs_in("NewPass123").await);

    let send = || {
        let store = store.clone();
        async move {
            let (_user, token, _expires) = store
                .create_password_reset(admin(acc.id), Some(acc.id), uid)
                .await
                .unwrap();
            token
        }
    };
    let token = send().await;
    let token2 = send().await;
    // The first link died when the second was sent.
    assert_eq!(
        rule(store.password_reset_by_token(&token).await),
        RuleViolation::LinkUsed(LinkKind::PasswordReset)
    );
    // A reset link is not an invitation.
    assert!(matches!(
        store.invitation_by_token(&token2).await,
        Err(StoreError::NotFound(_))
    ));
    store.reset_password(&token2, "Reset12345").await.unwrap();
    assert!(signs_in("Reset12345").await);
    let reused = rule(store.reset_password(&token2, "Again12345").await);
    assert_eq!(reused, RuleViolation::LinkUsed(LinkKind::PasswordReset));
    assert!(reused.to_string().contains("already been used"));
    // Expired links are refused.
    let (_u3, token3, _) = store
        .create_password_reset(Actor::Operator, None, uid)
        .await
        .unwrap();
    sqlx::query("UPDATE invitations SET expires_at = $1 WHERE purpose = 'password_reset'")
        .bind(now_millis() - 1)
        .execute(store.raw_pool())
        .await
        .unwrap();
    let expired = rule(store.reset_password(&token3, "Again12345").await);
    assert_eq!(expired, RuleViolation::LinkExpired(LinkKind::PasswordReset));
    assert!(expired.to_string().contains("expired"));
    // Invited users get the invitation again instead.
    let (adv, _token) = invited(&store, acc.id, "Inv", &[]).await;
    assert_eq!(adv.status, UserStatus::Invited);
    assert_eq!(
        rule(
            store
                .create_password_reset(Actor::Operator, None, adv.id)
                .await
        ),
        RuleViolation::NoLoginYet
    );
    // Own profile and back-office message.
    let mut p = profile("Reset");
    p.phone = "0600000000".into();
    let u = store
        .update_own_profile(Actor::User { user_id: uid }, uid, p)
        .await
        .unwrap();
    assert_eq!(u.profile.phone, "0600000000");
    let mut bad = profile("Reset");
    bad.city = String::new();
    let res = store
        .update_own_profile(Actor::User { user_id: uid }, uid, bad)
        .await;
    assert!(matches!(res, Err(StoreError::Invalid(e)) if e.field == "city"));
    store
        .record_user_message(Actor::Operator, Some(acc.id), uid, "Bonjour")
        .await
        .unwrap();
    let log = audit_of_user(&store, uid).await;
    assert!(log.iter().any(|e| e.action == "user.message"));
    assert!(log
        .iter()
        .all(|e| !e.after.as_deref().unwrap_or("").contains("Reset12345")));
});
