//! The console over HTTP: sign-in and sign-out with a cookie session, CSRF refusals, the
//! operator's session, the language switch. Both backends.

use sesame_testkit::admin::{Server, OPERATOR};
use sesame_testkit::seed::ADMIN_PASSWORD;
use sesame_testkit::{both, Backend};

use crate::client::Visitor;

const NUMBER: &str = "900138";

async fn server(backend: Backend) -> Server {
    let s = Server::start_own_url(backend).await;
    s.account(NUMBER, &["ws_postage", "ws_tracking", "tracking_tool:all"])
        .await;
    s
}

async fn audit_count(s: &Server, action: &str) -> i64 {
    let (st, v) = s
        .get(
            &format!("/admin/v1/audit?action={action}&perPage=200"),
            OPERATOR,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().len() as i64
}

async fn sign_in_and_out_with_a_strict_cookie(backend: Backend) {
    let s = server(backend).await;
    let mut b = Visitor::new(&s.base);
    // The tracking link's OK button leads to `/`: the sign-in page.
    let root = b.get("/").await;
    assert_eq!((root.status, root.location()), (303, "/console/"));
    let start = b.get("/console/").await;
    assert_eq!(start.location(), "/console/sign-in");
    let page = b.get("/console/sign-in").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Connectez-vous"), "{}", page.body);
    assert!(page.body.contains("Mot de passe oublié ?"));
    let pre = page.set_cookie("sesame_pre").unwrap();
    assert!(
        pre.contains("HttpOnly") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    let before = audit_count(&s, "session.create").await;

    let wrong = b.sign_in(NUMBER, "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong
        .body
        .contains("Identifiant ou mot de passe incorrect."));
    // What was typed stays, except the password.
    assert!(wrong.body.contains(&format!("value=\"{NUMBER}\"")));

    let ok = b.sign_in(NUMBER, ADMIN_PASSWORD).await;
    assert_eq!(
        (ok.status, ok.location()),
        (303, "/console/"),
        "{}",
        ok.body
    );
    let cookie = ok.set_cookie("sesame_session").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // Plain HTTP public URL: not Secure (see `secure_under_an_https_public_url`).
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(audit_count(&s, "session.create").await, before + 1);

    let account = b.get("/console/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Société 900138"), "{}", account.body);
    assert!(account.body.contains("Gestion des utilisateurs"));
    assert_eq!(account.headers["cache-control"], "no-store");
    assert!(account.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));

    // The cookie's token is a store session: the API's sign-out rule ends it.
    let token = b.cookies["sesame_session"].clone();
    let (st, _) = s.get("/admin/v1/me", &token).await;
    assert_eq!(st, 200);
    let out = b.submit("/console/account", "/console/sign-out", &[]).await;
    assert_eq!(out.location(), "/console/sign-in?done=signed-out");
    assert!(out
        .set_cookie("sesame_session")
        .unwrap()
        .contains("Max-Age=0"));
    let (st, _) = s.get("/admin/v1/me", &token).await;
    assert_eq!(st, 401, "the session is revoked, not only forgotten");
    // Replaying the old cookie opens nothing.
    b.cookies.insert("sesame_session".into(), token);
    let again = b.get("/console/account").await;
    assert_eq!(
        (again.status, again.location()),
        (303, "/console/sign-in?next=/console/account")
    );
    s.shutdown().await;
}
both!(sign_in_and_out_with_a_strict_cookie);

