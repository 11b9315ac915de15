//! The portal's "Editer mon compte", "Mes factures" and "Coliship" (issue 14): over HTTP on both
//! backends (hostile cases: no CSRF token, another account's invoice, a forged account, an
//! account admin or nobody at the door), and in Chromium (screenshots saved).

use std::collections::BTreeSet;

use fantoccini::Locator;
use sesame_testkit::admin::{active_advanced, Server};
use sesame_testkit::portal::{
    Portal, ACCOUNT_A, ACCOUNT_B, ADVANCED, STRANGER, USER_PASSWORD as PORTAL_PASSWORD,
};
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
        assert_eq!(p.status, 403, "{path}: no session, no valid token");
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
    b.wait_text("Se déconnecter").await; // signed in before going on
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
    b.wait_text("Se déconnecter").await; // signed in before going on
    b.goto("/console/mon-compte").await;
    b.wait_text("Clé utilisateur").await;
    b.close().await;
    s.shutdown().await;
}

// ---- Mes factures and Coliship: the portal fixture (gateway + admin API on one store) ----

/// A user's console client, signed in with `login`.
async fn portal_visitor(p: &Portal, login: &str) -> Visitor {
    let mut b = Visitor::new(p.console());
    let page = b.sign_in(login, PORTAL_PASSWORD).await;
    assert_eq!(page.status, 303, "{login}: {}", page.body);
    b
}

/// The invoice numbers of a page of "Mes factures" (the checkboxes' values, `account/number`).
fn invoices_on(body: &str) -> BTreeSet<String> {
    invoice_order(body).into_iter().collect()
}

