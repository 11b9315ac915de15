//! The store's behaviour, run once on SQLite and once on PostgreSQL.

use sesame_domain::model::{AccountStatus, Actor, ChangeKind, UserStatus};
use sesame_domain::{AccountNumber, ConnectionKey, Email, Login, Profile, RightSet, Tag, UserKey};
use sesame_store::{Backend, NewAccount, NewAdvancedUser, NewStandardUser, Store, StoreError};
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
            "ws_eligibility",
            "tracking_tool:all",
            "invoices:all",
            "dashboard",
        ]),
        admin_password: "AdminPass123".into(),
        upstream_login: number.into(),
        upstream_password: format!("upstream-secret-{number}"),
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

/// Creates an account and an active advanced user linked to it; returns (account id, user id, key).
async fn active_advanced(
    store: &Store,
    number: &str,
    login: &str,
    ids: &[&str],
) -> (i64, i64, ConnectionKey) {
    let acc = match store
        .account_by_number(&AccountNumber::parse(number).unwrap())
        .await
    {
        Ok(a) => a,
        Err(_) => store
            .create_account(Actor::Operator, new_account(number))
            .await
            .unwrap(),
    };
    let (user, _inv, token) = store
        .create_advanced_user(
            Actor::AccountAdmin { account_id: acc.id },
            acc.id,
            NewAdvancedUser {
                profile: profile(login),
                tag: Some(Tag::parse("NORD").unwrap()),
                rights: rights(ids),
                department_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(user.status, UserStatus::Invited);
    let act = store
        .accept_invitation(&token, &Login::parse(login).unwrap(), "UserPass123", None)
        .await
        .unwrap();
    (acc.id, user.id, act.connection_key)
}

both!(
    account_creation_and_typed_errors,
    |store: Store| async move {
        let acc = store
            .create_account(Actor::Operator, new_account("900138"))
            .await
            .unwrap();
        assert_eq!(acc.number.as_str(), "900138");
        assert_eq!(store.departments(acc.id).await.unwrap().len(), 1);
        let creds = store.upstream_credentials(acc.id).await.unwrap();
        assert_eq!(creds.password, "upstream-secret-900138");
        assert!(store
            .verify_account_admin(&acc.number, "AdminPass123")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .verify_account_admin(&acc.number, "wrong-pass1")
            .await
            .unwrap()
            .is_none());

        let (accounts, changes, audits) = (
            count(&store, "accounts").await,
            count(&store, "change_log").await,
            count(&store, "audit_log").await,
        );
        // Duplicate account number: typed conflict naming the field, nothing written.
        match store
            .create_account(Actor::Operator, new_account("900138"))
            .await
        {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "accountNumber"),
            other => panic!("expected conflict, got {other:?}"),
        }
        // Bad input names the field.
        let mut bad = new_account("900139");
        bad.company = "  ".into();
        match store.create_account(Actor::Operator, bad).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, "company"),
            other => panic!("expected invalid, got {other:?}"),
        }
        assert_eq!(count(&store, "accounts").await, accounts);
        assert_eq!(count(&store, "users").await, 1, "only the main contact");
        assert_eq!(count(&store, "change_log").await, changes);
        assert_eq!(count(&store, "audit_log").await, audits);
        // Unknown account.
        assert!(matches!(
            store.account(4242).await,
            Err(StoreError::NotFound("account"))
        ));
        assert!(matches!(
            store
                .create_standard_user(
                    Actor::Operator,
                    4242,
                    NewStandardUser {
                        profile: profile("Ghost"),
                        login: Login::parse("ghost").unwrap(),
                        password: "GhostPass1".into(),
                        rights: RightSet::EMPTY,
                        department_id: None,
                    }
                )
                .await,
            Err(StoreError::NotFound("account"))
        ));
    }
);

