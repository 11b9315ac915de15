//! The portal's "Editer mon compte", "Mes factures" and "Coliship" (issue 14): over HTTP on both
//! backends (hostile cases: no CSRF token, another account's invoice, a forged account, an
//! account admin or nobody at the door), and in Chromium (screenshots saved).

use sesame_testkit::admin::{active_advanced, Server};
use sesame_testkit::seed::{ADMIN_PASSWORD, USER_PASSWORD};
use sesame_testkit::{both, Backend};

use crate::browser::Browser;
use crate::client::Visitor;

const NUMBER: &str = "900138";
const ENTITLED: [&str; 5] = [
    "ws_postage",
    "coliship",
    "tracking_tool:all",
    "invoices:all",
    "site_access",
];

/// An account with an advanced user `jdupont` (signed in at the console); returns the server,
/// the admin's token, the user's id and connection key, and the user's browser-like client.
async fn advanced(backend: Backend) -> (Server, String, i64, String, Visitor) {
    let s = Server::start_own_url(backend).await;
    let admin = s.account(NUMBER, &ENTITLED).await;
    let (id, _, key, _) = active_advanced(
        &s,
        NUMBER,
        &admin,
        "jdupont",
        &["coliship", "tracking_tool:all"],
    )
    .await;
    let mut b = Visitor::new(&s.base);
    assert_eq!(b.sign_in("jdupont", USER_PASSWORD).await.status, 303);
    (s, admin, id, key, b)
}

/// Who may open "Editer mon compte": a user; nobody → the sign-in page (and back after); an
/// account admin → refused; `/console/account` sends a user here.
async fn only_users_open_their_account_page(backend: Backend) {
    let (s, _, _, _, mut b) = advanced(backend).await;
    let mut nobody = Visitor::new(&s.base);
    let p = nobody.get("/console/mon-compte").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), "/console/sign-in?next=/console/mon-compte");
    for path in [
        "/console/mon-compte/cle",
        "/console/mon-compte/mot-de-passe",
    ] {
        let p = nobody.post(path, &[("_csrf", "x")]).await;
        assert_eq!(p.status, 303, "{path}: no session");
        assert!(p.location().starts_with("/console/sign-in"), "{path}");
    }

    let mut admin = Visitor::new(&s.base);
    assert_eq!(admin.sign_in(NUMBER, ADMIN_PASSWORD).await.status, 303);
    let p = admin.get("/console/mon-compte").await;
    assert_eq!(p.status, 403);
    assert!(
        p.body.contains("Cet espace est celui des utilisateurs"),
        "{}",
        p.body
    );
    let p = admin
        .submit(
            "/console/account",
            "/console/mon-compte/mot-de-passe",
            &[
                ("currentPassword", ADMIN_PASSWORD),
                ("password", "NewAdmin123"),
                ("passwordConfirmation", "NewAdmin123"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    // The admin's password is unchanged (signing in with it still works).
    s.sign_in_admin(NUMBER).await;

    let p = b.get("/console/account").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), "/console/mon-compte");
    let p = b.get("/console/mon-compte").await;
    assert_eq!(p.status, 200);
    for text in [
        "Clé utilisateur",
        "Clé de connexion au WS",
        "Regénérer",
        "Droits sur les comptes",
        "Interface d'affranchissement Coliship",
        "Société 900138",
    ] {
        assert!(p.body.contains(text), "{text} missing:\n{}", p.body);
    }
    s.shutdown().await;
}
both!(only_users_open_their_account_page);

/// Every form of the page refuses a post without its CSRF token, and writes nothing.
async fn forms_without_csrf_write_nothing(backend: Backend) {
    let (s, _, id, _, mut b) = advanced(backend).await;
    let before = s.store.user(id).await.unwrap();
    for (path, fields) in [
        ("/console/mon-compte", vec![("phone", "0999999999")]),
        ("/console/mon-compte/cle", vec![("graceSeconds", "0")]),
        (
            "/console/mon-compte/mot-de-passe",
            vec![
                ("currentPassword", USER_PASSWORD),
                ("password", "Changed123"),
                ("passwordConfirmation", "Changed123"),
            ],
        ),
    ] {
        let p = b.post(path, &fields).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(p.body.contains("Formulaire refusé"), "{path}");
        let mut forged = fields.clone();
        forged.push(("_csrf", "0000"));
        assert_eq!(b.post(path, &forged).await.status, 403, "{path}");
    }
    let after = s.store.user(id).await.unwrap();
    assert_eq!(before.profile.phone, after.profile.phone);
    assert_eq!(before.updated_at, after.updated_at, "nothing written");
    assert_eq!(s.sign_in_user("jdupont", USER_PASSWORD).await.0, 201);
    s.shutdown().await;
}
both!(forms_without_csrf_write_nothing);

