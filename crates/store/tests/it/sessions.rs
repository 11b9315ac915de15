//! Admin API sessions: opened, stored hashed, expiring, revoked, audited.

use crate::common::*;
use sesame_store::{NewSession, SessionKind};

both!(sessions_open_expire_and_revoke, |store: Store| async move {
    let acc = account(&store, "910001").await;
    let audits = count(&store, "audit_log").await;
    let (token, s) = store
        .create_session(
            admin(acc.id),
            NewSession {
                kind: SessionKind::Admin,
                account_id: Some(acc.id),
                user_id: None,
                impersonator_account_id: None,
                ttl_millis: 60_000,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(count(&store, "audit_log").await, audits + 1);
    assert_eq!(s.actor(), admin(acc.id));
    // Stored hashed only.
    let clear: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1")
        .bind(token.as_bytes().to_vec())
        .fetch_one(store.raw_pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(clear, 0);
    assert_eq!(
        store.session_by_token(&token).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(store.session_by_token("nope").await.unwrap(), None);
    store.revoke_session(admin(acc.id), &token).await.unwrap();
    assert_eq!(store.session_by_token(&token).await.unwrap(), None);
    // Impersonation sessions act as `Impersonating`; expired sessions are gone.
    let uid = standard(&store, acc.id, "Imp", "impuser").await;
    let (t2, s2) = store
        .create_session(
            admin(acc.id),
            NewSession {
                kind: SessionKind::Impersonation,
                account_id: None,
                user_id: Some(uid),
                impersonator_account_id: Some(acc.id),
                ttl_millis: 60_000,
            },
            Some("ticket"),
        )
        .await
        .unwrap();
    assert_eq!(
        s2.actor(),
        Actor::Impersonating {
            account_id: acc.id,
            user_id: uid
        }
    );
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(now_millis() - 1)
        .execute(store.raw_pool())
        .await
        .unwrap();
    assert_eq!(store.session_by_token(&t2).await.unwrap(), None);
    let log = audit_of_user(&store, uid).await;
    assert!(has_entry(&log, "session.impersonate", Some("ticket")));
});
