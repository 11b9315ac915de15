//! Users: the users table of an account, edits, deletion, typed conflicts.

use crate::common::*;
use sesame_domain::model::UserKind;
use sesame_store::{UserFilter, UserUpdate};

/// A full replacement of the user's data: `profile`, with `tag` and `rights`.
fn update(profile: Profile, tag: Option<&str>, ids: Option<&[&str]>) -> UserUpdate {
    UserUpdate {
        profile,
        tag: tag.map(|t| Tag::parse(t).unwrap()),
        department_id: None,
        rights: ids.map(rights),
    }
}

both!(users_table_edit_and_delete, |store: Store| async move {
    let acc = account(&store, "910002").await;
    let admin = admin(acc.id);
    let s1 = standard(&store, acc.id, "Martin", "mmartin").await;
    standard(&store, acc.id, "Bernard_%", "bbernard").await;
    let (adv, _token) = invited(&store, acc.id, "Dupont", &["ws_tracking"]).await;
    let other = account(&store, "910003").await;
    standard(&store, other.id, "Ailleurs", "ailleurs").await;

    let all = UserFilter {
        limit: 100,
        ..Default::default()
    };
    let list = |f: UserFilter| {
        let store = store.clone();
        async move { store.list_account_users(acc.id, &f).await.unwrap() }
    };
    let (items, total) = list(all.clone()).await;
    assert_eq!(total, 4, "main contact + 2 standard + 1 advanced");
    assert!(items[0].user.main_contact);
    let (items, total) = list(UserFilter {
        kind: Some(UserKind::Advanced),
        ..all.clone()
    })
    .await;
    assert_eq!((total, items[0].user.id), (1, adv.id));
    assert_eq!(items[0].rights, rights(&["ws_tracking"]));
    let search = |q: &str| UserFilter {
        q: Some(q.into()),
        ..all.clone()
    };
    assert_eq!(list(search("MART")).await.1, 1);
    // LIKE wildcards in the search are literal.
    assert_eq!(list(search("_%")).await.1, 1);
    let (page, total) = list(UserFilter {
        offset: 3,
        limit: 2,
        ..all.clone()
    })
    .await;
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
            update(p.clone(), None, Some(&["ws_pickup_point"])),
        )
        .await;
    assert!(
        matches!(res, Err(StoreError::Delegation(ref e)) if e.id == "ws_pickup_point"),
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
            update(p, Some("SUD"), Some(&["ws_postage"])),
        )
        .await
        .unwrap();
    assert_eq!(u.profile.last_name, "Renamed");
    let link = store.link(adv.id, acc.id).await.unwrap();
    assert_eq!(link.tag.unwrap().as_str(), "SUD");
    assert_eq!(link.rights, rights(&["ws_postage"]));
    assert_eq!(count(&store, "audit_log").await, audits + 1);
    // Another account's user is not found.
    let res = store
        .update_user(
            admin.clone(),
            other.id,
            adv.id,
            update(profile("X"), None, None),
        )
        .await;
    assert!(matches!(res, Err(StoreError::NotFound(_))));
    // The main contact's rights follow the account; it is never deleted, nor an advanced user.
    let contact = list(all.clone()).await.0[0].user.id;
    let res = store
        .update_user(
            admin.clone(),
            acc.id,
            contact,
            update(profile("Contact"), None, Some(&["dashboard"])),
        )
        .await;
    assert_eq!(rule(res), RuleViolation::MainContactRights);
    store
        .delete_standard_user(admin.clone(), acc.id, s1)
        .await
        .unwrap();
    assert!(matches!(store.user(s1).await, Err(StoreError::NotFound(_))));
    assert_eq!(
        rule(
            store
                .delete_standard_user(admin.clone(), acc.id, adv.id)
                .await
        ),
        RuleViolation::AdvancedUserDeletion
    );
    assert_eq!(
        rule(
            store
                .delete_standard_user(admin.clone(), acc.id, contact)
                .await
        ),
        RuleViolation::MainContactDeletion
    );
    // A standard user is deleted, never unlinked; an invited user is not enabled.
    let s2 = list(search("Bernard")).await.0[0].user.id;
    assert_eq!(
        rule(store.unlink(admin.clone(), acc.id, s2).await),
        RuleViolation::StandardUserUnlink
    );
    assert_eq!(
        rule(
            store
                .set_user_status(admin, Some(acc.id), adv.id, true, None)
                .await
        ),
        RuleViolation::InvitationPending
    );
});

both!(
    duplicate_user_key_is_a_typed_conflict,
    |store: Store| async move {
        let (_acc, user_id, _key) = active_advanced(&store, "900800", "dupkey", &[]).await;
        let user = store.user(user_id).await.unwrap();
        // Force a second row with the same key under the interface: the constraint holds and the
        // error names the field.
        let err = sqlx::query(
            "INSERT INTO users (kind, last_name, first_name, function, phone, address, postal_code, \
             city, country, status, user_key, created_at, updated_at) \
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
