//! The portal's tracking tool (issue 14): over HTTP on both backends (who may see which page,
//! CSRF, another account's parcel, hostile parameters, the gateway down, the tracking link's
//! OK button, pins, impersonation) and in Chromium (`browser_*`, screenshots of each screen).
//!
//! Every test runs the real gateway (simulator, store) **and** the admin API on the same store
//! (`sesame_testkit::portal::Portal`): the portal's pages go through the gateway over HTTP.

use reqwest::StatusCode;
use serde_json::Value;
use sesame_store::AuditFilter;
use sesame_testkit::admin::{Server, OPERATOR};
use sesame_testkit::gateway::LINK;
use sesame_testkit::portal::{Portal, ACCOUNT_A, ACCOUNT_B, ADVANCED, STANDARD, STRANGER};
use sesame_testkit::seed::{ADMIN_PASSWORD, USER_PASSWORD};
use sesame_testkit::{both, Backend};

use crate::browser::Browser;
use crate::client::{Page, Visitor};

/// A period covering every synthetic parcel (the simulator deposits them within 60 days).
fn whole_period() -> String {
    let today = chrono::Utc::now().date_naive();
    format!(
        "from={}&to={}",
        (today - chrono::Duration::days(59)).format("%Y-%m-%d"),
        today.format("%Y-%m-%d")
    )
}

/// A visitor of the portal signed in as `login` (a user, or the account number of an admin).
async fn signed_in(p: &Portal, login: &str, password: &str) -> Visitor {
    let mut v = Visitor::new(p.console());
    let page = v.sign_in(login, password).await;
    assert_eq!(page.status, 303, "sign-in of {login}: {}", page.body);
    v
}

/// The gateway's own JSON search with `token`, for comparison with what the pages show.
async fn api_search(p: &Portal, token: &str, query: &str) -> Value {
    let r = p
        .stack
        .get(
            &format!("/sesame/v1/parcels?{query}"),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The parcels of `account` that `login`'s gateway search shows (whole period).
async fn visible_numbers(p: &Portal, login: &str, account: &str) -> Vec<String> {
    let token = p.session(login).await;
    let v = api_search(p, &token, &format!("{}&account={account}", whole_period())).await;
    v["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["parcelNumber"].as_str().unwrap().to_owned())
        .collect()
}

const PAGES: [&str; 4] = [
    "/console/suivi",
    "/console/suivi/export",
    "/console/suivi/epingles",
    "/console/suivi/colis/6A00000000000",
];
const FORMS: [&str; 3] = [
    "/console/suivi/colis/6A00000000000/epingler",
    "/console/suivi/colis/6A00000000000/desepingler",
    "/console/suivi/colis/6A00000000000/reclamation",
];

/// Nobody signed in → the sign-in (coming back after); an account admin → refused; a form
/// without its CSRF token → refused, nothing sent.
async fn portal_pages_refuse_strangers_body(p: &Portal) {
    let mut anon = Visitor::new(p.console());
    for path in PAGES {
        let page = anon.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location()
                .starts_with("/console/sign-in?next=%2Fconsole%2Fsuivi")
                || page
                    .location()
                    .starts_with("/console/sign-in?next=/console/suivi"),
            "{path}: {}",
            page.location()
        );
    }
    // A form posted once the session is gone: to the sign-in, never back to an address that
    // answers only POST.
    let csrf = anon.get("/console/sign-in").await.csrf();
    for path in FORMS {
        let page = anon
            .post(path, &[("_csrf", &csrf), ("reason", "Autre")])
            .await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location(), "/console/sign-in", "{path}");
    }
    let mut admin = signed_in(p, ACCOUNT_A, ADMIN_PASSWORD).await;
    let home = admin.get("/console/account").await;
    assert!(
        !home.body.contains("Suivi colis"),
        "no portal entry for an admin"
    );
    for path in PAGES {
        let page = admin.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains("Cet espace est celui des utilisateurs"));
    }
    // The operator (not impersonating) is no user either.
    let mut op = Visitor::new(p.console());
    assert_eq!(op.sign_in_operator(OPERATOR).await.status, 303);
    for path in PAGES {
        assert_eq!(op.get(path).await.status, 403, "{path}");
    }
    let mut user = signed_in(p, ADVANCED, USER_PASSWORD).await;
    for path in FORMS {
        for fields in [vec![], vec![("_csrf", "forged")]] {
            let mut f = fields.clone();
            f.push(("reason", "Autre"));
            let page = user.post(path, &f).await;
            assert_eq!(page.status, 403, "{path}");
            assert!(page.body.contains("Formulaire refusé"), "{path}");
        }
        // The admin's own token is no user's form either.
        let csrf = admin.get("/console/account").await.csrf();
        let page = admin.post(path, &[("_csrf", &csrf)]).await;
        assert_eq!(page.status, 403, "{path}");
    }
    let claims = p
        .stack
        .sim
        .captured()
        .iter()
        .filter(|c| c.path.ends_with("/claims"))
        .count();
    assert_eq!(claims, 0, "nothing reached the carrier");
}
both!(
    portal_pages_refuse_strangers,
    portal_pages_refuse_strangers_body
);

