//! The change log: monotonic versions, every write audited, `WriteTx` refusing a write without
//! its records.

use crate::common::*;
use sesame_domain::model::ChangeKind;
use sesame_store::{NewAudit, NewChange};

both!(
    change_log_is_monotonic_and_every_write_is_audited,
    |store: Store| async move {
        let mut local = store.subscribe_local();
        let v0 = store.latest_version().await.unwrap();
        let (acc, user_id, _key) =
            active_advanced(&store, "900700", "audited", &["ws_tracking"]).await;
        store
            .set_link_rights(admin(acc), acc, user_id, rights(&["ws_postage"]))
            .await
            .unwrap();
        let changes = store.changes_since(v0, 100).await.unwrap();
        assert!(changes.len() >= 4);
        assert!(changes.windows(2).all(|w| w[0].version < w[1].version));
        let last = changes.last().unwrap();
        assert_eq!(last.kind, ChangeKind::Link);
        assert_eq!(
            *local.borrow_and_update(),
            last.version,
            "same-process subscribers see the version"
        );
        assert_eq!(count(&store, "audit_log").await as usize, changes.len());
        // A transaction without its records refuses to commit, and leaves nothing behind.
        let mut w = store.write(Actor::System).await.unwrap();
        w.change(NewChange::new(ChangeKind::User, None, None))
            .await
            .unwrap();
        assert!(matches!(
            w.commit().await,
            Err(StoreError::Unrecorded("audit entry"))
        ));
        let mut w = store.write(Actor::System).await.unwrap();
        w.audit(NewAudit::new("test.audit_only", None, None))
            .await
            .unwrap();
        assert!(matches!(
            w.commit().await,
            Err(StoreError::Unrecorded("change-log entry"))
        ));
        let w = store.write(Actor::System).await.unwrap();
        assert!(matches!(
            w.commit().await,
            Err(StoreError::Unrecorded("change-log entry"))
        ));
        assert_eq!(
            store.changes_since(v0, 100).await.unwrap().len(),
            changes.len()
        );
        assert_eq!(count(&store, "audit_log").await as usize, changes.len());
        // `finish` writes both and commits.
        let w = store.write(Actor::System).await.unwrap();
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, Some(acc), None),
            NewAudit::new("test.finish", Some(acc), None).comment(Some("both")),
        )
        .await
        .unwrap();
        assert_eq!(
            store.changes_since(v0, 100).await.unwrap().len(),
            changes.len() + 1
        );
        assert_eq!(count(&store, "audit_log").await as usize, changes.len() + 1);
        assert_eq!(
            *local.borrow_and_update(),
            store.latest_version().await.unwrap()
        );
    }
);