both!(
    delegation_rule_names_the_right_and_writes_nothing,
    |store: Store| async move {
        let acc = store
            .create_account(Actor::Operator, new_account("900200"))
            .await
            .unwrap();
        let users = count(&store, "users").await;
        let res = store
            .create_advanced_user(
                Actor::AccountAdmin { account_id: acc.id },
                acc.id,
                NewAdvancedUser {
                    profile: profile("Durand"),
                    tag: None,
                    rights: rights(&["ws_tracking", "ws_pickup_point"]),
                    department_id: None,
                },
            )
            .await;
        match res {
            Err(StoreError::Delegation(e)) => {
                assert_eq!(e.id, "ws_pickup_point");
                assert!(e
                    .to_string()
                    .contains("Web Service choix du point de livraison"));
            }
            other => panic!("expected delegation error, got {other:?}"),
        }
        let res = store
            .create_standard_user(
                Actor::AccountAdmin { account_id: acc.id },
                acc.id,
                NewStandardUser {
                    profile: profile("Martin"),
                    login: Login::parse("martin").unwrap(),
                    password: "MartinPass1".into(),
                    rights: rights(&["dashboard", "collection"]),
                    department_id: None,
                },
            )
            .await;
        assert!(
            matches!(res, Err(StoreError::Delegation(ref e)) if e.id == "collection"),
            "{res:?}"
        );
        // Advanced-only right on a standard user, standard-only right on an advanced user.
        let res = store
            .create_standard_user(
                Actor::AccountAdmin { account_id: acc.id },
                acc.id,
                NewStandardUser {
                    profile: profile("Martin"),
                    login: Login::parse("martin").unwrap(),
                    password: "MartinPass1".into(),
                    rights: rights(&["ws_postage"]),
                    department_id: None,
                },
            )
            .await;
        assert!(
            matches!(res, Err(StoreError::Invalid(ref e)) if e.field == "rights"),
            "{res:?}"
        );
        assert_eq!(count(&store, "users").await, users);
        assert_eq!(count(&store, "links").await, 1);
    }
);

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
        assert_eq!(p.status, UserStatus::Active);
        assert_eq!(p.tag.as_ref().map(|t| t.as_str()), Some("NORD"));
        assert_eq!(p.links.len(), 1);
        assert_eq!(p.links[0].account_id, acc);
        assert_eq!(
            p.links[0].rights.ids(),
            ["ws_tracking", "tracking_tool:own"]
        );
        assert_eq!(p.links[0].upstream.password, "upstream-secret-900300");
        assert!(p.is_usable(sesame_domain::model::now_millis()));
        // An unknown key finds nothing.
        let other = store.hasher().hash_key(&ConnectionKey::generate());
        assert!(store.principal_by_key_hash(&other).await.unwrap().is_none());
        // Login taken by another invitation: conflict naming login.
        let acc2 = store
            .account_by_number(&AccountNumber::parse("900300").unwrap())
            .await
            .unwrap();
        let (_u, _i, token) = store
            .create_advanced_user(
                Actor::AccountAdmin {
                    account_id: acc2.id,
                },
                acc2.id,
                NewAdvancedUser {
                    profile: profile("Second"),
                    tag: None,
                    rights: RightSet::EMPTY,
                    department_id: None,
                },
            )
            .await
            .unwrap();
        match store
            .accept_invitation(
                &token,
                &Login::parse("jdupont").unwrap(),
                "UserPass123",
                None,
            )
            .await
        {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "login"),
            other => panic!("expected login conflict, got {other:?}"),
        }
        // The failed attempt did not burn the invitation; a good login works; then it is single use.
        store
            .accept_invitation(
                &token,
                &Login::parse("second").unwrap(),
                "UserPass123",
                None,
            )
            .await
            .unwrap();
        match store
            .accept_invitation(&token, &Login::parse("third").unwrap(), "UserPass123", None)
            .await
        {
            Err(StoreError::Rule(m)) => assert!(m.contains("already been used")),
            other => panic!("expected reuse refusal, got {other:?}"),
        }
        assert!(matches!(
            store.invitation_by_token("no-such-token").await,
            Err(StoreError::NotFound(_))
        ));
    }
);

