//! The store functions the admin API adds (sessions, users table, edits, password resets,
//! import jobs), run once on SQLite and once on PostgreSQL.

use sesame_domain::model::{now_millis, Actor, ImportStatus, UserKind, UserStatus};
use sesame_domain::{AccountNumber, Email, Login, Profile, RightSet, Tag};
use sesame_store::{
    NewAccount, NewAdvancedUser, NewSession, NewStandardUser, SessionKind, Store, StoreError,
    UserFilter, UserUpdate,
};
use sqlx::Row;

use sesame_store::both_backends as both;

fn rights(ids: &[&str]) -> RightSet {
    RightSet::parse_ids(ids.iter().copied()).unwrap()
}

fn new_account(number: &str) -> NewAccount {
    NewAccount {
        number: AccountNumber::parse(number).unwrap(),
        company: format!("Company {number}"),
        contract_type: "PRIVILEGE".into(),
        entitlements: rights(&[
            "ws_postage",
            "ws_tracking",
            "tracking_tool:all",
            "dashboard",
        ]),
        admin_password: "AdminPass123".into(),
        upstream_login: number.into(),
        upstream_password: "secret".into(),
        departments: vec!["Logistique".into()],
        contact: None,
    }
}

fn profile(name: &str) -> Profile {
    Profile {
        last_name: name.into(),
        first_name: "Jean".into(),
        function: "Logisticien".into(),
        phone: "0102030405".into(),
        email: Some(Email::parse(&format!("{}@example.fr", name.to_lowercase())).unwrap()),
        address: "1 rue de la Poste".into(),
        postal_code: "75001".into(),
        city: "Paris".into(),
        country: "France".into(),
        ..Profile::default()
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(store.raw_pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn standard(store: &Store, account_id: i64, name: &str, login: &str) -> i64 {
    store
        .create_standard_user(
            Actor::AccountAdmin { account_id },
            account_id,
            NewStandardUser {
                profile: profile(name),
                login: Login::parse(login).unwrap(),
                password: "StdPass123".into(),
                rights: rights(&["dashboard"]),
                department_id: None,
            },
        )
        .await
        .unwrap()
        .id
}

both!(sessions_open_expire_and_revoke, |store: Store| async move {
    let acc = store
        .create_account(Actor::Operator, new_account("910001"))
        .await
        .unwrap();
    let audits = count(&store, "audit_log").await;
    let (token, s) = store
        .create_session(
            Actor::AccountAdmin { account_id: acc.id },
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
    assert_eq!(s.actor(), Actor::AccountAdmin { account_id: acc.id });
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
    store
        .revoke_session(Actor::AccountAdmin { account_id: acc.id }, &token)
        .await
        .unwrap();
    assert_eq!(store.session_by_token(&token).await.unwrap(), None);
    // Impersonation sessions act as `Impersonating`; expired sessions are gone.
    let uid = standard(&store, acc.id, "Imp", "impuser").await;
    let (t2, s2) = store
        .create_session(
            Actor::AccountAdmin { account_id: acc.id },
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
    let log = store
        .audit_log(&sesame_store::AuditFilter {
            user_id: Some(uid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "session.impersonate" && e.comment.as_deref() == Some("ticket")));
});

both!(users_table_edit_and_delete, |store: Store| async move {
    let acc = store
        .create_account(Actor::Operator, new_account("910002"))
        .await
        .unwrap();
    let admin = Actor::AccountAdmin { account_id: acc.id };
    let s1 = standard(&store, acc.id, "Martin", "mmartin").await;
    standard(&store, acc.id, "Bernard_%", "bbernard").await;
    let (adv, _, _) = store
        .create_advanced_user(
            admin.clone(),
            acc.id,
            NewAdvancedUser {
                profile: profile("Dupont"),
                tag: None,
                rights: rights(&["ws_tracking"]),
                department_id: None,
            },
        )
        .await
        .unwrap();
    let other = store
        .create_account(Actor::Operator, new_account("910003"))
        .await
        .unwrap();
    standard(&store, other.id, "Ailleurs", "ailleurs").await;

    let all = UserFilter {
        limit: 100,
        ..Default::default()
    };
    let (items, total) = store.list_account_users(acc.id, &all).await.unwrap();
    assert_eq!(total, 4, "main contact + 2 standard + 1 advanced");
    assert!(items[0].user.main_contact);
    let (items, total) = store
        .list_account_users(
            acc.id,
            &UserFilter {
                kind: Some(UserKind::Advanced),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!((total, items[0].user.id), (1, adv.id));
    assert_eq!(items[0].rights, rights(&["ws_tracking"]));
    let (_, total) = store
        .list_account_users(
            acc.id,
            &UserFilter {
                q: Some("MART".into()),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 1);
    // LIKE wildcards in the search are literal.
    let (_, total) = store
        .list_account_users(
            acc.id,
            &UserFilter {
                q: Some("_%".into()),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 1);
    let (page, total) = store
        .list_account_users(
            acc.id,
            &UserFilter {
                offset: 3,
                limit: 2,
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 4));

    // Edit: a right the account lacks writes nothing, not even the name.
    let audits = count(&store, "audit_log").await;
    let mut p = profile("Dupont");
    p.last_name = "Renamed".into();
    let res = store
        .update_user(
            admin.clone(),
            acc.id,
            adv.id,
            UserUpdate {
                profile: p.clone(),
                tag: None,
                department_id: None,
                rights: Some(rights(&["ws_eligibility"])),
            },
        )
        .await;
    assert!(
        matches!(res, Err(StoreError::Delegation(ref e)) if e.id == "ws_eligibility"),
        "{res:?}"
    );
    assert_eq!(
        store.user(adv.id).await.unwrap().profile.last_name,
        "Dupont"
    );
    assert_eq!(count(&store, "audit_log").await, audits);
    let u = store
        .update_user(
            admin.clone(),
            acc.id,
            adv.id,
            UserUpdate {
                profile: p,
                tag: Some(Tag::parse("SUD").unwrap()),
                department_id: None,
                rights: Some(rights(&["ws_postage"])),
            },
        )
        .await
        .unwrap();
    assert_eq!(u.profile.last_name, "Renamed");
    assert_eq!(u.tag.unwrap().as_str(), "SUD");
    assert_eq!(
        store.link(adv.id, acc.id).await.unwrap().rights,
        rights(&["ws_postage"])
    );
    assert_eq!(count(&store, "audit_log").await, audits + 1);
    // Another account's user is not found.
    assert!(matches!(
        store
            .update_user(
                admin.clone(),
                other.id,
                adv.id,
                UserUpdate {
                    profile: profile("X"),
                    tag: None,
                    department_id: None,
                    rights: None
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Delete a standard user; never an advanced user or the main contact.
    store
        .delete_standard_user(admin.clone(), acc.id, s1)
        .await
        .unwrap();
    assert!(matches!(store.user(s1).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store
            .delete_standard_user(admin.clone(), acc.id, adv.id)
            .await,
        Err(StoreError::Rule(_))
    ));
    let contact = store.list_account_users(acc.id, &all).await.unwrap().0[0]
        .user
        .id;
    assert!(matches!(
        store.delete_standard_user(admin, acc.id, contact).await,
        Err(StoreError::Rule(_))
    ));
});

both!(passwords_and_reset_links, |store: Store| async move {
    let acc = store
        .create_account(Actor::Operator, new_account("910004"))
        .await
        .unwrap();
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
    assert!(store
        .verify_user_login("resetme", "NewPass123")
        .await
        .unwrap()
        .is_some());

    let (_u, token, _exp) = store
        .create_password_reset(
            Actor::AccountAdmin { account_id: acc.id },
            Some(acc.id),
            uid,
        )
        .await
        .unwrap();
    let (_u2, token2, _) = store
        .create_password_reset(
            Actor::AccountAdmin { account_id: acc.id },
            Some(acc.id),
            uid,
        )
        .await
        .unwrap();
    // The first link died when the second was sent.
    assert!(matches!(
        store.password_reset_by_token(&token).await,
        Err(StoreError::Rule(_))
    ));
    // A reset link is not an invitation.
    assert!(matches!(
        store.invitation_by_token(&token2).await,
        Err(StoreError::NotFound(_))
    ));
    store.reset_password(&token2, "Reset12345").await.unwrap();
    assert!(store
        .verify_user_login("resetme", "Reset12345")
        .await
        .unwrap()
        .is_some());
    assert!(
        matches!(store.reset_password(&token2, "Again12345").await, Err(StoreError::Rule(m)) if m.contains("already been used"))
    );
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
    assert!(
        matches!(store.reset_password(&token3, "Again12345").await, Err(StoreError::Rule(m)) if m.contains("expired"))
    );
    // Invited users get the invitation again instead.
    let (adv, _, _) = store
        .create_advanced_user(
            Actor::AccountAdmin { account_id: acc.id },
            acc.id,
            NewAdvancedUser {
                profile: profile("Inv"),
                tag: None,
                rights: RightSet::EMPTY,
                department_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(adv.status, UserStatus::Invited);
    assert!(matches!(
        store
            .create_password_reset(Actor::Operator, None, adv.id)
            .await,
        Err(StoreError::Rule(_))
    ));
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
    assert!(
        matches!(store.update_own_profile(Actor::User { user_id: uid }, uid, bad).await, Err(StoreError::Invalid(e)) if e.field == "city")
    );
    store
        .record_user_message(Actor::Operator, Some(acc.id), uid, "Bonjour")
        .await
        .unwrap();
    let log = store
        .audit_log(&sesame_store::AuditFilter {
            user_id: Some(uid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(log.iter().any(|e| e.action == "user.message"));
    assert!(log
        .iter()
        .all(|e| !e.after.as_deref().unwrap_or("").contains("Reset12345")));
});

both!(
    import_jobs_queue_claim_finish_replace,
    |store: Store| async move {
        let acc = store
            .create_account(Actor::Operator, new_account("910005"))
            .await
            .unwrap();
        let admin = Actor::AccountAdmin { account_id: acc.id };
        assert!(store.current_import(acc.id).await.unwrap().is_none());
        let (job, prev) = store
            .start_import(admin.clone(), acc.id, "a.csv", 2, b"input-1")
            .await
            .unwrap();
        assert!(prev.is_none());
        assert_eq!(job.status, ImportStatus::Queued);
        // One in progress at a time.
        assert!(matches!(
            store
                .start_import(admin.clone(), acc.id, "b.csv", 1, b"x")
                .await,
            Err(StoreError::Rule(_))
        ));
        let (claimed, input) = store.claim_next_import().await.unwrap().unwrap();
        assert_eq!(
            (claimed.id, claimed.status, input.as_slice()),
            (job.id, ImportStatus::Running, &b"input-1"[..])
        );
        assert!(
            store.claim_next_import().await.unwrap().is_none(),
            "never claimed twice"
        );
        store.import_progress(job.id, 1, 1).await.unwrap();
        assert_eq!(
            store
                .current_import(acc.id)
                .await
                .unwrap()
                .unwrap()
                .processed_lines,
            1
        );
        assert!(store.import_result(acc.id).await.unwrap().is_none());
        store
            .finish_import(job.id, ImportStatus::Done, 2, 1, b"result-1")
            .await
            .unwrap();
        let (done, result) = store.import_result(acc.id).await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.ok_lines, result.as_slice()),
            (ImportStatus::Done, 1, &b"result-1"[..])
        );
        assert!(done.expires_at > now_millis() + 6 * 24 * 3600 * 1000);
        // The next import replaces the previous one and says so.
        let (job2, prev) = store
            .start_import(admin, acc.id, "b.csv", 1, b"input-2")
            .await
            .unwrap();
        assert_eq!(prev.unwrap().id, job.id);
        assert!(store.import_result(acc.id).await.unwrap().is_none());
        assert_eq!(count(&store, "import_jobs").await, 1);
        assert_eq!(
            store.current_import(acc.id).await.unwrap().unwrap().id,
            job2.id
        );
        let log = store
            .audit_log(&sesame_store::AuditFilter {
                account_id: Some(acc.id),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log.iter().filter(|e| e.action == "import.start").count(), 2);
    }
);

/// Refused by the identity rule, naming `f`.
fn owned<T>(r: &Result<T, StoreError>, f: &str) -> bool {
    matches!(r, Err(StoreError::Forbidden { code: "identity_owned", field, .. }) if *field == f)
}

// Issue 10 d1: the identity rule holds in the store itself, whatever handler calls it.
both!(
    identity_of_a_confirmed_advanced_user_is_refused_to_every_account,
    |store: Store| async move {
        let a = store
            .create_account(Actor::Operator, new_account("900138"))
            .await
            .unwrap();
        let b = store
            .create_account(Actor::Operator, new_account("839181"))
            .await
            .unwrap();
        let admin_a = Actor::AccountAdmin { account_id: a.id };
        let admin_b = Actor::AccountAdmin { account_id: b.id };
        let (adv, _, token) = store
            .create_advanced_user(
                admin_a.clone(),
                a.id,
                NewAdvancedUser {
                    profile: profile("Victim"),
                    tag: None,
                    rights: rights(&["ws_tracking"]),
                    department_id: None,
                },
            )
            .await
            .unwrap();
        // Not linkable before confirmation.
        let uk = adv.user_key.unwrap();
        assert!(matches!(
            store
                .associate(admin_b.clone(), b.id, &uk, RightSet::EMPTY)
                .await,
            Err(StoreError::Rule(_))
        ));
        store
            .accept_invitation(
                &token,
                &Login::parse("victim").unwrap(),
                "UserPass123",
                None,
            )
            .await
            .unwrap();
        store
            .associate(admin_b.clone(), b.id, &uk, RightSet::EMPTY)
            .await
            .unwrap();
        let mut evil = profile("Victim");
        evil.email = Some(Email::parse("attacker@evil.example").unwrap());
        let edit = |p: &Profile| UserUpdate {
            profile: p.clone(),
            tag: None,
            department_id: None,
            rights: None,
        };
        for (actor, acc) in [(admin_b.clone(), b.id), (admin_a.clone(), a.id)] {
            let r = store.update_user(actor, acc, adv.id, edit(&evil)).await;
            assert!(owned(&r, "email"), "{r:?}");
        }
        let r = store
            .regenerate_connection_key(admin_b.clone(), adv.id, None)
            .await;
        assert!(owned(&r, "connectionKey"), "{r:?}");
        let r = store
            .change_password(admin_a.clone(), adv.id, "UserPass123", "NewPass123")
            .await;
        assert!(owned(&r, "password"), "{r:?}");
        let r = store
            .update_own_profile(
                Actor::Impersonating {
                    account_id: b.id,
                    user_id: adv.id,
                },
                adv.id,
                evil.clone(),
            )
            .await;
        assert!(owned(&r, "email"), "{r:?}");
        let r = store
            .create_password_reset(admin_b.clone(), Some(b.id), adv.id)
            .await;
        assert!(
            matches!(
                r,
                Err(StoreError::Forbidden {
                    code: "shared_user",
                    ..
                })
            ),
            "{r:?}"
        );
        let u = store.user(adv.id).await.unwrap();
        assert_eq!(u.profile.email.unwrap().as_str(), "victim@example.fr");
        // The user, and the operator's back office, may.
        store
            .update_own_profile(Actor::User { user_id: adv.id }, adv.id, profile("Victim2"))
            .await
            .unwrap();
        store
            .update_user(Actor::Operator, a.id, adv.id, edit(&profile("Victim3")))
            .await
            .unwrap();
    }
);