/// The rows of a page of "Mes factures", in order.
fn invoice_order(body: &str) -> Vec<String> {
    body.match_indices("name=\"invoice\" value=\"")
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// What the simulator holds for account A that `keep` (contact, department) selects, as
/// `account/number`.
fn sim_invoices(p: &Portal, keep: impl Fn(Option<&str>, Option<&str>) -> bool) -> BTreeSet<String> {
    p.stack
        .sim
        .invoices(ACCOUNT_A)
        .into_iter()
        .filter(|i| keep(i.contact_user_key.as_deref(), i.department.as_deref()))
        .map(|i| format!("{}/{}", i.account, i.number))
        .collect()
}

/// Another account's invoice PDF, an unknown one, and a malformed path → the 404 page, the
/// same for all; the gateway is asked only for well-formed ones. Nobody and an account admin
/// are kept out of every portal page; the download without a CSRF token is refused.
async fn invoices_are_bounded_to_the_gateways_scope(p: &Portal) {
    let mut nobody = Visitor::new(p.console());
    for path in ["/console/factures", "/console/coliship"] {
        let page = nobody.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location().starts_with("/console/sign-in?next="),
            "{path}"
        );
    }
    let mut admin = Visitor::new(p.console());
    assert_eq!(admin.sign_in(ACCOUNT_A, ADMIN_PASSWORD).await.status, 303);
    for path in [
        "/console/factures",
        "/console/coliship",
        "/console/mon-compte",
    ] {
        assert_eq!(admin.get(path).await.status, 403, "{path}");
    }

    // The stranger (account B only, invoices "own") asks for A's invoices.
    let mut b = portal_visitor(p, STRANGER).await;
    let a_invoice = p.stack.sim.invoices(ACCOUNT_A)[0].number.clone();
    for path in [
        format!("/console/factures/{ACCOUNT_A}/{a_invoice}/pdf"),
        format!("/console/factures/{ACCOUNT_B}/F000000000000/pdf"),
        format!("/console/factures/{ACCOUNT_A}/..%2F..%2Fx/pdf"),
        format!("/console/factures/12/{a_invoice}/pdf"),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(page.body.contains("Facture introuvable"), "{path}");
    }
    // Its own invoices: listed, and each PDF is a PDF.
    let page = b.get("/console/factures").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mine = invoices_on(&page.body);
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|i| i.starts_with(ACCOUNT_B)), "{mine:?}");
    let first = mine.iter().next().unwrap();
    let (acc, num) = first.split_once('/').unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/console/factures/{acc}/{num}/pdf", p.console()))
        .header(
            "cookie",
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF-"));

    // The zip: without a token refused; none ticked, a clear message; another account's
    // invoice among them → the 404 page, no archive.
    let page = b
        .post(
            "/console/factures/telecharger",
            &[("invoice", first.as_str())],
        )
        .await;
    assert_eq!(page.status, 403);
    let page = b
        .submit("/console/factures", "/console/factures/telecharger", &[])
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("aucune facture sélectionnée"),
        "{}",
        page.body
    );
    let foreign = format!("{ACCOUNT_A}/{a_invoice}");
    let page = b
        .submit(
            "/console/factures",
            "/console/factures/telecharger",
            &[("invoice", first.as_str()), ("invoice", foreign.as_str())],
        )
        .await;
    assert!(
        page.status == 404 || page.status == 403,
        "{}: {}",
        page.status,
        page.body
    );
    assert!(page
        .headers
        .get("content-type")
        .is_none_or(|c| c != "application/zip"));

    // Sorting goes through the gateway's `sort`: the stranger's invoices by amount, both ways.
    let mut by_amount: Vec<(i64, String)> = p
        .stack
        .sim
        .invoices(ACCOUNT_B)
        .into_iter()
        .filter(|i| mine.contains(&format!("{}/{}", i.account, i.number)))
        .map(|i| (i.amount_ttc_cents, format!("{}/{}", i.account, i.number)))
        .collect();
    by_amount.sort();
    let ascending: Vec<String> = by_amount.into_iter().map(|(_, n)| n).collect();
    let page = b.get("/console/factures?sort=amount").await;
    assert_eq!(invoice_order(&page.body), ascending);
    assert!(
        page.body.contains("sort=-amount"),
        "the heading offers the other way"
    );
    let page = b.get("/console/factures?sort=-amount").await;
    let mut descending = ascending.clone();
    descending.reverse();
    assert_eq!(invoice_order(&page.body), descending);

    // A search value that is too long is refused, naming the field, before the gateway.
    let huge = "9".repeat(5000);
    let page = b.get(&format!("/console/factures?company={huge}")).await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("id=\"f-company-error\""),
        "{}",
        page.body
    );
    let page = b.get("/console/factures?sort=secret").await;
    assert_eq!(page.status, 400);
}
both!(
    invoices_are_bounded,
    invoices_are_bounded_to_the_gateways_scope
);

/// Coliship over HTTP: an account the user does not hold `coliship` on (forged form) → refused
/// and nothing reaches the carrier; without a CSRF token → refused; a user without the right
/// anywhere is refused the page.
async fn coliship_refuses_forged_accounts(p: &Portal) {
    let mut b = portal_visitor(p, ADVANCED).await;
    let page = b.get("/console/coliship").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(ACCOUNT_A) && page.body.contains(ACCOUNT_B));
    p.stack.sim.clear_captured();
    let mut fields = label_fields(ACCOUNT_B);
    let page = b.post("/console/coliship", &fields).await;
    assert_eq!(page.status, 403, "no token");
    for forged in ["900999", "811003", "", "811001 OR 1=1"] {
        fields[0].1 = forged;
        let page = b
            .submit("/console/coliship", "/console/coliship", &fields)
            .await;
        assert_eq!(page.status, 403, "{forged}: {}", page.body);
    }
    let page = b.get("/console/coliship?compte=900999").await;
    assert_eq!(page.status, 403);
    assert!(no_label_sent(p), "nothing sent to the carrier");
    // A collaborator without Coliship: refused the page.
    let mut c = portal_visitor(p, "collab.tout").await;
    let page = c.get("/console/coliship").await;
    assert_eq!(page.status, 403);
    // A carrier refusal lands next to its field.
    let mut fields = label_fields(ACCOUNT_A);
    fields.iter_mut().find(|(k, _)| *k == "weight").unwrap().1 = "45";
    let page = b
        .submit("/console/coliship", "/console/coliship", &fields)
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("id=\"f-weight-error\""), "{}", page.body);
    assert!(page.body.contains("letter.parcel.weight"), "{}", page.body);
}
both!(coliship_forged_accounts, coliship_refuses_forged_accounts);

