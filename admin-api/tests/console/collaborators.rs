//! Seed 004's collaborators in the back office over HTTP (issue 13 screen 6), both backends: the
//! operator switches a company's sub-accounts module and its admin's collaborator creation in
//! the console is then refused with the clear message; the validation status in "Liste
//! contacts" with "Accepter" / "Refuser", audited like the API's twin. Hostile cases: no
//! token, another session's token, the account's own admin, another company's contact, a
//! status that is none.

use serde_json::Value;
use sesame_testkit::admin::{Server, OPERATOR};
use sesame_testkit::seed::ADMIN_PASSWORD;
use sesame_testkit::{both, Backend};

use crate::client::Visitor;

const NUMBER: &str = "900138";
const OTHER: &str = "839181";

fn entitlements() -> Vec<&'static str> {
    sesame_store::testing::ENTITLEMENTS
        .iter()
        .copied()
        .chain(["site_access"])
        .collect()
}

fn sheet() -> String {
    format!("/console/back-office/accounts/{NUMBER}")
}

async fn operator(s: &Server) -> Visitor {
    let mut b = Visitor::new(&s.base);
    let p = b.sign_in_operator(OPERATOR).await;
    assert_eq!((p.status, p.location()), (303, "/console/back-office"));
    b
}

async fn admin(s: &Server) -> Visitor {
    let mut b = Visitor::new(&s.base);
    assert_eq!(b.sign_in(NUMBER, ADMIN_PASSWORD).await.status, 303);
    b
}

/// The console's standard user form, filled for `login`, with the rights to sign in.
fn collaborator(login: &str) -> Vec<(&str, &str)> {
    let mut f = crate::forms::standard_fields(login, "marie@example.fr", "StdPass123");
    f.extend([("rights", "dashboard"), ("rights", "site_access")]);
    f
}

/// The account admin creates collaborator `login` through the console's form.
async fn add_collaborator(b: &mut Visitor, login: &str) -> crate::client::Page {
    b.submit(
        "/console/users/new",
        "/console/users/new",
        &collaborator(login),
    )
    .await
}