/// The advanced user lands on "Suivi colis" and sees both accounts' parcels, exactly as the
/// gateway's JSON search with its session; the standard user of A sees none of B.
async fn portal_search_spans_both_accounts_body(p: &Portal) {
    let mut v = Visitor::new(p.console());
    let page = v.sign_in(ADVANCED, USER_PASSWORD).await;
    assert_eq!(page.location(), "/console/");
    let home = v.get("/console/").await;
    assert_eq!(home.location(), "/console/suivi");
    let page = v.get(&format!("/console/suivi?{}", whole_period())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(">Suivi colis<"), "the nav entry");
    let token = p.session(ADVANCED).await;
    let api = api_search(p, &token, &whole_period()).await;
    let total = api["total"].as_u64().unwrap();
    assert!(total > 25, "both accounts' parcels: {total}");
    assert!(page.body.contains(&format!("{total} colis trouvés")));
    assert!(page.body.contains(ACCOUNT_A) && page.body.contains(ACCOUNT_B));
    assert!(page.body.contains("Page : 1 / "));

    // Filtered on B through the page: only B's rows.
    let page = v
        .get(&format!(
            "/console/suivi?{}&account={ACCOUNT_B}",
            whole_period()
        ))
        .await;
    let rows = page.body.matches("<td>811002</td>").count();
    assert!(rows > 0);
    assert_eq!(page.body.matches("<td>811001</td>").count(), 0);

    // The standard user of A: nothing of B, whatever it asks.
    let mut std = signed_in(p, STANDARD, USER_PASSWORD).await;
    let page = std
        .get(&format!(
            "/console/suivi?{}&account={ACCOUNT_B}",
            whole_period()
        ))
        .await;
    assert!(!page.body.contains("<td>811002</td>"), "{}", page.body);
}
both!(
    portal_search_spans_both_accounts,
    portal_search_spans_both_accounts_body
);