/// The Coliship form's fields for `account` (the contract first).
fn label_fields(account: &str) -> Vec<(&str, &str)> {
    vec![
        ("contractNumber", account),
        ("senderCompany", "HORIZON MOTO"),
        ("senderLine2", "11 RUE D EPLUCHES"),
        ("senderZip", "95310"),
        ("senderCity", "ST OUEN L AUMONE"),
        ("senderCountry", "FR"),
        ("lastName", "Martin"),
        ("firstName", "Claire"),
        ("line2", "3 place Bellecour"),
        ("zipCode", "69002"),
        ("city", "Lyon"),
        ("countryCode", "FR"),
        ("weight", "1,5"),
        ("productCode", "DOM"),
    ]
}

/// The collaborators' document visibility (seed 004) in Chromium: "own" sees only its
/// invoices, "department" its department's; the download of three invoices is a zip of three
/// valid PDFs; sorting and the PDF link.
#[tokio::test]
async fn browser_invoices_by_visibility_and_zip() {
    let p = Portal::start(Backend::Sqlite).await;
    let own = &p.collaborators[0];
    let dept = &p.collaborators[1];
    let b = Browser::start(p.console(), "portal-factures").await;

    // "Les pièces du contact".
    b.sign_in(&own.login, PORTAL_PASSWORD).await;
    b.wait_text("Se déconnecter").await; // signed in before going on
    b.goto("/console/factures").await;
    b.wait_text("facture(s) trouvée(s)").await;
    let expected = sim_invoices(&p, |c, _| c == Some(own.id.to_string().as_str()));
    assert!(
        !expected.is_empty(),
        "the simulator gives the contact invoices"
    );
    assert_eq!(shown_invoices(&b).await, expected);
    b.shot("mes-factures-contact").await;
    b.click("header form.signout button").await;
    b.wait_text("Vous êtes déconnecté.").await;

    // "Les pièces du service".
    b.sign_in(&dept.login, PORTAL_PASSWORD).await;
    b.wait_text("Se déconnecter").await; // signed in before going on
    b.goto("/console/factures").await;
    b.wait_text("facture(s) trouvée(s)").await;
    // The gateway's `group` scope: the department's invoices (its own count only under `own`).
    let expected = sim_invoices(&p, |_, d| d == Some("Logistique"));
    assert!(expected.len() >= 3, "{expected:?}");
    assert_ne!(expected, sim_invoices(&p, |_, _| true), "not all of them");
    assert_eq!(shown_invoices(&b).await, expected);
    b.shot("mes-factures-service").await;

    // Sorting on the amount, then the other way.
    b.click("th a[href*='sort=amount']").await;
    b.wait_text("▲").await;
    assert!(b.url().await.contains("sort=amount"));
    b.click("th a[href*='sort=-amount']").await;
    b.wait_text("▼").await;
    b.shot("mes-factures-tri").await;

    // Three ticked, "Télécharger": a zip of three valid PDFs.
    let boxes = b
        .client
        .find_all(Locator::Css("input[name=invoice]"))
        .await
        .unwrap();
    for cb in boxes.iter().take(3) {
        cb.click().await.unwrap();
    }
    b.shot("mes-factures-selection").await;
    b.click("#telecharger button[type=submit]").await;
    let zip = b.downloaded("factures").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("factures.zip");
    std::fs::write(&path, &zip).unwrap();
    let out = std::process::Command::new("unzip")
        .arg("-o")
        .arg(&path)
        .arg("-d")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pdfs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    assert_eq!(pdfs.len(), 3, "{pdfs:?}");
    for pdf in &pdfs {
        let check = std::process::Command::new("qpdf")
            .arg("--check")
            .arg(pdf)
            .output()
            .expect("qpdf (scripts/test.sh installs it)");
        assert!(
            check.status.success(),
            "{}: {}",
            pdf.display(),
            String::from_utf8_lossy(&check.stdout)
        );
    }
    b.close().await;
    p.shutdown().await;
}

