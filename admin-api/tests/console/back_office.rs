//! The back office and the outbox view over HTTP (issue 13 screens 6 and 7), on both backends:
//! the operator's pages refuse everyone else, every form needs its CSRF token, another
//! company's ids are "not found", the "Accès autorisé" toggle leaves its comment in "Suivi
//! client", the audit filters, the impersonation and its end, the outbox's clickable links.

use serde_json::Value;
use sesame_testkit::admin::{advanced_body, standard_body, Server, OPERATOR};
use sesame_testkit::seed::ADMIN_PASSWORD;
use sesame_testkit::{both, Backend};

use crate::client::{Page, Visitor};

const NUMBER: &str = "900138";
const OTHER: &str = "839181";
const ENT: &[&str] = sesame_store::testing::ENTITLEMENTS;

/// Two companies, a collaborator "collab" of the first (id returned) and one of the second.
async fn server(backend: Backend) -> (Server, i64, i64) {
    let s = Server::start_own_url(backend).await;
    let ent: Vec<&str> = ENT.iter().copied().chain(["site_access"]).collect();
    let admin = s.account(NUMBER, &ent).await;
    let other = s.account(OTHER, &ent).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Collab", "collab", &["dashboard", "site_access"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &other,
            standard_body("Autre", "autre", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    (s, id, v["id"].as_i64().unwrap())
}

async fn operator(s: &Server) -> Visitor {
    let mut b = Visitor::new(&s.base);
    let p = b.sign_in_operator(OPERATOR).await;
    assert_eq!((p.status, p.location()), (303, "/console/back-office"));
    b
}

async fn status_of(s: &Server, number: &str, id: i64) -> String {
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/{number}/users/{id}"), OPERATOR)
        .await;
    assert_eq!(st, 200, "{v}");
    v["status"].as_str().unwrap().to_owned()
}

fn sheet(id: i64) -> String {
    format!("/console/back-office/accounts/{NUMBER}/contacts/{id}")
}

async fn audit(s: &Server, query: &str) -> Vec<Value> {
    let (st, v) = s.get(&format!("/admin/v1/audit?{query}"), OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn only_the_operator_reaches_the_back_office(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let pages = [
        "/console/back-office".to_owned(),
        "/console/back-office/accounts/new".to_owned(),
        format!("/console/back-office/accounts/{NUMBER}"),
        sheet(id),
        format!("{}/message", sheet(id)),
        "/console/back-office/audit".to_owned(),
        "/console/outbox".to_owned(),
        "/console/outbox/1".to_owned(),
    ];
    // Nobody signed in: the operator's sign-in.
    let mut anon = Visitor::new(&s.base);
    for p in &pages {
        let page = anon.get(p).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/console/operator/sign-in"),
            "{p}"
        );
    }
    // An account admin and a user: refused, and shown nothing of the page.
    let mut admin = Visitor::new(&s.base);
    assert_eq!(admin.sign_in(NUMBER, ADMIN_PASSWORD).await.status, 303);
    let mut user = Visitor::new(&s.base);
    assert_eq!(user.sign_in("collab", "StdPass123").await.status, 303);
    for b in [&mut admin, &mut user] {
        for p in &pages {
            let page = b.get(p).await;
            assert_eq!(page.status, 403, "{p}: {}", page.body);
            assert!(page.body.contains("réservé à l'opérateur"), "{p}");
            assert!(!page.body.contains("Suivi client") && !page.body.contains("Invitation"));
        }
    }
    // Their posts, with their own valid token, write nothing.
    let before = audit(&s, "action=user.status").await.len();
    for b in [&mut admin, &mut user] {
        let p = b
            .submit(
                "/console/account",
                &format!("{}/access", sheet(id)),
                &[("comment", "x")],
            )
            .await;
        assert_eq!(p.status, 403, "{}", p.body);
        let p = b
            .submit(
                "/console/account",
                "/console/back-office/accounts/new",
                &[("number", "123456"), ("company", "Pirate")],
            )
            .await;
        assert_eq!(p.status, 403);
        let p = b
            .submit(
                "/console/account",
                &format!("{}/impersonate", sheet(id)),
                &[],
            )
            .await;
        assert_eq!(p.status, 403);
    }
    assert_eq!(status_of(&s, NUMBER, id).await, "active");
    assert_eq!(audit(&s, "action=user.status").await.len(), before);
    assert!(audit(&s, "action=session.impersonate").await.is_empty());
    let (st, _) = s.get("/admin/v1/accounts/123456", OPERATOR).await;
    assert_eq!(st, 404);
    s.shutdown().await;
}
both!(only_the_operator_reaches_the_back_office);

async fn access_toggle_comment_shows_in_suivi_client(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let mut b = operator(&s).await;
    // The company's sheet lists its contacts with their action menu.
    let company = b
        .get(&format!("/console/back-office/accounts/{NUMBER}"))
        .await;
    assert_eq!(company.status, 200, "{}", company.body);
    for label in [
        "Liste contacts",
        "Ajouter un collaborateur",
        "Visualiser",
        "Renvoyer le mot de passe",
        "Connexion à l&#39;espace client",
        "Ecrire un e-mail",
    ] {
        assert!(
            company.body.contains(label) || company.body.contains(&label.replace("&#39;", "'")),
            "{label}"
        );
    }
    // Untick "Accès autorisé" with a comment.
    let p = b
        .submit(
            &sheet(id),
            &format!("{}/access", sheet(id)),
            &[("comment", "départ de l'entreprise")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p
        .location()
        .starts_with(&format!("{}?done=access-denied", sheet(id))));
    assert_eq!(status_of(&s, NUMBER, id).await, "disabled");
    let (st, _) = s.sign_in_user("collab", "StdPass123").await;
    assert_eq!(st, 401, "no access, no sign-in");
    let page = b.get(&sheet(id)).await;
    let suivi = &page.body[page.body.find("Suivi client").unwrap()..];
    assert!(suivi.contains("Accès autorisé : décoché"), "{suivi}");
    assert!(
        suivi.contains("départ de l&#39;entreprise") || suivi.contains("départ de l'entreprise"),
        "{suivi}"
    );
    // Audited as the operator, like the API's twin.
    let e = &audit(&s, &format!("action=user.status&userId={id}")).await[0];
    assert_eq!(e["actor"]["kind"], "operator");
    assert_eq!(e["comment"], "départ de l'entreprise");
    // Ticking it again, without a comment, is in the timeline too.
    let p = b
        .submit(
            &sheet(id),
            &format!("{}/access", sheet(id)),
            &[("allowed", "true")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(status_of(&s, NUMBER, id).await, "active");
    let page = b.get(&sheet(id)).await;
    assert!(page.body.contains("Accès autorisé : coché"));
    // The same state again changes nothing and writes nothing.
    let n = audit(&s, "action=user.status").await.len();
    let p = b
        .submit(
            &sheet(id),
            &format!("{}/access", sheet(id)),
            &[("allowed", "true")],
        )
        .await;
    assert!(p.location().contains("access-unchanged"));
    assert_eq!(audit(&s, "action=user.status").await.len(), n);
    // A comment longer than 500 characters is refused, nothing written.
    let long = "é".repeat(501);
    let p = b
        .submit(
            &sheet(id),
            &format!("{}/access", sheet(id)),
            &[("comment", long.as_str())],
        )
        .await;
    assert_eq!(p.status, 422);
    assert_eq!(status_of(&s, NUMBER, id).await, "active");
    s.shutdown().await;
}
both!(access_toggle_comment_shows_in_suivi_client);

async fn posts_without_a_csrf_token_write_nothing(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let mut b = operator(&s).await;
    let mut other = operator(&s).await;
    let foreign = other.get("/console/back-office").await.csrf();
    let writes: [(String, Vec<(&str, &str)>); 5] = [
        (format!("{}/access", sheet(id)), vec![("comment", "x")]),
        (format!("{}/password", sheet(id)), vec![]),
        (format!("{}/impersonate", sheet(id)), vec![]),
        (
            format!("{}/message", sheet(id)),
            vec![("subject", "s"), ("body", "b")],
        ),
        (
            "/console/back-office/accounts/new".to_owned(),
            vec![("number", "123456"), ("company", "X")],
        ),
    ];
    let changes = s.count("change_log").await;
    let mails = s.count("outbox").await;
    for (path, fields) in &writes {
        let p: Page = b.post(path, fields).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(p.body.contains("Formulaire refusé"), "{path}");
        let mut with_foreign = vec![("_csrf", foreign.as_str())];
        with_foreign.extend(fields.iter().copied());
        let p = b.post(path, &with_foreign).await;
        assert_eq!(p.status, 403, "{path} with another session's token");
    }
    assert_eq!(s.count("change_log").await, changes, "nothing written");
    assert_eq!(s.count("outbox").await, mails, "nothing sent");
    assert_eq!(status_of(&s, NUMBER, id).await, "active");
    s.shutdown().await;
}
both!(posts_without_a_csrf_token_write_nothing);

async fn another_companys_contact_is_not_found(backend: Backend) {
    let (s, _, foreign) = server(backend).await;
    let mut b = operator(&s).await;
    // The other company's collaborator, under this company's path.
    for p in [sheet(foreign), format!("{}/message", sheet(foreign))] {
        assert_eq!(b.get(&p).await.status, 404, "{p}");
    }
    for action in ["access", "password", "impersonate", "message"] {
        let p = b
            .submit(
                "/console/back-office",
                &format!("{}/{action}", sheet(foreign)),
                &[("subject", "s"), ("body", "b")],
            )
            .await;
        assert_eq!(p.status, 404, "{action}: {}", p.body);
    }
    assert_eq!(status_of(&s, OTHER, foreign).await, "active");
    // Ids that are no ids, and unknown companies.
    for p in [
        format!("/console/back-office/accounts/{NUMBER}/contacts/abc"),
        format!("/console/back-office/accounts/{NUMBER}/contacts/-1"),
        "/console/back-office/accounts/000000".to_owned(),
        "/console/back-office/accounts/me".to_owned(),
        "/console/outbox/999999".to_owned(),
        "/console/outbox/x".to_owned(),
    ] {
        assert_eq!(b.get(&p).await.status, 404, "{p}");
    }
    s.shutdown().await;
}
both!(another_companys_contact_is_not_found);

async fn accounts_are_created_and_listed(backend: Backend) {
    let (s, _, _) = server(backend).await;
    let mut b = operator(&s).await;
    let list = b.get("/console/back-office").await;
    assert!(list.body.contains(NUMBER) && list.body.contains(OTHER));
    let found = b.get("/console/back-office?q=8391").await;
    assert!(found.body.contains(OTHER) && !found.body.contains(&format!(">{NUMBER}<")));
    // A bad number is named next to its field; nothing is created.
    let fields = [
        ("number", "12ab"),
        ("company", "Nouvelle Société"),
        ("contractType", "PRIVILEGE"),
        ("adminPassword", ADMIN_PASSWORD),
        ("upstreamLogin", "777777"),
        ("upstreamPassword", "secret"),
        ("departments", "Logistique\r\nCompta"),
        ("entitlements", "ws_tracking"),
        ("entitlements", "tracking_tool:all"),
    ];
    let p = b
        .submit(
            "/console/back-office/accounts/new",
            "/console/back-office/accounts/new",
            &fields,
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("f-number-error"), "{}", p.body);
    assert!(
        p.body.contains("value=\"Nouvelle Société\""),
        "what was typed stays"
    );
    let mut good = fields.to_vec();
    good[0] = ("number", "777777");
    let p = b
        .submit(
            "/console/back-office/accounts/new",
            "/console/back-office/accounts/new",
            &good,
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location(),
        "/console/back-office/accounts/777777?done=created"
    );
    let (st, v) = s.get("/admin/v1/accounts/777777", OPERATOR).await;
    assert_eq!(st, 200);
    let mut ent: Vec<&str> = v["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    ent.sort_unstable();
    assert_eq!(ent, ["tracking_tool:all", "ws_tracking"]);
    assert_eq!(v["departments"].as_array().unwrap().len(), 2);
    // The account admin signs in with the password given (the kit's sign-in asserts it).
    s.sign_in_admin("777777").await;
    s.shutdown().await;
}
both!(accounts_are_created_and_listed);

async fn audit_page_filters(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let mut b = operator(&s).await;
    b.submit(
        &sheet(id),
        &format!("{}/access", sheet(id)),
        &[("comment", "motif A")],
    )
    .await;
    let all = b.get("/console/back-office/audit").await;
    assert!(all.body.contains("Connexion") && all.body.contains("motif A"));
    // Accounts are shown by their numbers, not the store's ids.
    assert!(
        all.body
            .contains(&format!("Administrateur du compte {NUMBER}")),
        "{}",
        all.body
    );
    assert!(all.body.contains(&format!("<td>{NUMBER}</td>")));
    let only = b.get("/console/back-office/audit?action=user.status").await;
    assert!(only.body.contains("motif A"), "{}", only.body);
    let rows = &only.body[only.body.find("<tbody>").unwrap()..];
    assert!(!rows.contains("Création du compte"), "{rows}");
    let other_user = b
        .get(&format!(
            "/console/back-office/audit?action=user.status&userId={}",
            id + 1000
        ))
        .await;
    assert!(!other_user.body.contains("motif A"));
    let by_account = b
        .get(&format!(
            "/console/back-office/audit?accountNumber={OTHER}&action=user."
        ))
        .await;
    assert!(!by_account.body.contains("motif A"));
    // A bad filter is said next to its field.
    let bad = b.get("/console/back-office/audit?from=yesterday").await;
    assert!(bad.body.contains("f-from-error"), "{}", bad.body);
    s.shutdown().await;
}
both!(audit_page_filters);

async fn impersonation_is_audited_bannered_and_ends(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let mut b = operator(&s).await;
    let operator_session = b.cookies["sesame_session"].clone();
    let p = b
        .submit(
            &sheet(id),
            &format!("{}/impersonate", sheet(id)),
            &[("comment", "ticket 42")],
        )
        .await;
    assert_eq!(
        (p.status, p.location()),
        (303, "/console/account"),
        "{}",
        p.body
    );
    assert_ne!(b.cookies["sesame_session"], operator_session);
    let space = b.get("/console/mon-compte").await;
    assert!(
        space.body.contains("Session d&#39;assistance")
            || space.body.contains("Session d'assistance")
    );
    assert!(space.body.contains("Collab"), "the collaborator's own page");
    let e = &audit(&s, "action=session.impersonate").await[0];
    assert_eq!(e["comment"], "ticket 42");
    // The back office is not reachable from inside the impersonation.
    assert_eq!(b.get("/console/back-office").await.status, 403);
    let p = b
        .submit(
            "/console/account",
            "/console/back-office/impersonation/end",
            &[],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location(),
        format!("{}?done=impersonation-ended", sheet(id))
    );
    assert_eq!(b.cookies["sesame_session"], operator_session);
    assert!(!b.cookies.contains_key("sesame_operator"));
    assert_eq!(b.get("/console/back-office").await.status, 200);
    // The impersonation's session is over.
    assert_eq!(audit(&s, "action=session.revoke").await.len(), 1);
    // Ending when there is nothing to end does nothing.
    let p = b
        .submit(
            "/console/back-office",
            "/console/back-office/impersonation/end",
            &[],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(b.get("/console/back-office").await.status, 200);
    s.shutdown().await;
}
both!(impersonation_is_audited_bannered_and_ends);

async fn outbox_shows_mails_with_clickable_links(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let admin = s.sign_in_admin(NUMBER).await;
    let email = "invite@example.fr";
    let (st, _) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            &admin,
            advanced_body("Invité", email, &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201);
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    let mut b = operator(&s).await;
    // "Ecrire un e-mail" and "Renvoyer le mot de passe" from the back office land there too.
    let p = b
        .submit(
            &format!("{}/message", sheet(id)),
            &format!("{}/message", sheet(id)),
            &[
                ("subject", "Bonjour"),
                (
                    "body",
                    "Votre accès est rétabli.\n\nVoir https://example.org/aide",
                ),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b
        .submit(&sheet(id), &format!("{}/password", sheet(id)), &[])
        .await;
    assert!(p.location().contains("password-sent"), "{}", p.location());
    let list = b.get(&format!("/console/outbox?to={email}")).await;
    assert!(list.body.contains("finalisez la création"), "{}", list.body);
    assert!(!list.body.contains("Bonjour"), "filtered by recipient");
    let all = b.get("/console/outbox").await;
    assert!(all.body.contains("Bonjour") && all.body.contains("réinitialisation"));
    let id_of_invitation = {
        let (_, v) = s
            .get(&format!("/admin/v1/outbox?to={email}"), OPERATOR)
            .await;
        v["items"][0]["id"].as_i64().unwrap()
    };
    let mail = b.get(&format!("/console/outbox/{id_of_invitation}")).await;
    let link = format!("{}/admin/v1/invitations/{token}", s.base);
    assert!(
        mail.body
            .contains(&format!("<a href=\"{link}\">{link}</a>")),
        "{}",
        mail.body
    );
    // The message's own link is clickable; nothing else becomes markup.
    let (_, v) = s
        .get("/admin/v1/outbox?to=collab@example.fr", OPERATOR)
        .await;
    let message = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == "Bonjour")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let m = b.get(&format!("/console/outbox/{message}")).await;
    assert!(
        m.body.contains("<a href=\"https://example.org/aide\">"),
        "{}",
        m.body
    );
    s.shutdown().await;
}
both!(outbox_shows_mails_with_clickable_links);

async fn accounts_are_changed_after_creation(backend: Backend) {
    let (s, id, _) = server(backend).await;
    let mut b = operator(&s).await;
    let base = format!("/console/back-office/accounts/{NUMBER}");
    let edit = b.get(&format!("{base}/edit")).await;
    assert_eq!(edit.status, 200);
    // Entitlements replaced: "dashboard" withdrawn from the account, and so from its user.
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/entitlements"),
            &[
                ("entitlements", "ws_tracking"),
                ("entitlements", "site_access"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location()),
        (303, format!("{base}?done=entitlements").as_str())
    );
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}"), OPERATOR)
        .await;
    assert_eq!(
        v["entitlements"],
        serde_json::json!(["ws_tracking", "site_access"])
    );
    let (_, u) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}/users/{id}"), OPERATOR)
        .await;
    assert_eq!(u["effectiveRights"], serde_json::json!(["site_access"]));
    // An unknown right is refused, naming the field; nothing changes.
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/entitlements"),
            &[("entitlements", "everything")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("f-entitlements-error"));
    // Carrier credentials: replaced, the password never shown.
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/upstream"),
            &[
                ("upstreamLogin", "900138-b"),
                ("upstreamPassword", "nouveau-secret"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        s.store
            .upstream_credentials(
                s.store
                    .account_by_number(&NUMBER.parse().unwrap())
                    .await
                    .unwrap()
                    .id
            )
            .await
            .unwrap()
            .password,
        "nouveau-secret"
    );
    assert!(!b
        .get(&format!("{base}/edit"))
        .await
        .body
        .contains("nouveau-secret"));
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/upstream"),
            &[("upstreamLogin", "x")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("f-upstreamPassword-error"), "{}", p.body);
    // A department, then the same name again: refused next to the field.
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/departments"),
            &[("name", "Expédition")],
        )
        .await;
    assert_eq!(p.status, 303);
    let p = b
        .submit(
            &format!("{base}/edit"),
            &format!("{base}/departments"),
            &[("name", "Expédition")],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("f-name-error"), "{}", p.body);
    // Without its token, or from an account admin, nothing is done.
    let p = b
        .post(
            &format!("{base}/entitlements"),
            &[("entitlements", "ws_postage")],
        )
        .await;
    assert_eq!(p.status, 403);
    let mut admin = Visitor::new(&s.base);
    admin.sign_in(NUMBER, ADMIN_PASSWORD).await;
    let p = admin
        .submit(
            "/console/account",
            &format!("{base}/entitlements"),
            &[("entitlements", "ws_postage")],
        )
        .await;
    assert_eq!(p.status, 403);
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}"), OPERATOR)
        .await;
    assert_eq!(
        v["entitlements"],
        serde_json::json!(["ws_tracking", "site_access"])
    );
    s.shutdown().await;
}
both!(accounts_are_changed_after_creation);