/// A parcel of another account (or outside the user's scope) is "Colis introuvable", the same
/// page as an unknown number; a visible one is its sheet.
async fn portal_parcel_of_another_account_is_not_found_body(p: &Portal) {
    let on_a = visible_numbers(p, ADVANCED, ACCOUNT_A).await;
    let first_a = on_a.first().expect("parcels on A");
    let mut stranger = signed_in(p, STRANGER, USER_PASSWORD).await;
    let foreign = stranger
        .get(&format!("/console/suivi/colis/{first_a}"))
        .await;
    assert_eq!(foreign.status, 404);
    assert!(foreign.body.contains("Colis introuvable"));
    let unknown = stranger.get("/console/suivi/colis/6A99999999999").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("Colis introuvable"));
    for junk in ["..%2F..%2Fadmin", "%3Cscript%3E", &"9".repeat(41)] {
        let page = stranger.get(&format!("/console/suivi/colis/{junk}")).await;
        assert_eq!(page.status, 404, "{junk}");
        assert!(!page.body.contains("<script>"));
    }
    // Pinning it is refused alike, and nothing is pinned.
    let csrf = stranger.get("/console/suivi").await.csrf();
    let page = stranger
        .post(
            &format!("/console/suivi/colis/{first_a}/epingler"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 404);

    let mut adv = signed_in(p, ADVANCED, USER_PASSWORD).await;
    let sheet = adv.get(&format!("/console/suivi/colis/{first_a}")).await;
    assert_eq!(sheet.status, 200, "{}", sheet.body);
    assert!(sheet.body.contains(&format!("Colis n° {first_a}")));
    assert!(sheet.body.contains("Timeline"));
    assert!(sheet.body.contains("Faire une réclamation"));

    // The claim, through the gateway's claims endpoint: confirmed with its number.
    let csrf = sheet.csrf();
    let claimed = adv
        .post(
            &format!("/console/suivi/colis/{first_a}/reclamation"),
            &[
                ("_csrf", &csrf),
                ("reason", "Colis endommagé"),
                ("comment", "=HYPERLINK(\"x\")"),
            ],
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    assert!(claimed.body.contains("Réclamation enregistrée"));
    assert!(claimed.body.contains("CLM-"));
    let sent = p
        .stack
        .sim
        .captured()
        .into_iter()
        .filter(|c| c.path.ends_with(&format!("{first_a}/claims")))
        .count();
    assert_eq!(sent, 1);
    // A reason off the list or a huge comment is refused before anything is sent.
    for fields in [
        vec![("reason", "n'importe quoi")],
        vec![("reason", "Autre"), ("comment", &*"x".repeat(2001))],
    ] {
        let mut f = vec![("_csrf", csrf.as_str())];
        f.extend(fields);
        let page = adv
            .post(&format!("/console/suivi/colis/{first_a}/reclamation"), &f)
            .await;
        assert_eq!(page.status, 422);
    }
    // The stranger may not claim on A's parcel: "Colis introuvable", nothing sent.
    let csrf = stranger.get("/console/suivi").await.csrf();
    let page = stranger
        .post(
            &format!("/console/suivi/colis/{first_a}/reclamation"),
            &[("_csrf", &csrf), ("reason", "Autre")],
        )
        .await;
    assert_eq!(page.status, 404);
    let sent_after = p
        .stack
        .sim
        .captured()
        .into_iter()
        .filter(|c| c.path.ends_with("/claims"))
        .count();
    assert_eq!(sent_after, 1);
}
both!(
    portal_parcel_of_another_account_is_not_found,
    portal_parcel_of_another_account_is_not_found_body
);

/// Hostile parameters: a huge one, an unknown sort, a page size off the list → a clear 400
/// naming it, nothing sent to the gateway.
async fn portal_refuses_hostile_parameters_body(p: &Portal) {
    let mut v = signed_in(p, ADVANCED, USER_PASSWORD).await;
    let before = searches(p);
    for (query, field) in [
        (format!("reference={}", "x".repeat(5000)), "reference"),
        ("sort=userKey".to_owned(), "sort"),
        ("pageSize=1000".to_owned(), "pageSize"),
        ("from=yesterday".to_owned(), "from"),
        ("status=%3Cscript%3E".to_owned(), "status"),
    ] {
        for path in ["/console/suivi", "/console/suivi/export"] {
            let page = v.get(&format!("{path}?{query}")).await;
            assert_eq!(page.status, 400, "{path}?{query}");
            assert!(page.body.contains("Critères de recherche invalides"));
            assert!(page.body.contains(&format!("({field})")), "{}", page.body);
            assert!(!page.body.contains("<script>"));
        }
    }
    assert_eq!(searches(p), before, "no search reached the carrier");
    // The same count does move for a good search (the check above can fail): one per account.
    assert_eq!(v.get("/console/suivi").await.status, 200);
    assert_eq!(searches(p), before + 2);
}

/// The tracking-tool searches the simulated carrier received.
fn searches(p: &Portal) -> usize {
    p.stack
        .sim
        .captured()
        .iter()
        .filter(|c| c.path.starts_with("/tracking-tool/v1/parcels/search"))
        .count()
}
both!(
    portal_refuses_hostile_parameters,
    portal_refuses_hostile_parameters_body
);

/// The gateway down: a French page saying so (503), never a 500 or a stack.
async fn portal_gateway_down_is_a_french_page_body(p: &Portal) {
    // A second admin API on the same store, whose gateway is a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Server::start_on(p.store().clone(), listener, |cfg, base| {
        cfg.public_url = base.to_owned();
        cfg.gateway_url = dead;
    })
    .await;
    let mut v = Visitor::new(&s.base);
    assert_eq!(v.sign_in(ADVANCED, USER_PASSWORD).await.status, 303);
    for path in [
        "/console/suivi".to_owned(),
        "/console/suivi/export".to_owned(),
        "/console/suivi/epingles".to_owned(),
        "/console/suivi/colis/6A00000000000".to_owned(),
    ] {
        let page = v.get(&path).await;
        assert_eq!(page.status, 503, "{path}");
        assert!(
            page.body.contains("Le service de suivi ne répond pas"),
            "{path}"
        );
        assert!(!page.body.contains("panicked") && !page.body.contains("hyper"));
        assert!(page.body.contains("Se déconnecter"), "the page frame");
    }
    s.shutdown().await;
}
both!(
    portal_gateway_down_is_a_french_page,
    portal_gateway_down_is_a_french_page_body
);