/// The `account/number` of every invoice row on the page.
async fn shown_invoices(b: &Browser) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for cb in b
        .client
        .find_all(Locator::Css("input[name=invoice]"))
        .await
        .unwrap()
    {
        out.insert(cb.attr("value").await.unwrap().unwrap());
    }
    out
}

/// A label through the Coliship form for the **second** account: the carrier receives that
/// account's credentials and the user's key stamped; the parcel number is shown and the PDF
/// downloads.
#[tokio::test]
async fn browser_coliship_label_for_the_second_account() {
    let p = Portal::start(Backend::Sqlite).await;
    let b = Browser::start(p.console(), "portal-coliship").await;
    b.sign_in(ADVANCED, PORTAL_PASSWORD).await;
    b.wait_text("Se déconnecter").await; // signed in before going on
    b.goto("/console/coliship").await;
    b.wait_text("EXPÉDIER UN COLIS").await;
    b.shot("coliship").await;
    // The picker: the second account, its sender prefilled.
    b.client
        .find(Locator::Css(&format!(
            "#f-compte option[value='{ACCOUNT_B}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("form.choose button[type=submit]").await;
    // The sender's box names the chosen account once the page is the second account's (the
    // picker itself lists both: not a sign the page changed).
    b.wait_text(&format!("Compte : {ACCOUNT_B}")).await;
    let company = b
        .find("#f-senderCompany")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(company, format!("Société {ACCOUNT_B}"));
    b.fill("#f-senderLine2", "11 RUE D EPLUCHES").await;
    b.fill("#f-senderZip", "95310").await;
    b.fill("#f-senderCity", "ST OUEN L AUMONE").await;
    b.fill("#f-lastName", "Martin").await;
    b.fill("#f-line2", "3 place Bellecour").await;
    b.fill("#f-zipCode", "69002").await;
    b.fill("#f-city", "Lyon").await;
    b.fill("#f-countryCode", "FR").await;
    b.fill("#f-weight", "1,5").await;
    p.stack.sim.clear_captured();
    b.click("main form[method=post] .actions button[type=submit]")
        .await;
    b.wait_text("Étiquette générée").await;
    let parcel = b.text("#numero-colis").await;
    b.shot("coliship-etiquette").await;
    // What the carrier received: the second account's credentials, the user's key stamped.
    let captured = p.stack.sim.captured();
    let label = captured
        .iter()
        .find(|c| c.path.contains("generateLabel"))
        .expect("a label request");
    let sent: serde_json::Value = serde_json::from_slice(&label.body).unwrap();
    assert_eq!(sent["contractNumber"], ACCOUNT_B);
    assert_eq!(
        sent["password"],
        sesame_testkit::seed::upstream_password(ACCOUNT_B)
    );
    let stamps = sent["fields"]["field"].as_array().unwrap();
    assert!(
        stamps
            .iter()
            .any(|f| f["key"] == "USER_KEY" && f["value"] == p.advanced.user_key.as_str()),
        "{stamps:?}"
    );
    assert!(p
        .stack
        .sim
        .parcels(ACCOUNT_B)
        .iter()
        .any(|x| x.number == parcel));
    // The label downloads: a PDF.
    b.click("#etiquette a[download]").await;
    let pdf = b.downloaded("etiquette-").await;
    assert!(pdf.starts_with(b"%PDF-"));
    b.close().await;
    p.shutdown().await;
}

/// "Regénérer" in Chromium: the new key shown once; at the gateway the old key is refused (no
/// grace period) and the new one accepted.
#[tokio::test]
async fn browser_regenerated_key_works_at_the_gateway() {
    let p = Portal::start(Backend::Sqlite).await;
    let old = p.advanced.key.clone();
    // The gateway's answer to an invoice list asked with `key`.
    let tracked = |key: String| {
        let p = &p;
        async move {
            p.stack
                .get("/sesame/v1/invoices", &[("apiKey", key.as_str())])
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(tracked(old.clone()).await, 200);
    let b = Browser::start(p.console(), "portal-cle").await;
    b.sign_in(ADVANCED, PORTAL_PASSWORD).await;
    b.wait_text("Se déconnecter").await; // signed in before going on
    b.goto("/console/mon-compte").await;
    b.wait_text("Clé de connexion au WS").await;
    b.click("#cle-connexion button[type=submit]").await;
    // The confirmation the script asks for.
    if let Ok(()) = b.client.accept_alert().await {}
    b.wait_text("cette clé ne sera plus affichée").await;
    let new = b.text("#nouvelle-cle").await;
    assert_eq!(new.len(), 32);
    b.shot("nouvelle-cle").await;
    p.stack.settle().await;
    assert_eq!(tracked(new.clone()).await, 200, "the new key works");
    assert_eq!(tracked(old.clone()).await, 401, "the old key stopped");
    b.goto("/console/mon-compte").await;
    b.wait_text("Clé de connexion au WS").await;
    assert!(!b.page_text().await.contains(&new), "shown once");
    b.close().await;
    p.shutdown().await;
}

/// The gateway's label path with a session (what the Coliship form uses), asked directly: a
/// session without `coliship` on the account, an account admin's session, a signed-out one or
/// garbage are refused and nothing reaches the carrier; the right session for the second
/// account is stamped and carries that account's credentials.
async fn label_path_takes_sessions_with_coliship(p: &Portal) {
    use sesame_testkit::gateway::{label_body, LABEL};
    let post = |token: String, account: &'static str| {
        let p = &p;
        async move {
            let resp = p
                .stack
                .http
                .post(format!("{}{LABEL}", p.stack.url))
                .header("authorization", format!("Bearer {token}"))
                .json(&label_body(Some(account)))
                .send()
                .await
                .unwrap();
            // The label service answers every refusal in its multipart envelope (400): the
            // carrier's clients read the `jsonInfos` message, not the status.
            sesame_testkit::json_or_text(resp).await
        }
    };
    p.stack.sim.clear_captured();
    let collab = p.session("collab.tout").await;
    let (st, v) = post(collab, ACCOUNT_A).await;
    assert_eq!(st, 400, "no coliship right: {v}");
    assert!(v.to_string().contains("coliship"), "{v}");
    let stranger = p.session(STRANGER).await;
    assert_eq!(post(stranger, ACCOUNT_A).await.0, 400, "not linked to A");
    let admin = p.admin.sign_in_admin(ACCOUNT_A).await;
    assert_eq!(
        post(admin, ACCOUNT_A).await.0,
        400,
        "an account admin's session"
    );
    assert_eq!(post("garbage".into(), ACCOUNT_A).await.0, 400);
    assert_eq!(post("x".repeat(10_000), ACCOUNT_A).await.0, 400);
    let gone = p.session(ADVANCED).await;
    let (st, _) = p
        .admin
        .call(
            reqwest::Method::DELETE,
            "/admin/v1/sessions/current",
            Some(&gone),
            None,
        )
        .await;
    assert!(st == 204 || st == 200, "{st}");
    assert_eq!(post(gone, ACCOUNT_B).await.0, 400, "a signed-out session");
    assert!(no_label_sent(p), "nothing reached the carrier");
    let good = p.session(ADVANCED).await;
    let (st, v) = post(good, ACCOUNT_B).await;
    assert_eq!(st, 200, "{v}");
    let captured = p.stack.sim.captured();
    let sent = captured
        .iter()
        .find(|c| c.path.contains("generateLabel"))
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["contractNumber"], ACCOUNT_B);
    assert_eq!(
        sent["password"],
        sesame_testkit::seed::upstream_password(ACCOUNT_B)
    );
}
both!(label_sessions, label_path_takes_sessions_with_coliship);

/// Whether no label request reached the carrier.
fn no_label_sent(p: &Portal) -> bool {
    p.stack
        .sim
        .captured()
        .iter()
        .all(|c| !c.path.contains("generateLabel"))
}
