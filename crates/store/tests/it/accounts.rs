//! Accounts: creation, typed refusals that write nothing, the delegation rule.

use crate::common::*;

both!(
    account_creation_and_typed_errors,
    |store: Store| async move {
        let acc = account(&store, "900138").await;
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
        let ghost = new_standard("Ghost", "ghost", "GhostPass1", &[]);
        assert!(matches!(
            store
                .create_standard_user(Actor::Operator, 4242, ghost)
                .await,
            Err(StoreError::NotFound("account"))
        ));
    }
);

both!(
    delegation_rule_names_the_right_and_writes_nothing,
    |store: Store| async move {
        let acc = account(&store, "900200").await;
        let users = count(&store, "users").await;
        let res = store
            .create_advanced_user(
                admin(acc.id),
                acc.id,
                new_advanced("Durand", &["ws_tracking", "ws_pickup_point"]),
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
        let martin = |ids: &[&str]| new_standard("Martin", "martin", "MartinPass1", ids);
        let res = store
            .create_standard_user(admin(acc.id), acc.id, martin(&["dashboard", "collection"]))
            .await;
        assert!(
            matches!(res, Err(StoreError::Delegation(ref e)) if e.id == "collection"),
            "{res:?}"
        );
        // Advanced-only right on a standard user.
        let res = store
            .create_standard_user(admin(acc.id), acc.id, martin(&["ws_postage"]))
            .await;
        assert!(
            matches!(res, Err(StoreError::Invalid(ref e)) if e.field == "rights"),
            "{res:?}"
        );
        assert_eq!(count(&store, "users").await, users);
        assert_eq!(count(&store, "links").await, 1);
    }
);