/// The `href` of the tracking link's OK button.
fn ok_href(body: &str) -> String {
    let i = body.find("class=\"ok\" href=\"").expect("OK button") + "class=\"ok\" href=\"".len();
    body[i..i + body[i..].find('"').unwrap()].replace("&amp;", "&")
}

/// The tracking link's OK → the portal's sign-in → that parcel (when the user may see it);
/// the key never travels to the portal.
async fn tracking_link_ok_leads_to_the_parcel_body(p: &Portal) {
    let on_a = visible_numbers(p, ADVANCED, ACCOUNT_A).await;
    let cab = on_a.first().unwrap().clone();
    // The stranger's key does not open A's parcel: the refusal page.
    let r = p
        .stack
        .get(
            &format!(
                "{LINK}?apikey={}&cab={}",
                p.stranger.key,
                cab.to_lowercase()
            ),
            &[],
        )
        .await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    let href = ok_href(&body);
    assert_eq!(
        href,
        format!(
            "{}/console/sign-in?next=/console/suivi/colis/{cab}",
            p.console()
        )
    );
    assert!(!href.contains(&p.stranger.key));
    let mut v = Visitor::new(p.console());
    let path = href.strip_prefix(p.console()).unwrap();
    let form = v.get(path).await;
    assert_eq!(form.status, 200);
    assert!(form
        .body
        .contains(&format!("value=\"/console/suivi/colis/{cab}\"")));
    let csrf = form.csrf();
    let done = v
        .post(
            "/console/sign-in",
            &[
                ("_csrf", &csrf),
                ("identifiant", ADVANCED),
                ("password", USER_PASSWORD),
                ("next", &format!("/console/suivi/colis/{cab}")),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), format!("/console/suivi/colis/{cab}"));
    let sheet = v.get(done.location()).await;
    assert_eq!(sheet.status, 200);
    assert!(sheet.body.contains(&format!("Colis n° {cab}")));
}
both!(
    tracking_link_ok_leads_to_the_parcel,
    tracking_link_ok_leads_to_the_parcel_body
);

fn count_rows(page: &Page) -> usize {
    page.body.matches("class=\"secondary unpin\"").count()
}