both!(expired_invitation_is_refused, |store: Store| async move {
    let acc = store
        .create_account(Actor::Operator, new_account("900310"))
        .await
        .unwrap();
    let (user, _i, token) = store
        .create_advanced_user(
            Actor::AccountAdmin { account_id: acc.id },
            acc.id,
            NewAdvancedUser {
                profile: profile("Late"),
                tag: None,
                rights: RightSet::EMPTY,
                department_id: None,
            },
        )
        .await
        .unwrap();
    sqlx::query("UPDATE invitations SET expires_at = expires_at - 49 * 3600 * 1000")
        .execute(store.raw_pool())
        .await
        .unwrap();
    match store
        .accept_invitation(&token, &Login::parse("late").unwrap(), "UserPass123", None)
        .await
    {
        Err(StoreError::Rule(m)) => assert!(m.contains("expired")),
        other => panic!("expected expiry, got {other:?}"),
    }
    // Resending issues a new working link.
    let (_u, _inv, token2) = store
        .resend_invitation(Actor::AccountAdmin { account_id: acc.id }, acc.id, user.id)
        .await
        .unwrap();
    store
        .accept_invitation(&token2, &Login::parse("late").unwrap(), "UserPass123", None)
        .await
        .unwrap();
});

both!(
    key_regeneration_with_and_without_grace,
    |store: Store| async move {
        let (_acc, user_id, key1) =
            active_advanced(&store, "900400", "regen", &["ws_tracking"]).await;
        let h1 = store.hasher().hash_key(&key1);
        let v0 = store.latest_version().await.unwrap();
        let key2 = store
            .regenerate_connection_key(Actor::User { user_id }, user_id, None)
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
            .regenerate_connection_key(Actor::User { user_id }, user_id, Some(60_000))
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
        assert!(old.is_usable(sesame_domain::model::now_millis()));
        assert!(!old.is_usable(sesame_domain::model::now_millis() + 61_000));
    }
);

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
        let other = store
            .create_account(Actor::Operator, new_account("900501"))
            .await
            .unwrap();
        let user = store.user(user_id).await.unwrap();
        let uk = user.user_key.unwrap();
        // Associate by user key on a second account with other rights.
        store
            .associate(
                Actor::AccountAdmin {
                    account_id: other.id,
                },
                other.id,
                &uk,
                rights(&["ws_eligibility"]),
            )
            .await
            .unwrap();
        assert!(matches!(
            store
                .associate(
                    Actor::AccountAdmin {
                        account_id: other.id
                    },
                    other.id,
                    &uk,
                    RightSet::EMPTY
                )
                .await,
            Err(StoreError::Rule(_))
        ));
        assert!(matches!(
            store
                .associate(
                    Actor::AccountAdmin {
                        account_id: other.id
                    },
                    other.id,
                    &UserKey::generate(),
                    RightSet::EMPTY
                )
                .await,
            Err(StoreError::NotFound("user"))
        ));
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
        store
            .unlink(Actor::AccountAdmin { account_id: acc }, acc, user_id)
            .await
            .unwrap();
        assert!(store
            .principal_by_key_hash(&h)
            .await
            .unwrap()
            .unwrap()
            .links
            .is_empty());
        assert!(store.user(user_id).await.is_ok());
        // Disable the user.
        store
            .set_user_status(Actor::Operator, None, user_id, false, Some("départ"))
            .await
            .unwrap();
        let p = store.principal_by_key_hash(&h).await.unwrap().unwrap();
        assert!(!p.is_usable(sesame_domain::model::now_millis()));
        // The audit log kept the comments.
        let log = store
            .audit_log(&sesame_store::AuditFilter {
                user_id: Some(user_id),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(log
            .iter()
            .any(|e| e.action == "user.status" && e.comment.as_deref() == Some("départ")));
    }
);

