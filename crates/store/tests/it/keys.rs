//! Connection keys: regeneration, with and without a grace period for the old key.

use crate::common::*;
use sesame_domain::model::ChangeKind;

both!(
    key_regeneration_with_and_without_grace,
    |store: Store| async move {
        let (_acc, user_id, key1) =
            active_advanced(&store, "900400", "regen", &["ws_tracking"]).await;
        let me = Actor::User { user_id };
        let h1 = store.hasher().hash_key(&key1);
        let v0 = store.latest_version().await.unwrap();
        let key2 = store
            .regenerate_connection_key(me.clone(), user_id, None)
            .await
            .unwrap();
        assert!(
            store.principal_by_key_hash(&h1).await.unwrap().is_none(),
            "old key revoked at once"
        );
        let h2 = store.hasher().hash_key(&key2);
        assert!(store.principal_by_key_hash(&h2).await.unwrap().is_some());
        // The change names the revoked hash so caches evict it directly.
        let changes = store.changes_since(v0, 10).await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Key);
        assert_eq!(changes[0].key_hash, Some(h1));
        // With a grace period the old key keeps working until it expires.
        let key3 = store
            .regenerate_connection_key(me, user_id, Some(60_000))
            .await
            .unwrap();
        let old = store
            .principal_by_key_hash(&h2)
            .await
            .unwrap()
            .expect("grace");
        assert!(old.key_expires_at.is_some());
        let new = store
            .principal_by_key_hash(&store.hasher().hash_key(&key3))
            .await
            .unwrap()
            .unwrap();
        assert!(new.key_expires_at.is_none());
        assert!(old.is_usable(now_millis()));
        assert!(!old.is_usable(now_millis() + 61_000));
    }
);

both!(
    only_an_active_advanced_user_holds_a_key,
    |store: Store| async move {
        let acc = account(&store, "900410").await;
        let std = standard(&store, acc.id, "Std", "std.key").await;
        assert_eq!(
            rule(
                store
                    .regenerate_connection_key(Actor::Operator, std, None)
                    .await
            ),
            RuleViolation::KeyNeedsAdvancedUser
        );
        let (pending, _token) = invited(&store, acc.id, "Pending", &[]).await;
        assert_eq!(
            rule(
                store
                    .regenerate_connection_key(Actor::Operator, pending.id, None)
                    .await
            ),
            RuleViolation::InvitationPending
        );
    }
);
