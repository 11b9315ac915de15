//! Invitations: acceptance, single use, expiry, resending.

use crate::common::*;

both!(
    advanced_user_invitation_key_and_principal,
    |store: Store| async move {
        let (acc, user_id, key) = active_advanced(
            &store,
            "900300",
            "jdupont",
            &["ws_tracking", "tracking_tool:own"],
        )
        .await;
        let hash = store.hasher().hash_key(&key);
        let p = store
            .principal_by_key_hash(&hash)
            .await
            .unwrap()
            .expect("principal");
        assert_eq!(p.user_id, user_id);
        assert_eq!(p.status, sesame_domain::model::UserStatus::Active);
        assert_eq!(p.links.len(), 1);
        assert_eq!(p.links[0].tag.as_ref().map(|t| t.as_str()), Some("NORD"));
        assert_eq!(p.links[0].account_id, acc);
        assert_eq!(
            p.links[0].rights.ids(),
            ["ws_tracking", "tracking_tool:own"]
        );
        assert_eq!(p.links[0].upstream.password, "upstream-secret-900300");
        assert!(p.is_usable(now_millis()));
        // An unknown key finds nothing.
        let other = store.hasher().hash_key(&ConnectionKey::generate());
        assert!(store.principal_by_key_hash(&other).await.unwrap().is_none());
        // Login taken by another invitation: conflict naming login.
        let (_u, token) = invited(&store, acc, "Second", &[]).await;
        let accept = |login: &str| {
            let login = Login::parse(login).unwrap();
            let store = store.clone();
            let token = token.clone();
            async move {
                store
                    .accept_invitation(&token, &login, "UserPass123", None)
                    .await
            }
        };
        match accept("jdupont").await {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "login"),
            other => panic!("expected login conflict, got {other:?}"),
        }
        // The failed attempt did not burn the invitation; a good login works; then it is single use.
        accept("second").await.unwrap();
        let refused = rule(accept("third").await);
        assert_eq!(refused, RuleViolation::LinkUsed(LinkKind::Invitation));
        assert!(refused.to_string().contains("already been used"));
        assert!(matches!(
            store.invitation_by_token("no-such-token").await,
            Err(StoreError::NotFound(_))
        ));
    }
);

both!(expired_invitation_is_refused, |store: Store| async move {
    let acc = account(&store, "900310").await;
    let (user, token) = invited(&store, acc.id, "Late", &[]).await;
    sqlx::query("UPDATE invitations SET expires_at = expires_at - 49 * 3600 * 1000")
        .execute(store.raw_pool())
        .await
        .unwrap();
    let late = Login::parse("late").unwrap();
    let refused = rule(
        store
            .accept_invitation(&token, &late, "UserPass123", None)
            .await,
    );
    assert_eq!(refused, RuleViolation::LinkExpired(LinkKind::Invitation));
    assert!(refused.to_string().contains("expired"));
    // Resending issues a new working link.
    let (_u, _inv, token2) = store
        .resend_invitation(admin(acc.id), acc.id, user.id)
        .await
        .unwrap();
    store
        .accept_invitation(&token2, &late, "UserPass123", None)
        .await
        .unwrap();
    // Once accepted, there is nothing to resend.
    assert_eq!(
        rule(
            store
                .resend_invitation(admin(acc.id), acc.id, user.id)
                .await
        ),
        RuleViolation::InvitationCompleted
    );
});