async fn a_post_without_a_valid_csrf_token_is_refused(backend: Backend) {
    let s = server(backend).await;
    let mut b = Visitor::new(&s.base);
    b.get("/console/sign-in").await;
    // No token at all: refused before the password is checked (no audit, no session).
    let before = audit_count(&s, "session.create").await;
    let p = b
        .post(
            "/console/sign-in",
            &[("identifiant", NUMBER), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("Formulaire refusé"), "{}", p.body);
    assert!(p.set_cookie("sesame_session").is_none());
    // Another visitor's token does not do either.
    let mut other = Visitor::new(&s.base);
    let foreign = other.get("/console/sign-in").await.csrf();
    let p = b
        .post(
            "/console/sign-in",
            &[
                ("_csrf", foreign.as_str()),
                ("identifiant", NUMBER),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(audit_count(&s, "session.create").await, before);

    // Signed in: the pre-session token is spent, a post with it is refused and changes nothing.
    let stale = b.get("/console/sign-in").await.csrf();
    assert_eq!(b.sign_in(NUMBER, ADMIN_PASSWORD).await.status, 303);
    let p = b
        .post("/console/sign-out", &[("_csrf", stale.as_str())])
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(
        b.get("/console/account").await.status,
        200,
        "still signed in"
    );
    // A form that is not url-encoded text is refused too, and a huge one is bounded.
    let big = "x".repeat(200_000);
    let p = b.post("/console/sign-out", &[("junk", big.as_str())]).await;
    assert_eq!(p.status, 413);
    s.shutdown().await;
}
both!(a_post_without_a_valid_csrf_token_is_refused);

async fn the_operator_signs_in_with_the_token_once(backend: Backend) {
    let s = server(backend).await;
    let mut b = Visitor::new(&s.base);
    let p = b
        .submit(
            "/console/operator/sign-in",
            "/console/operator/sign-in",
            &[("token", "not-the-operator-token")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("Jeton opérateur incorrect."), "{}", p.body);
    assert!(p.set_cookie("sesame_session").is_none());
    let p = b
        .submit(
            "/console/operator/sign-in",
            "/console/operator/sign-in",
            &[("token", OPERATOR)],
        )
        .await;
    assert_eq!((p.status, p.location()), (303, "/console/back-office"));
    let token = b.cookies["sesame_session"].clone();
    assert_ne!(
        token, OPERATOR,
        "the cookie holds a session, never the operator token"
    );
    let account = b.get("/console/account").await;
    assert!(account.body.contains("opérateur"), "{}", account.body);
    // The session speaks for the operator, audited as the operator.
    let (st, v) = s.get("/admin/v1/accounts", &token).await;
    assert_eq!(st, 200, "{v}");
    // Signing out ends it.
    b.submit("/console/account", "/console/sign-out", &[]).await;
    let (st, _) = s.get("/admin/v1/accounts", &token).await;
    assert_eq!(st, 401);
    s.shutdown().await;
}
both!(the_operator_signs_in_with_the_token_once);

#[tokio::test]
async fn secure_under_an_https_public_url_and_no_open_redirects() {
    // The test kit's default public URL is https://sesame.example.
    let s = Server::start(Backend::Sqlite).await;
    s.account(NUMBER, &["ws_postage"]).await;
    let mut b = Visitor::new(&s.base);
    let page = b.get("/console/sign-in").await;
    assert!(page.set_cookie("sesame_pre").unwrap().contains("; Secure"));
    let csrf = page.csrf();
    let p = b
        .post(
            "/console/sign-in",
            &[
                ("_csrf", csrf.as_str()),
                ("identifiant", NUMBER),
                ("password", ADMIN_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(p.location(), "/console/", "never sent to another site");
    assert!(p.set_cookie("sesame_session").unwrap().contains("; Secure"));
    // The language switch comes back to console pages only.
    let l = b.get("/console/lang/en?back=https://evil.example/").await;
    assert_eq!(l.location(), "/console/");
    let l = b.get("/console/lang/en?back=/console/account").await;
    assert_eq!(l.location(), "/console/account");
    let en = b.get("/console/account").await;
    assert!(
        en.body.contains("My account") && en.body.contains("lang=\"en\""),
        "{}",
        en.body
    );
    assert_eq!(b.get("/console/lang/de").await.status, 404);
    s.shutdown().await;
}

/// "Mot de passe oublié ?" for the account admin (seed 000 §3: "renseignez votre identifiant et
/// votre adresse mail utilisée lors de la souscription"): the 6-digit number and the main
/// contact's address get a reset link that sets the admin's password; a mismatch gets the same
/// page and no mail.
async fn the_account_admin_resets_a_forgotten_password_from_the_console(backend: Backend) {
    const A: &str = "832519";
    const BOSS: &str = "direction@societe.example.fr";
    let s = Server::start_own_url(backend).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts",
            OPERATOR,
            serde_json::json!({
                "number": A, "company": "Société A", "entitlements": ["ws_tracking"],
                "adminPassword": "AdminPass123", "upstreamLogin": A, "upstreamPassword": "upstream-secret",
                "contact": {"lastName": "Durand", "firstName": "Anne", "function": "Gérante",
                    "phone": "0102030405", "email": BOSS, "address": "1 rue", "postalCode": "75001",
                    "city": "Paris", "country": "France"},
            }),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let mut b = Visitor::new(&s.base);
    let wrong = b
        .submit(
            "/console/forgot-password",
            "/console/forgot-password",
            &[("login", A), ("email", "someone@else.example.fr")],
        )
        .await;
    let right = b
        .submit(
            "/console/forgot-password",
            "/console/forgot-password",
            &[("login", A), ("email", "Direction@Societe.example.fr")],
        )
        .await;
    assert_eq!((wrong.status, right.status), (200, 200));
    assert!(
        right.body.contains("Si ces informations correspondent"),
        "{}",
        right.body
    );
    // The work is done after the answer: wait for the one mail.
    let mut mails = Vec::new();
    for _ in 0..200 {
        mails = s.mails(BOSS).await;
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        mails.len(),
        1,
        "one mail, for the matching pair only: {mails:?}"
    );
    let token = s.mailed_token(BOSS, "/admin/v1/password-resets/").await;
    let (st, _) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            serde_json::json!({"password": "Nouveau12345", "passwordConfirmation": "Nouveau12345"}),
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        b.sign_in(A, "Nouveau12345").await.status,
        303,
        "the new password opens the console"
    );
    s.shutdown().await;
}
both!(the_account_admin_resets_a_forgotten_password_from_the_console);