/// The details: a refused e-mail confirmation is named next to its field and writes nothing; a
/// good change is saved and said so.
async fn details_are_edited_with_field_errors(backend: Backend) {
    let (s, _, id, _, mut b) = advanced(backend).await;
    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte",
            &[
                ("lastName", "Dupont"),
                ("firstName", "Jean"),
                ("function", "Logisticien"),
                ("phone", "0102030405"),
                ("email", "autre@example.fr"),
                ("emailConfirmation", "pas-pareil@example.fr"),
                ("address", "1 rue de la Poste"),
                ("postalCode", "75001"),
                ("city", "Paris"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("id=\"f-emailConfirmation-error\""),
        "{}",
        p.body
    );
    assert!(p.body.contains("Les deux saisies ne correspondent pas."));
    let u = s.store.user(id).await.unwrap();
    assert_eq!(u.profile.email.unwrap().as_str(), "jdupont@example.fr");

    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte",
            &[
                ("lastName", "Dupont"),
                ("firstName", "Jean"),
                ("function", "Chef de quai"),
                ("phone", "0611223344"),
                ("email", "jdupont@example.fr"),
                ("emailConfirmation", "jdupont@example.fr"),
                ("address", "1 rue de la Poste"),
                ("postalCode", "75001"),
                ("city", "Paris"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), "/console/mon-compte?done=saved");
    let u = s.store.user(id).await.unwrap();
    assert_eq!(u.profile.phone, "0611223344");
    assert_eq!(u.profile.function, "Chef de quai");
    let p = b.get("/console/mon-compte?done=saved").await;
    assert!(p.body.contains("Vos informations ont été enregistrées."));
    // A huge value is refused, naming the field, not stored.
    let huge = "x".repeat(70_000);
    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte",
            &[("city", &huge)],
        )
        .await;
    assert_eq!(p.status, 413);
    assert_eq!(s.store.user(id).await.unwrap().profile.city, "Paris");
    s.shutdown().await;
}
both!(details_are_edited_with_field_errors);

