//! What the gateway loads on a miss: effective rights, active accounts only, legacy passwords.

use crate::common::*;
use sesame_domain::model::AccountStatus;
use sesame_domain::UserKey;

both!(
    effective_rights_follow_entitlements_status_and_links,
    |store: Store| async move {
        let (acc, user_id, key) = active_advanced(
            &store,
            "900500",
            "multi",
            &["ws_postage", "ws_tracking", "tracking_tool:all"],
        )
        .await;
        let other = account(&store, "900501").await;
        let user = store.user(user_id).await.unwrap();
        let uk = user.user_key.unwrap();
        // Associate by user key on a second account with other rights.
        let by_other = admin(other.id);
        store
            .associate(
                by_other.clone(),
                other.id,
                &uk,
                rights(&["ws_eligibility"]),
                None,
            )
            .await
            .unwrap();
        let again = store
            .associate(by_other.clone(), other.id, &uk, RightSet::EMPTY, None)
            .await;
        assert_eq!(rule(again), RuleViolation::AlreadyLinked);
        let unknown = store
            .associate(
                by_other,
                other.id,
                &UserKey::generate(),
                RightSet::EMPTY,
                None,
            )
            .await;
        assert!(matches!(unknown, Err(StoreError::NotFound("user"))));
        let h = store.hasher().hash_key(&key);
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        assert_eq!(p.links.len(), 2);
        // Withdraw an entitlement from the first account: gone from the link's effective rights.
        store
            .set_entitlements(
                Actor::Operator,
                acc,
                rights(&["ws_tracking", "tracking_tool:own"]),
            )
            .await
            .unwrap();
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        let l = p.links.iter().find(|l| l.account_id == acc).unwrap();
        assert_eq!(l.rights.ids(), ["ws_tracking", "tracking_tool:own"]);
        // Disable the second account: its link disappears.
        store
            .set_account_status(
                Actor::Operator,
                other.id,
                AccountStatus::Disabled,
                Some("impayé"),
            )
            .await
            .unwrap();
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        assert_eq!(
            p.links.iter().map(|l| l.account_id).collect::<Vec<_>>(),
            [acc]
        );
        // Remove the first link: the user remains, with no link.
        store.unlink(admin(acc), acc, user_id).await.unwrap();
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        assert!(p.links.is_empty());
        assert!(store.user(user_id).await.is_ok());
        // Disable the user.
        store
            .set_user_status(Actor::Operator, None, user_id, false, Some("départ"))
            .await
            .unwrap();
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        assert!(!p.is_usable(now_millis()));
        // The audit log kept the comments.
        let log = audit_of_user(&store, user_id).await;
        assert!(has_entry(&log, "user.status", Some("départ")));
    }
);

both!(legacy_password_principals, |store: Store| async move {
    let acc = account(&store, "900600").await;
    let p = store
        .principal_by_password("900600", "AdminPass123")
        .await
        .unwrap()
        .expect("admin");
    assert_eq!(p.links.len(), 1);
    assert_eq!(
        p.links[0].rights, acc.entitlements,
        "main contact has the account's rights"
    );
    assert!(store
        .principal_by_password("900600", "nope")
        .await
        .unwrap()
        .is_none());
    let std = new_standard(
        "Std",
        "std.user",
        "StdPass123",
        &["ws_tracking", "dashboard"],
    );
    store
        .create_standard_user(admin(acc.id), acc.id, std)
        .await
        .unwrap();
    let p = store
        .principal_by_password("std.user", "StdPass123")
        .await
        .unwrap()
        .expect("standard");
    assert_eq!(p.links[0].rights.ids(), ["ws_tracking", "dashboard"]);
    assert!(store
        .principal_by_password("std.user", "StdPass124")
        .await
        .unwrap()
        .is_none());
    // Advanced users do not authenticate with a password on the web services.
    active_advanced(&store, "900600", "adv.user", &["ws_tracking"]).await;
    assert!(store
        .principal_by_password("adv.user", "UserPass123")
        .await
        .unwrap()
        .is_none());
});
