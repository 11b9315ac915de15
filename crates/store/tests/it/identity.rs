//! Identity ownership (issue 10 d1): the rule holds in the store itself, whatever handler calls
//! it.

use crate::common::*;
use sesame_store::UserUpdate;

/// Refused by the identity rule, naming `f`.
fn owned<T>(r: &Result<T, StoreError>, f: &str) -> bool {
    matches!(r, Err(StoreError::Forbidden { code: "identity_owned", field, .. }) if *field == f)
}

fn edit(p: &Profile) -> UserUpdate {
    UserUpdate {
        profile: p.clone(),
        tag: None,
        department_id: None,
        rights: None,
    }
}

both!(
    identity_of_a_confirmed_advanced_user_is_refused_to_every_account,
    |store: Store| async move {
        let a = account(&store, "900138").await;
        let b = account(&store, "839181").await;
        let (admin_a, admin_b) = (admin(a.id), admin(b.id));
        let (adv, token) = invited(&store, a.id, "Victim", &["ws_tracking"]).await;
        // Not linkable before confirmation.
        let uk = adv.user_key.unwrap();
        let early = store
            .associate(admin_b.clone(), b.id, &uk, RightSet::EMPTY, None)
            .await;
        assert_eq!(rule(early), RuleViolation::InvitationPending);
        let victim = Login::parse("victim").unwrap();
        store
            .accept_invitation(&token, &victim, "UserPass123", None)
            .await
            .unwrap();
        store
            .associate(admin_b.clone(), b.id, &uk, RightSet::EMPTY, None)
            .await
            .unwrap();
        let audits = audit_of_user(&store, adv.id).await.len();
        let mut evil = profile("Victim");
        evil.email = Some(Email::parse("attacker@evil.example").unwrap());
        for (actor, acc) in [(admin_b.clone(), b.id), (admin_a.clone(), a.id)] {
            let r = store.update_user(actor, acc, adv.id, edit(&evil)).await;
            assert!(owned(&r, "email"), "{r:?}");
        }
        // Each refused edit left its audit line, naming the fields it touched.
        let log = audit_of_user(&store, adv.id).await;
        let refused: Vec<_> = log
            .iter()
            .filter(|e| e.action == "user.identity_change_refused")
            .collect();
        assert_eq!((log.len(), refused.len()), (audits + 2, 2));
        assert!(refused
            .iter()
            .all(|e| e.after.as_deref() == Some(r#"{"fields":["email"]}"#)));
        let r = store
            .regenerate_connection_key(admin_b.clone(), adv.id, None)
            .await;
        assert!(owned(&r, "connectionKey"), "{r:?}");
        let r = store
            .change_password(admin_a.clone(), adv.id, "UserPass123", "NewPass123")
            .await;
        assert!(owned(&r, "password"), "{r:?}");
        let impersonating = Actor::Impersonating {
            account_id: b.id,
            user_id: adv.id,
        };
        let r = store
            .update_own_profile(impersonating, adv.id, evil.clone())
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