/// Pins: pin from the sheet, listed in "Colis épinglés", still there after signing out and in
/// (kept per user, not per session), invisible to another user; unpin.
async fn portal_pins_are_kept_per_user_body(p: &Portal) {
    let on_b = visible_numbers(p, ADVANCED, ACCOUNT_B).await;
    let n = on_b.first().unwrap().clone();
    let mut v = signed_in(p, ADVANCED, USER_PASSWORD).await;
    let sheet = v.get(&format!("/console/suivi/colis/{n}")).await;
    let csrf = sheet.csrf();
    let done = v
        .post(
            &format!("/console/suivi/colis/{n}/epingler"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let sheet = v.get(done.location()).await;
    assert!(sheet.body.contains("Colis épinglé."));
    assert!(sheet.body.contains("Désépingler"));
    let csrf = sheet.csrf();
    let out = v.post("/console/sign-out", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let mut v = signed_in(p, ADVANCED, USER_PASSWORD).await;
    let pins = v.get("/console/suivi/epingles").await;
    assert_eq!(pins.status, 200);
    assert!(pins.body.contains(&format!("/console/suivi/colis/{n}")));
    assert_eq!(count_rows(&pins), 1);
    let mut other = signed_in(p, STRANGER, USER_PASSWORD).await;
    let theirs = other.get("/console/suivi/epingles").await;
    assert_eq!(count_rows(&theirs), 0);
    let csrf = pins.csrf();
    let done = v
        .post(
            &format!("/console/suivi/colis/{n}/desepingler"),
            &[("_csrf", &csrf), ("back", "pins")],
        )
        .await;
    assert_eq!(done.location(), "/console/suivi/epingles?done=unpinned");
    assert_eq!(count_rows(&v.get("/console/suivi/epingles").await), 0);
}
both!(
    portal_pins_are_kept_per_user,
    portal_pins_are_kept_per_user_body
);

/// Opens the operator's impersonation of `user_id` (a user of A) through the back office.
async fn impersonate(p: &Portal, user_id: i64) -> Visitor {
    let mut op = Visitor::new(p.console());
    assert_eq!(op.sign_in_operator(OPERATOR).await.status, 303);
    let csrf = op.get("/console/back-office").await.csrf();
    let done = op
        .post(
            &format!("/console/back-office/accounts/{ACCOUNT_A}/contacts/{user_id}/impersonate"),
            &[("_csrf", &csrf), ("comment", "ticket 14")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    op
}

/// An operator impersonating the advanced user sees its portal with the assistance banner;
/// the gateway calls carry the impersonation; the impersonation is in the audit log.
async fn portal_impersonation_body(p: &Portal) {
    let mut op = impersonate(p, p.advanced.id).await;
    let page = op.get(&format!("/console/suivi?{}", whole_period())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Session d'assistance"));
    assert!(page.body.contains("Chaque action est journalisée."));
    assert!(
        page.body.contains(ACCOUNT_B),
        "the user's view: both accounts"
    );
    let audit = p
        .store()
        .audit_log(&AuditFilter {
            user_id: Some(p.advanced.id),
            action: Some("session.impersonate".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
}
both!(portal_impersonation, portal_impersonation_body);

// ---------------------------------------------------------------- Chromium

/// Waits until the browser's URL contains `part` (10 s).
async fn wait_url(b: &Browser, part: &str) {
    for _ in 0..100 {
        if b.url().await.contains(part) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the URL never held {part}: {}", b.url().await);
}

/// The advanced user's day (seed 000 §9): search across two accounts, filter, page at 50, sort,
/// export (the CSV has the PASS column and both accounts), open a sheet, pin it, find the pin
/// again after signing out and in.
#[tokio::test]
async fn browser_tracking_tool() {
    let p = Portal::start(Backend::Sqlite).await;
    let b = Browser::start(p.console(), "portail-suivi").await;
    b.sign_in(ADVANCED, USER_PASSWORD).await;
    b.wait_text("RECHERCHER UN COLIS").await;
    assert_eq!(b.path().await, "/console/suivi");
    b.shot("rechercher-un-colis").await;

    // The whole period, then a filter on the second account (the filter row under the headers).
    b.goto(&format!("/console/suivi?{}", whole_period())).await;
    b.wait_text("colis trouvés").await;
    let found = b.text("#found").await;
    let total: u64 = found.split(' ').next().unwrap().parse().unwrap();
    assert!(total > 50, "{found}");
    b.fill("#f-account", ACCOUNT_B).await;
    b.click("fieldset.criteria button[type=submit]").await;
    wait_url(&b, &format!("account={ACCOUNT_B}")).await;
    let filtered = b.text("table.parcels tbody").await;
    assert!(filtered.contains(ACCOUNT_B) && !filtered.contains(ACCOUNT_A));
    assert!(b.url().await.contains(&format!("account={ACCOUNT_B}")));
    b.shot("filtre-compte").await;
    b.fill("#f-account", "").await;

    // "Afficher : 50", then the next page.
    b.find("#f-pageSize")
        .await
        .select_by_value("50")
        .await
        .unwrap();
    b.click("fieldset.criteria button[type=submit]").await;
    let pages = total.div_ceil(50);
    b.wait_text(&format!("Page : 1 / {pages}")).await;
    let rows = b
        .client
        .find_all(fantoccini::Locator::Css("table.parcels tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    b.click("a[rel=next]").await;
    b.wait_text(&format!("Page : 2 / {pages}")).await;
    b.shot("page-2").await;

    // Sorting by parcel number: ▲, then ▼.
    b.click("th[aria-sort] a[href*='sort=parcelNumber']").await;
    b.wait_text("▲").await;
    assert!(b.url().await.contains("sort=parcelNumber"));
    let first_rows = b
        .text("table.parcels tbody tr:first-child td:nth-child(2)")
        .await;
    b.click("th[aria-sort=ascending] a").await;
    b.wait_text("▼").await;
    assert!(b.url().await.contains("sort=-parcelNumber"));
    let first_desc = b
        .text("table.parcels tbody tr:first-child td:nth-child(2)")
        .await;
    assert!(first_rows < first_desc, "{first_rows} then {first_desc}");
    b.shot("tri").await;

    // "Exporter": the same search as CSV, PASS column, both accounts.
    b.click("#export").await;
    let csv = String::from_utf8(b.downloaded("colis").await).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.contains("PASS"), "{header}");
    assert!(csv.contains(ACCOUNT_A) && csv.contains(ACCOUNT_B));

    // A sheet, pinned.
    b.click("table.parcels tbody tr:first-child td:nth-child(2) a")
        .await;
    b.wait_text("Détails du colis").await;
    let number = b.path().await.rsplit('/').next().unwrap().to_owned();
    b.shot("fiche-colis").await;
    b.click("#pin").await;
    b.wait_text("Colis épinglé.").await;

    // Out and in again: the pin is still there.
    b.click("header form.signout button").await;
    b.wait_text("Vous êtes déconnecté.").await;
    b.sign_in(ADVANCED, USER_PASSWORD).await;
    b.wait_text("COLIS ÉPINGLÉS").await;
    b.click("nav.tabs a[href='/console/suivi/epingles']").await;
    b.wait_text("1 colis épinglés").await;
    assert!(b.page_text().await.contains(&number));
    b.shot("colis-epingles").await;
    b.close().await;
    p.shutdown().await;
}

/// The tracking link's OK → the portal's sign-in → that parcel.
#[tokio::test]
async fn browser_tracking_link_ok_leads_to_the_parcel() {
    let p = Portal::start(Backend::Sqlite).await;
    let cab = visible_numbers(&p, ADVANCED, ACCOUNT_A)
        .await
        .first()
        .unwrap()
        .clone();
    let b = Browser::start(p.console(), "portail-lien-suivi").await;
    b.goto(&format!(
        "{}{LINK}?apikey={}&cab={cab}",
        p.stack.url, p.stranger.key
    ))
    .await;
    b.wait_text("Erreur d'authentification").await;
    b.shot("erreur-authentification").await;
    b.click("a.ok").await;
    b.wait_text("Connectez-vous").await;
    b.fill("#f-identifiant", ADVANCED).await;
    b.fill("#f-password", USER_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_text("Détails du colis").await;
    assert_eq!(b.path().await, format!("/console/suivi/colis/{cab}"));
    b.close().await;
    p.shutdown().await;
}

/// The operator's impersonation of the advanced user: its portal, with the banner.
#[tokio::test]
async fn browser_portal_impersonation_banner() {
    let p = Portal::start(Backend::Sqlite).await;
    let b = Browser::start(p.console(), "portail-assistance").await;
    b.goto("/console/operator/sign-in").await;
    b.fill("#f-token", OPERATOR).await;
    b.click("main form button[type=submit]").await;
    b.wait_text("Back office").await;
    b.goto(&format!(
        "/console/back-office/accounts/{ACCOUNT_A}/contacts/{}",
        p.advanced.id
    ))
    .await;
    b.click("#impersonate button[type=submit]").await;
    b.wait_text("Session d'assistance").await;
    b.goto(&format!("/console/suivi?{}", whole_period())).await;
    b.wait_text("colis trouvés").await;
    assert!(b.page_text().await.contains("Session d'assistance"));
    b.shot("suivi-en-assistance").await;
    b.close().await;
    p.shutdown().await;
}