both!(legacy_password_principals, |store: Store| async move {
    let acc = store
        .create_account(Actor::Operator, new_account("900600"))
        .await
        .unwrap();
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
    store
        .create_standard_user(
            Actor::AccountAdmin { account_id: acc.id },
            acc.id,
            NewStandardUser {
                profile: profile("Std"),
                login: Login::parse("std.user").unwrap(),
                password: "StdPass123".into(),
                rights: rights(&["ws_tracking", "dashboard"]),
                department_id: None,
            },
        )
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

both!(
    change_log_is_monotonic_and_every_write_is_audited,
    |store: Store| async move {
        let mut local = store.subscribe_local();
        let v0 = store.latest_version().await.unwrap();
        let (acc, user_id, _key) =
            active_advanced(&store, "900700", "audited", &["ws_tracking"]).await;
        store
            .set_link_rights(
                Actor::AccountAdmin { account_id: acc },
                acc,
                user_id,
                rights(&["ws_postage"]),
            )
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
        w.change(ChangeKind::User, None, None, None).await.unwrap();
        assert!(matches!(
            w.commit().await,
            Err(StoreError::Unrecorded("audit entry"))
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
    }
);

both!(
    duplicate_user_key_is_a_typed_conflict,
    |store: Store| async move {
        let (_acc, user_id, _key) = active_advanced(&store, "900800", "dupkey", &[]).await;
        let user = store.user(user_id).await.unwrap();
        // Force a second row with the same key under the interface: the constraint holds and the
        // error names the field.
        let err = sqlx::query(
        "INSERT INTO users (kind, last_name, first_name, function, phone, address, postal_code, city, country, status, user_key, created_at, updated_at) \
         VALUES ('advanced', 'x', 'y', 'f', 'p', 'a', 'pc', 'c', 'FR', 'active', $1, 0, 0)",
    )
    .bind(user.user_key.unwrap().as_str().to_owned())
    .execute(store.raw_pool())
    .await
    .unwrap_err();
        assert!(matches!(
            StoreError::from(err),
            StoreError::Conflict { field: "userKey" }
        ));
    }
);

// Secrets never reach the database in clear: scan every text and blob cell of every table.
both!(no_secret_is_stored_in_clear, |store: Store| async move {
    let (acc, _user_id, key) =
        active_advanced(&store, "900900", "secretive", &["ws_tracking"]).await;
    let (_u, _i, token) = store
        .create_advanced_user(
            Actor::AccountAdmin { account_id: acc },
            acc,
            NewAdvancedUser {
                profile: profile("Pending"),
                tag: None,
                rights: RightSet::EMPTY,
                department_id: None,
            },
        )
        .await
        .unwrap();
    let secrets = [
        key.expose().to_owned(),
        key.expose().to_lowercase(),
        "upstream-secret-900900".to_owned(),
        "AdminPass123".to_owned(),
        "UserPass123".to_owned(),
        token.clone(),
    ];
    let tables = [
        "accounts",
        "departments",
        "users",
        "links",
        "invitations",
        "sessions",
        "import_jobs",
        "audit_log",
        "change_log",
        "outbox",
    ];
    let mut cells = 0;
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM {t}"))
            .fetch_all(store.raw_pool())
            .await
            .unwrap();
        for row in &rows {
            for i in 0..row.len() {
                let text: Option<String> = row.try_get::<Option<String>, _>(i).ok().flatten();
                let blob: Option<Vec<u8>> = row.try_get::<Option<Vec<u8>>, _>(i).ok().flatten();
                let hay = text.map(String::into_bytes).or(blob).unwrap_or_default();
                cells += 1;
                for s in &secrets {
                    assert!(
                        !hay.windows(s.len()).any(|w| w == s.as_bytes()),
                        "secret found in clear in {t}"
                    );
                }
            }
        }
    }
    assert!(cells > 50, "scanned {cells} cells");
    if store.backend() == Backend::Sqlite {
        // And in the file itself (WAL included), byte for byte.
        let url = store.url().to_owned();
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        store.close().await;
        for f in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&f) {
                for s in &secrets {
                    assert!(
                        !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                        "secret in clear in {f}"
                    );
                }
            }
        }
    }
});
