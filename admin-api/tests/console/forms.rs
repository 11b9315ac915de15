//! The console's forms over HTTP, hostile cases first: refused input shows the error next to
//! its field and writes nothing; another account's user is not found; the import's upload needs
//! its token and is bounded; a user is not an account admin; a disabled account's session ends.
//! Both backends.

use sesame_testkit::admin::{active_advanced, Server, OPERATOR};
use sesame_testkit::seed::{ADMIN_PASSWORD, USER_PASSWORD};
use sesame_testkit::{both, Backend};

use crate::client::Visitor;

const NUMBER: &str = "900138";
const ENTITLED: [&str; 3] = ["ws_postage", "ws_tracking", "tracking_tool:all"];

async fn admin(s: &Server, number: &str) -> Visitor {
    let mut b = Visitor::new(&s.base);
    assert_eq!(b.sign_in(number, ADMIN_PASSWORD).await.status, 303);
    b
}

pub fn standard_fields<'a>(
    login: &'a str,
    email: &'a str,
    confirm: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("civility", "madame"),
        ("lastName", "Durand"),
        ("firstName", "Marie"),
        ("function", "Comptable"),
        ("phone", "0102030405"),
        ("email", email),
        ("emailConfirmation", email),
        ("address", "2 rue de la Poste"),
        ("postalCode", "75002"),
        ("city", "Paris"),
        ("country", "France"),
        ("login", login),
        ("password", "StdPass123"),
        ("passwordConfirmation", confirm),
        ("rights", "ws_tracking"),
    ]
}