/// The password: each rule's refusal sits next to its field; the right change signs in.
async fn password_change_names_each_field(backend: Backend) {
    let (s, _, _, _, mut b) = advanced(backend).await;
    let form = "/console/mon-compte";
    let action = "/console/mon-compte/mot-de-passe";
    for (current, new, confirm, field, text) in [
        (
            "WrongPass1",
            "Changed123",
            "Changed123",
            "currentPassword",
            "Ce n'est pas votre mot de passe actuel.",
        ),
        (
            USER_PASSWORD,
            "Changed123",
            "Changed124",
            "passwordConfirmation",
            "Les deux saisies ne correspondent pas.",
        ),
        (
            USER_PASSWORD,
            "court1",
            "court1",
            "password",
            "8 à 128 caractères.",
        ),
        (
            USER_PASSWORD,
            "sanschiffre",
            "sanschiffre",
            "password",
            "Au moins une lettre et un chiffre.",
        ),
    ] {
        let p = b
            .submit(
                form,
                action,
                &[
                    ("currentPassword", current),
                    ("password", new),
                    ("passwordConfirmation", confirm),
                ],
            )
            .await;
        assert_eq!(p.status, 422, "{field}: {}", p.body);
        assert!(
            p.body.contains(&format!("id=\"f-{field}-error\"")),
            "{field}: {}",
            p.body
        );
        assert!(p.body.contains(text), "{field}: {text}\n{}", p.body);
        assert_eq!(
            s.sign_in_user("jdupont", USER_PASSWORD).await.0,
            201,
            "unchanged"
        );
    }
    let p = b
        .submit(
            form,
            action,
            &[
                ("currentPassword", USER_PASSWORD),
                ("password", "Changed123"),
                ("passwordConfirmation", "Changed123"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), "/console/mon-compte?done=password");
    assert_eq!(s.sign_in_user("jdupont", USER_PASSWORD).await.0, 401);
    assert_eq!(s.sign_in_user("jdupont", "Changed123").await.0, 201);
    s.shutdown().await;
}
both!(password_change_names_each_field);

/// "Regénérer": the new key is on the answer page only (never in a URL or on the page after),
/// the old one stops working at once without a grace period; a grace period over 7 days is
/// refused, naming the field; a standard user has no key to regenerate.
async fn the_key_is_regenerated_and_shown_once(backend: Backend) {
    let (s, admin, id, old_key, mut b) = advanced(backend).await;
    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte/cle",
            &[("graceSeconds", "99999999")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("id=\"f-graceSeconds-error\""), "{}", p.body);

    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte/cle",
            &[("graceSeconds", "0")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.headers.get("location").is_none());
    assert_eq!(p.headers["cache-control"], "no-store");
    let key = key_on(&p.body);
    assert_ne!(key, old_key);
    assert!(
        p.body.contains("cette clé ne sera plus affichée"),
        "{}",
        p.body
    );
    assert!(p.body.contains("L'ancienne clé ne fonctionne plus."));
    let again = b.get("/console/mon-compte").await;
    assert!(!again.body.contains(&key), "shown once");
    // The store knows the new key, not the old one.
    let hasher = s.store.hasher();
    let k = sesame_domain::ConnectionKey::parse(&key).unwrap();
    let holder = s
        .store
        .principal_by_key_hash(&hasher.hash_key(&k))
        .await
        .unwrap();
    assert_eq!(holder.map(|p| p.user_id), Some(id));
    let old = sesame_domain::ConnectionKey::parse(&old_key).unwrap();
    let holder = s
        .store
        .principal_by_key_hash(&hasher.hash_key(&old))
        .await
        .unwrap();
    assert!(holder.is_none(), "the old key stopped at once");

    // A grace period: the answer says until when the old key works.
    let p = b
        .submit(
            "/console/mon-compte",
            "/console/mon-compte/cle",
            &[("graceSeconds", "3600")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("L'ancienne clé reste valable jusqu'au"),
        "{}",
        p.body
    );

    // A standard user: no key section, and a forged post is refused.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{NUMBER}/users"),
            &admin,
            sesame_testkit::admin::standard_body("Martin", "mmartin", &["coliship", "site_access"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let mut std = Visitor::new(&s.base);
    assert_eq!(std.sign_in("mmartin", "StdPass123").await.status, 303);
    let p = std.get("/console/mon-compte").await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains("Regénérer"));
    assert!(p.body.contains("Mot de passe actuel"));
    let p = std
        .submit(
            "/console/mon-compte",
            "/console/mon-compte/cle",
            &[("graceSeconds", "0")],
        )
        .await;
    assert!(p.status >= 400, "{}", p.status);
    s.shutdown().await;
}
both!(the_key_is_regenerated_and_shown_once);

/// The 32 hexadecimal characters of the key shown on the answer page.
fn key_on(body: &str) -> String {
    let marker = "id=\"nouvelle-cle\">";
    let i = body
        .find(marker)
        .unwrap_or_else(|| panic!("no key in:\n{body}"))
        + marker.len();
    let key = body[i..i + 32].to_owned();
    assert!(
        key.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "{key}"
    );
    key
}

/// "Editer mon compte" in Chromium: the page, a password change, signing in with the new one.
#[tokio::test]
async fn browser_edit_my_account_password() {
    let (s, _, _, _, _) = advanced(Backend::Sqlite).await;
    let b = Browser::start(&s.base, "portal-mon-compte").await;
    b.sign_in("jdupont", USER_PASSWORD).await;
    b.goto("/console/mon-compte").await;
    b.wait_text("Droits sur les comptes").await;
    b.shot("editer-mon-compte").await;
    b.fill("#f-currentPassword", USER_PASSWORD).await;
    b.fill("#f-password", "Nouveau2026").await;
    b.fill("#f-passwordConfirmation", "Nouveau2027").await;
    b.click("#mot-de-passe button[type=submit]").await;
    b.wait_text("Les deux saisies ne correspondent pas.").await;
    b.shot("mot-de-passe-refuse").await;
    b.fill("#f-currentPassword", USER_PASSWORD).await;
    b.fill("#f-password", "Nouveau2026").await;
    b.fill("#f-passwordConfirmation", "Nouveau2026").await;
    b.click("#mot-de-passe button[type=submit]").await;
    b.wait_text("Votre mot de passe a été changé.").await;
    b.click("header form.signout button").await;
    b.wait_text("Vous êtes déconnecté.").await;
    b.sign_in("jdupont", "Nouveau2026").await;
    b.goto("/console/mon-compte").await;
    b.wait_text("Clé utilisateur").await;
    b.close().await;
    s.shutdown().await;
}