async fn account(s: &Server, number: &str) -> Value {
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/{number}"), OPERATOR)
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn audit(s: &Server, query: &str) -> Vec<Value> {
    let (st, v) = s.get(&format!("/admin/v1/audit?{query}"), OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn the_sub_accounts_module_is_switched_in_the_back_office(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    s.account(NUMBER, &entitlements()).await;
    s.account(OTHER, &entitlements()).await;
    let mut op = operator(&s).await;
    // The current state is shown, in words.
    let page = op.get(&sheet()).await;
    assert_eq!(page.status, 200);
    let tile = &page.body[page.body.find("id=\"modules\"").unwrap()..];
    assert!(tile.contains("Module sous-comptes : <strong>Oui"), "{tile}");
    assert!(
        tile.contains("Validation des collaborateurs requise : <strong>Non"),
        "{tile}"
    );
    assert!(tile.contains("for=\"f-subAccounts\""), "labelled");
    // Hostile: no token, another session's token, the account's own admin: nothing changes.
    let action = format!("{}/modules", sheet());
    let mut other = operator(&s).await;
    let foreign = other.get("/console/back-office").await.csrf();
    assert_eq!(op.post(&action, &[]).await.status, 403);
    assert_eq!(op.post(&action, &[("_csrf", &foreign)]).await.status, 403);
    let mut adm = admin(&s).await;
    let p = adm.submit("/console/account", &action, &[]).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert_eq!(account(&s, NUMBER).await["subAccounts"], true);
    assert!(audit(&s, "action=account.modules").await.is_empty());
    // The operator unticks the module (an unticked box is not posted).
    let p = op.submit(&sheet(), &action, &[]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        p.location().contains("done=modules-saved"),
        "{}",
        p.location()
    );
    let v = account(&s, NUMBER).await;
    assert_eq!(
        (&v["subAccounts"], &v["collaboratorValidation"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(
        account(&s, OTHER).await["subAccounts"],
        true,
        "only that account"
    );
    let page = op.get(&format!("{}?done=modules-saved", sheet())).await;
    assert!(page
        .body
        .contains("Les modules du compte sont enregistrés."));
    assert!(page.body.contains("Module sous-comptes : <strong>Non"));
    // Audited as the operator, like `PUT …/modules`.
    let e = &audit(&s, "action=account.modules").await[0];
    assert_eq!(e["actor"]["kind"], "operator", "{e}");
    // The account's admin: creating a collaborator in the console is refused, clearly.
    let users = s.count("users").await;
    let p = add_collaborator(&mut adm, "m.durand").await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(
        p.body
            .contains("La gestion des sous-comptes (collaborateurs) n&#39;est pas activée")
            || p.body
                .contains("La gestion des sous-comptes (collaborateurs) n'est pas activée"),
        "{}",
        p.body
    );
    assert_eq!(s.count("users").await, users, "nothing written");
    // Its "Gestion des utilisateurs" says so, and offers no form that would be refused.
    let list = adm.get("/console/users").await;
    assert!(
        list.body.contains("n&#39;est pas activée pour ce compte")
            || list.body.contains("n'est pas activée pour ce compte"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("href=\"/console/users/new\""));
    // On again, with validation: the admin's collaborator is created, pending.
    let p = op
        .submit(
            &sheet(),
            &action,
            &[("subAccounts", "true"), ("collaboratorValidation", "true")],
        )
        .await;
    assert_eq!(p.status, 303);
    let v = account(&s, NUMBER).await;
    assert_eq!(
        (&v["subAccounts"], &v["collaboratorValidation"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let p = add_collaborator(&mut adm, "m.durand").await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(s.count("users").await, users + 1);
    let list = adm.get("/console/users").await;
    assert!(list.body.contains("href=\"/console/users/new\""));
    assert!(list
        .body
        .contains("attendent la validation de votre interlocuteur"));
    // An unknown company.
    let p = op
        .submit(
            &sheet(),
            "/console/back-office/accounts/000000/modules",
            &[],
        )
        .await;
    assert_eq!(p.status, 404);
    s.shutdown().await;
}
both!(the_sub_accounts_module_is_switched_in_the_back_office);

async fn pending_collaborators_are_accepted_or_refused(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    s.account(NUMBER, &entitlements()).await;
    let other = s.account(OTHER, &entitlements()).await;
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/{NUMBER}/modules"),
            OPERATOR,
            serde_json::json!({"subAccounts": true, "collaboratorValidation": true}),
        )
        .await;
    assert_eq!(st, 200);
    let mut adm = admin(&s).await;
    let mut ids = Vec::new();
    for login in ["m.durand", "p.refus"] {
        let p = add_collaborator(&mut adm, login).await;
        assert_eq!(p.status, 303, "{}", p.body);
        let (_, v) = s
            .get(
                &format!("/admin/v1/accounts/{NUMBER}/users?q={login}"),
                OPERATOR,
            )
            .await;
        ids.push(v["items"][0]["id"].as_i64().unwrap());
    }
    let (id, refused) = (ids[0], ids[1]);
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &other,
            sesame_testkit::admin::standard_body("Autre", "autre", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let foreign = v["id"].as_i64().unwrap();
    assert_eq!(
        s.sign_in_user("m.durand", "StdPass123").await.0,
        403,
        "pending"
    );
    // The list shows each status in words, and the buttons for the pending ones.
    let mut op = operator(&s).await;
    let page = op.get(&sheet()).await;
    assert!(page.body.contains("<th scope=\"col\">Validation</th>"));
    assert!(page.body.contains("En attente"), "{}", page.body);
    assert!(page.body.contains("Accepté"), "the main contact");
    let accept = |id: i64| format!("{}/contacts/{id}/validation", sheet());
    assert!(page.body.contains(&format!("action=\"{}\"", accept(id))));
    assert!(page.body.contains(">Accepter</button>") && page.body.contains(">Refuser</button>"));
    // Hostile: no token, the account's admin, another company's contact, no status.
    assert_eq!(
        op.post(&accept(id), &[("status", "accepted")]).await.status,
        403
    );
    let p = adm
        .submit("/console/account", &accept(id), &[("status", "accepted")])
        .await;
    assert_eq!(p.status, 403);
    let p = op
        .submit(&sheet(), &accept(foreign), &[("status", "accepted")])
        .await;
    assert_eq!(p.status, 404, "{}", p.body);
    for status in ["", "maybe"] {
        let p = op
            .submit(&sheet(), &accept(id), &[("status", status)])
            .await;
        assert_eq!(p.status, 422, "{status}: {}", p.body);
    }
    let long = "x".repeat(501);
    let p = op
        .submit(
            &sheet(),
            &accept(id),
            &[("status", "accepted"), ("comment", &long)],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        audit(&s, "action=user.validation").await.is_empty(),
        "nothing written"
    );
    assert_eq!(s.sign_in_user("m.durand", "StdPass123").await.0, 403);
    // Accepted with a comment: signs in; audited as the operator with the comment.
    let p = op
        .submit(
            &sheet(),
            &accept(id),
            &[("status", "accepted"), ("comment", "vérifié")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location().contains("done=validation-accepted"));
    assert_eq!(s.sign_in_user("m.durand", "StdPass123").await.0, 201);
    let e = &audit(&s, &format!("action=user.validation&userId={id}")).await[0];
    assert_eq!(
        (e["actor"]["kind"].as_str(), e["comment"].as_str()),
        (Some("operator"), Some("vérifié")),
        "{e}"
    );
    // Refused: no sign-in; the list says so.
    let p = op
        .submit(&sheet(), &accept(refused), &[("status", "refused")])
        .await;
    assert!(p.location().contains("done=validation-refused"));
    let (st, v) = s.sign_in_user("p.refus", "StdPass123").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("validation_refused"))
    );
    let page = op
        .get(&format!("{}?done=validation-refused", sheet()))
        .await;
    assert!(page.body.contains("Le collaborateur est refusé"));
    assert!(page.body.contains("Refusé"));
    assert!(!page.body.contains("En attente"), "none pending");
    s.shutdown().await;
}
both!(pending_collaborators_are_accepted_or_refused);