async fn users_named(s: &Server, token: &str, q: &str) -> Vec<serde_json::Value> {
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}/users?q={q}"), token)
        .await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn a_refused_form_shows_the_field_error_and_writes_nothing(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    let token = s.account(NUMBER, &ENTITLED).await;
    let mut b = admin(&s, NUMBER).await;
    // Passwords that differ: the error sits next to the confirmation, in French.
    let p = b
        .submit(
            "/console/users/new",
            "/console/users/new",
            &standard_fields("m.durand", "marie@example.fr", "Different123"),
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    let at = p.body.find("id=\"f-passwordConfirmation-error\"").unwrap();
    assert!(p.body[at..].starts_with("id=\"f-passwordConfirmation-error\"><strong>Erreur : </strong>Les deux saisies ne correspondent pas."), "{}", &p.body[at..at + 200]);
    assert!(p.body.contains("aria-invalid=\"true\""));
    // What was typed is kept, passwords excepted.
    assert!(p.body.contains("value=\"m.durand\""));
    assert!(!p.body.contains("StdPass123"));
    assert!(
        users_named(&s, &token, "durand").await.is_empty(),
        "nothing written"
    );
    // A right the account does not hold: the delegation rule refuses, naming the right.
    let mut fields = standard_fields("m.durand", "marie@example.fr", "StdPass123");
    fields.push(("rights", "invoices:all"));
    let p = b
        .submit("/console/users/new", "/console/users/new", &fields)
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(
        p.body.contains("Vous ne pouvez pas donner le droit"),
        "{}",
        p.body
    );
    assert!(users_named(&s, &token, "durand").await.is_empty());
    // A formula in a field is stored as text and shown escaped, never as markup.
    let mut fields = standard_fields("m.durand", "marie@example.fr", "StdPass123");
    fields[1] = ("lastName", "=HYPERLINK(\"http://x\")<script>");
    let p = b
        .submit("/console/users/new", "/console/users/new", &fields)
        .await;
    assert_eq!(
        (p.status, p.location()),
        (303, "/console/users?done=standard-added"),
        "{}",
        p.body
    );
    let list = b.get("/console/users?done=standard-added").await;
    assert!(list.body.contains("L'utilisateur a été créé."));
    assert!(!list.body.contains("<script>"), "escaped");
    assert!(list
        .body
        .contains("=HYPERLINK(&quot;http://x&quot;)&lt;script&gt;"));
    let users = users_named(&s, &token, "m.durand").await;
    assert_eq!(users.len(), 1, "{users:?}");
    let rights: Vec<&str> = users[0]["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rights, ["ws_tracking"], "{users:?}");
    s.shutdown().await;
}
both!(a_refused_form_shows_the_field_error_and_writes_nothing);

async fn another_accounts_user_is_not_found(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    s.account(NUMBER, &ENTITLED).await;
    let other = s.account("900200", &ENTITLED).await;
    let (id, _, _, _) = active_advanced(&s, "900200", &other, "stranger", &["ws_postage"]).await;
    let mut b = admin(&s, NUMBER).await;
    let p = b.get(&format!("/console/users/{id}")).await;
    assert_eq!(p.status, 404);
    assert!(p.body.contains("Introuvable"));
    for action in [
        format!("/console/users/{id}"),
        format!("/console/users/{id}/delete"),
    ] {
        let p = b
            .submit(
                "/console/users",
                &action,
                &[("lastName", "Pirate"), ("rights", "ws_postage")],
            )
            .await;
        assert_eq!(p.status, 404, "{action}: {}", p.body);
    }
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/900200/users/{id}"), &other)
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["lastName"], "Dupont", "untouched");
    // Ids that are not numbers are not found either.
    assert_eq!(b.get("/console/users/1%20OR%201=1").await.status, 404);
    s.shutdown().await;
}
both!(another_accounts_user_is_not_found);

async fn the_import_upload_needs_its_token_and_is_bounded(backend: Backend) {
    let s = Server::start_at(backend, |cfg, base| {
        cfg.public_url = base.to_owned();
        cfg.max_import_bytes = 4096;
    })
    .await;
    let token = s.account(NUMBER, &ENTITLED).await;
    let mut b = admin(&s, NUMBER).await;
    let csrf = b.get("/console/imports").await.csrf();
    let csv = b"NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GEOGRAPHIQUE;CODE POSTAL;VILLE;WEB SERVICE AFFRANCHISSEMENT\r\nMartin;Jean;Agent;jean@example.fr;0102030405;1 rue;75001;Paris;oui\r\n";
    // No token, the file first, a wrong token: refused, nothing imported.
    for parts in [
        vec![("file", Some("a.csv"), &csv[..])],
        vec![
            ("file", Some("a.csv"), &csv[..]),
            ("_csrf", None, csrf.as_bytes()),
        ],
        vec![
            ("_csrf", None, &b"0000"[..]),
            ("file", Some("a.csv"), &csv[..]),
        ],
    ] {
        let p = b.post_multipart("/console/imports", &parts).await;
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("Formulaire refusé"));
    }
    let (st, _) = s
        .get(
            &format!("/admin/v1/accounts/{NUMBER}/imports/current"),
            &token,
        )
        .await;
    assert_eq!(st, 404, "no import started");
    // Larger than max_import_bytes: refused before it is read whole.
    let big = vec![b'x'; 64 * 1024];
    let p = b
        .post_multipart(
            "/console/imports",
            &[
                ("_csrf", None, csrf.as_bytes()),
                ("file", Some("big.csv"), &big),
            ],
        )
        .await;
    assert_eq!(p.status, 413, "{}", p.body);
    // Not a CSV of the template: the error is next to the file field.
    let p = b
        .post_multipart(
            "/console/imports",
            &[
                ("_csrf", None, csrf.as_bytes()),
                ("file", Some("x.csv"), b"hello;world\r\n"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("id=\"f-file-error\""), "{}", p.body);
    // A good one, with a path for a name: only the name is kept.
    let p = b
        .post_multipart(
            "/console/imports",
            &[
                ("_csrf", None, csrf.as_bytes()),
                ("file", Some("../../etc/a.csv"), &csv[..]),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location()),
        (303, "/console/imports?done=uploaded"),
        "{}",
        p.body
    );
    let job = s.wait_import(NUMBER, &token).await;
    assert_eq!(job["fileName"], "a.csv");
    assert_eq!(job["okLines"], 1, "{job}");
    // A second import within the 7 days: the page warns before, and says the result was replaced.
    let page = b.get("/console/imports").await;
    assert!(
        page.body.contains("le précédent fichier de résultat"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Récupérer les résultats"));
    let p = b
        .post_multipart(
            "/console/imports",
            &[
                ("_csrf", None, csrf.as_bytes()),
                ("file", Some("b.csv"), &csv[..]),
            ],
        )
        .await;
    assert_eq!(p.location(), "/console/imports?done=replaced");
    s.shutdown().await;
}
both!(the_import_upload_needs_its_token_and_is_bounded);

async fn users_are_not_account_admins_and_disabled_accounts_end_sessions(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    let token = s.account(NUMBER, &ENTITLED).await;
    let (_, user_key, _, _) =
        active_advanced(&s, NUMBER, &token, "kadj-mco", &["ws_postage"]).await;
    let mut u = Visitor::new(&s.base);
    assert_eq!(u.sign_in("kadj-mco", USER_PASSWORD).await.status, 303);
    let me = u.get("/console/mon-compte").await;
    assert!(
        me.body.contains(&user_key),
        "the user sees its key: {}",
        me.body
    );
    assert!(me.body.contains("Web Service Affranchissement"));
    let p = u.get("/console/users").await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("Action non autorisée"));
    // The operator disables the account: its admin's console session ends at once.
    let mut b = admin(&s, NUMBER).await;
    assert_eq!(b.get("/console/users").await.status, 200);
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{NUMBER}/status"),
            OPERATOR,
            serde_json::json!({"enabled": false, "comment": "test"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let p = b.get("/console/users").await;
    assert_eq!(
        (p.status, p.location()),
        (303, "/console/sign-in?next=/console/users")
    );
    s.shutdown().await;
}
both!(users_are_not_account_admins_and_disabled_accounts_end_sessions);
