//! The back office and the outbox view in Chromium (issue 13 screens 6 and 7): what the operator
//! does with them, with a screenshot of each screen.

use fantoccini::Locator;
use sesame_testkit::admin::{advanced_body, standard_body, Server, OPERATOR};
use sesame_testkit::seed::USER_PASSWORD;
use sesame_testkit::Backend;

use crate::browser::Browser;

const NUMBER: &str = "900138";

async fn server() -> (Server, String) {
    let s = Server::start_own_url(Backend::Sqlite).await;
    let ent: Vec<&str> = sesame_store::testing::ENTITLEMENTS
        .iter()
        .copied()
        .chain(["site_access"])
        .collect();
    let admin = s.account(NUMBER, &ent).await;
    (s, admin)
}

/// Waits until the page's text contains `needle` (10 s). Unlike the harness's `wait_text`, a
/// page replaced while it is read (a stale element: the form's answer arriving) is read again
/// rather than failing the test.
async fn wait_text(b: &Browser, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(body) = b.client.find(Locator::Css("body")).await {
            if let Ok(t) = body.text().await {
                if t.contains(needle) {
                    return;
                }
                last = t;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("\"{needle}\" never appeared on {}:\n{last}", b.url().await);
}

/// Signs the operator in through the console's operator page.
async fn operator(b: &Browser) {
    b.goto("/console/operator/sign-in").await;
    b.fill("#f-token", OPERATOR).await;
    b.click("main button[type=submit]").await;
    wait_text(b, "Comptes clients").await;
}

/// The operator disables a collaborator with a comment and reads it in "Suivi client"; also the
/// accounts list, the creation form, the company's sheet and its action menu, the audit log
/// filtered, the e-mail form and the impersonation banner.
#[tokio::test]
async fn browser_operator_disables_a_contact_and_reads_suivi_client() {
    let (s, admin) = server().await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Martin", "mmartin", &["dashboard", "site_access"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let b = Browser::start(&s.base, "back-office").await;
    operator(&b).await;
    b.shot("comptes").await;
    b.click("a[href='/console/back-office/accounts/new']").await;
    wait_text(&b, "Création d'un compte client").await;
    b.shot("creation-compte").await;
    b.goto("/console/back-office").await;
    b.click(&format!("a[href='/console/back-office/accounts/{NUMBER}']"))
        .await;
    wait_text(&b, "Liste contacts").await;
    // The contact's action menu, opened from the keyboard-reachable summary.
    b.click("tbody tr:last-child details.menu summary").await;
    wait_text(&b, "Renvoyer le mot de passe").await;
    b.client
        .execute(
            "document.querySelector('details.menu[open]').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .unwrap();
    b.shot("liste-contacts-menu").await;
    // "Visualiser", from the open menu.
    b.click("details.menu[open] li:first-child a").await;
    wait_text(&b, "Suivi client").await;
    assert_eq!(
        b.path().await,
        format!("/console/back-office/accounts/{NUMBER}/contacts/{id}")
    );
    // Untick "Accès autorisé" and leave a comment.
    let allowed = b.find("#f-allowed").await;
    assert!(allowed.is_selected().await.unwrap());
    allowed.click().await.unwrap();
    b.fill("#f-comment", "Départ de l'entreprise le 30/11")
        .await;
    b.click("form[action$='/access'] button[type=submit]").await;
    wait_text(&b, "Accès retiré").await;
    let suivi = b.text("ol.timeline").await;
    assert!(suivi.contains("Accès autorisé : décoché"), "{suivi}");
    assert!(suivi.contains("Départ de l'entreprise le 30/11"), "{suivi}");
    assert!(
        !b.find("#f-allowed").await.is_selected().await.unwrap(),
        "the box shows the new state"
    );
    b.shot("suivi-client").await;
    let (st, _) = s.sign_in_user("mmartin", "StdPass123").await;
    assert_eq!(st, 401, "no access, no sign-in");
    // Allow it again for the rest of the tour.
    b.click("#f-allowed").await;
    b.click("form[action$='/access'] button[type=submit]").await;
    wait_text(&b, "Accès autorisé : coché").await;

    // "Ecrire un e-mail".
    b.click("a[href$='/message']").await;
    b.fill("#f-subject", "Votre accès").await;
    b.fill("#f-body", "Bonjour,\n\nVotre accès est rétabli.")
        .await;
    b.shot("ecrire-un-email").await;
    b.click("main button[type=submit]").await;
    wait_text(&b, "L'e-mail a été envoyé.").await;

    // "Segmentation libre": a segment created from the contact's page, the list filtered by it.
    b.goto(&format!(
        "/console/back-office/accounts/{NUMBER}/contacts/{id}/segments"
    ))
    .await;
    b.fill("#f-name", "Clients VIP").await;
    b.click("form[action$='/segments/new'] button[type=submit]")
        .await;
    wait_text(&b, "Le segment a été créé et le contact y a été ajouté.").await;
    b.shot("segmentation-libre").await;
    b.click("tbody a[href*='?segment=']").await;
    wait_text(&b, "Exporter le segment").await;
    b.shot("liste-contacts-segment").await;
    // The sub-accounts module, switched off: the sheet says so.
    b.click("#f-subAccounts").await;
    b.click("form[action$='/modules'] button[type=submit]")
        .await;
    wait_text(&b, "Les modules du compte sont enregistrés.").await;
    b.client
        .execute(
            "document.getElementById('modules').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .unwrap();
    b.shot("sous-comptes").await;

    // The audit log, filtered by the form: only the access changes.
    b.goto("/console/back-office/audit").await;
    b.find("#f-action")
        .await
        .select_by_value("user.status")
        .await
        .unwrap();
    b.click("form.filters button[type=submit]").await;
    wait_text(&b, "Accès autorisé : décoché").await;
    let rows = b
        .client
        .find_all(Locator::Css("table.audit tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the two changes of access, nothing else");
    assert!(b.url().await.contains("action=user.status"));
    b.shot("journal-audit").await;

    // "Ajouter un collaborateur".
    b.goto(&format!(
        "/console/back-office/accounts/{NUMBER}/contacts/new"
    ))
    .await;
    wait_text(&b, "Ajouter un collaborateur").await;
    b.shot("ajouter-un-collaborateur").await;

    // "Connexion à l'espace client": the banner, then back.
    b.goto(&format!(
        "/console/back-office/accounts/{NUMBER}/contacts/{id}"
    ))
    .await;
    b.fill("#f-reason", "ticket 42").await;
    b.click("#impersonate button[type=submit]").await;
    wait_text(&b, "Session d'assistance").await;
    wait_text(&b, "Martin").await;
    b.shot("connexion-espace-client").await;
    b.click(".impersonation button[type=submit]").await;
    wait_text(&b, "La session d'assistance est terminée.").await;
    b.close().await;
    s.shutdown().await;
}

/// The invitee opens the invitation from the outbox view and confirms its account.
#[tokio::test]
async fn browser_invitee_opens_the_link_from_the_outbox_view() {
    let (s, admin) = server().await;
    let email = "lea.invitee@example.fr";
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            &admin,
            advanced_body("Dubois", email, &["ws_tracking", "tracking_tool:own"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let b = Browser::start(&s.base, "outbox").await;
    operator(&b).await;
    b.goto("/console/outbox").await;
    wait_text(&b, email).await;
    b.shot("emails-envoyes").await;
    b.click("table a[href^='/console/outbox/']").await;
    wait_text(&b, "Une demande de création de compte utilisateur").await;
    b.shot("email-invitation").await;
    // The link in the mail, as the recipient clicks it.
    b.click("article.mail a[href*='/admin/v1/invitations/']")
        .await;
    wait_text(&b, "Confirmation de création de compte").await;
    b.fill("input[name=login]", "ldubois").await;
    b.fill("input[name=password]", USER_PASSWORD).await;
    b.fill("input[name=passwordConfirmation]", USER_PASSWORD)
        .await;
    b.click("button[type=submit]").await;
    wait_text(&b, "Votre compte est actif").await;
    b.shot("invitation-confirmee").await;
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}/users/{id}"), OPERATOR)
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], "active");
    assert_eq!(v["login"], "ldubois");
    // The rights e-mail that follows is in the outbox too.
    b.goto(&format!("/console/outbox?to={email}")).await;
    wait_text(&b, "nouveaux droits").await;
    b.close().await;
    s.shutdown().await;
}
