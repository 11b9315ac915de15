//! The console in Chromium: what people do with it, screen by screen, with a screenshot of each.

use sesame_testkit::admin::Server;
use sesame_testkit::seed::{ADMIN_PASSWORD, USER_PASSWORD};
use sesame_testkit::Backend;

use crate::browser::Browser;

const NUMBER: &str = "900138";

/// Signing in with the keyboard only: the first field has the focus, Tab moves on, Enter sends.
#[tokio::test]
async fn browser_keyboard_only_sign_in() {
    let s = Server::start_own_url(Backend::Sqlite).await;
    let admin = s
        .account(NUMBER, &["ws_postage", "ws_tracking", "tracking_tool:all"])
        .await;
    let (_, user_key, _, _) = sesame_testkit::admin::active_advanced(
        &s,
        NUMBER,
        &admin,
        "kadj-mco",
        &["ws_postage", "tracking_tool:all"],
    )
    .await;
    let b = Browser::start(&s.base, "sign-in").await;
    b.goto("/").await;
    b.wait_text("Connectez-vous").await;
    b.shot("sign-in").await;
    b.keys(NUMBER).await;
    b.keys("\u{e004}").await; // Tab
    b.keys(ADMIN_PASSWORD).await;
    b.keys("\u{e007}").await; // Enter
    b.wait_text("Vos informations").await;
    assert_eq!(b.path().await, "/console/account");
    b.shot("mon-compte").await;

    // Signing out, then the other ways in: forgotten password, the operator, a user.
    b.click("header form.signout button").await;
    b.wait_text("Vous êtes déconnecté.").await;
    b.click("a[href='/console/forgot-password']").await;
    b.wait_text("Renseignez votre identifiant").await;
    b.shot("mot-de-passe-oublie").await;
    b.goto("/console/operator/sign-in").await;
    b.wait_text("Connexion opérateur").await;
    b.shot("connexion-operateur").await;
    b.sign_in("kadj-mco", USER_PASSWORD).await;
    // A user with the tracking tool lands on the portal's "Suivi colis" (issue 14).
    b.wait_text("Suivi colis").await;
    b.goto("/console/account").await;
    b.wait_text("Clé utilisateur").await;
    assert!(b.page_text().await.contains(&user_key));
    b.shot("mon-compte-utilisateur").await;
    b.close().await;
    s.shutdown().await;
}

/// A Windows-1252, `;`-separated import file as Excel saves it: a good line with accents, a
/// line with a right the account does not hold, a line with a bad e-mail.
fn windows_1252_csv() -> Vec<u8> {
    let text = "NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GEOGRAPHIQUE;CODE POSTAL;VILLE;WEB SERVICE AFFRANCHISSEMENT;SUIVI CONSOLIDE;FACTURES TOUTES\r\n\
                Lefèvre;Hélène;Gérante;helene.lefevre@example.fr;0102030405;3 rue de l'Église;75003;Paris;oui;oui;non\r\n\
                Moreau;Noël;Agent;noel.moreau@example.fr;0102030406;4 rue de la Paix;75002;Paris;oui;non;oui\r\n\
                Petit;Zoé;Agent;pas-une-adresse;0102030407;5 rue du Bac;75007;Paris;non;oui;non\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really Windows-1252");
    bytes.into_owned()
}

/// The account admin's day, in Chromium: sign in, add an advanced user (a refused form first),
/// the invitee confirms from the mailed link, edit the rights, import a Windows-1252 file
/// through the file picker and download the result, associate a user by key, export; a forged
/// post is refused; the English switch.
#[tokio::test]
async fn browser_account_admin_manages_users() {
    let s = Server::start_own_url(Backend::Sqlite).await;
    let entitled = [
        "ws_postage",
        "ws_tracking",
        "ws_pickup_point",
        "tracking_tool:all",
    ];
    let admin = s.account(NUMBER, &entitled).await;
    // Another account's advanced user, to associate by key.
    let other = s.account("900200", &entitled).await;
    let (_, user_key, _, _) =
        sesame_testkit::admin::active_advanced(&s, "900200", &other, "durand-ws", &["ws_postage"])
            .await;
    let b = Browser::start(&s.base, "admin").await;

    b.sign_in(NUMBER, ADMIN_PASSWORD).await;
    b.wait_text("Vos informations").await;
    b.shot("mon-compte").await;
    b.click("section.tile.primary h2 a").await;
    b.wait_text("Utilisateurs avancés").await;
    assert_eq!(b.path().await, "/console/users");
    b.shot("gestion-des-utilisateurs").await;

    b.goto("/console/users/new").await;
    b.wait_text("Création d'un nouveau compte utilisateur")
        .await;
    b.shot("utilisateur-standard").await;

    // Add an advanced user: a refused form shows the error next to the field, in French.
    b.goto("/console/advanced-users/new").await;
    b.wait_text("Création d'un compte utilisateur avancé").await;
    b.fill("#f-firstName", "Jean").await;
    b.click("main form button[type=submit]").await;
    b.wait_text("Ce champ est obligatoire.").await;
    assert!(b
        .text("#f-lastName-error")
        .await
        .contains("Ce champ est obligatoire."));
    assert_eq!(
        b.find("#f-firstName")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Jean"),
        "what was typed stays"
    );
    b.shot("utilisateur-avance-erreurs").await;
    let email = "jean.martin@example.fr";
    for (id, value) in [
        ("lastName", "Martin"),
        ("function", "Logisticien"),
        ("phone", "0102030405"),
        ("email", email),
        ("emailConfirmation", email),
        ("address", "1 rue de la Poste"),
        ("postalCode", "75001"),
        ("city", "Paris"),
        ("tag", "NORD"),
    ] {
        b.fill(&format!("#f-{id}"), value).await;
    }
    b.click("#r-ws_postage").await;
    b.click("#r-tracking_tool-group").await;
    b.shot("utilisateur-avance").await;
    b.click("main form button[type=submit]").await;
    b.wait_text("L'utilisateur avancé a été créé").await;
    assert!(b.page_text().await.contains("Invitation envoyée"));

    // The invitee opens the mailed link and confirms.
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    b.goto(&format!("/admin/v1/invitations/{token}")).await;
    b.wait_text("Confirmation de création de compte").await;
    b.fill("#login", "jean-martin").await;
    b.fill("#password", "Motdepasse123").await;
    b.fill("#passwordConfirmation", "Motdepasse123").await;
    b.click("#f button[type=submit]").await;
    b.wait_text("Votre compte est actif").await;
    b.shot("confirmation-invitation").await;

    // The admin edits the rights: the confirmed identity is read-only, the rights change.
    let (st, v) = s
        .get(
            &format!("/admin/v1/accounts/{NUMBER}/users?kind=advanced&q=martin"),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let id = v["items"][0]["id"].as_i64().unwrap();
    b.goto(&format!("/console/users/{id}")).await;
    b.wait_text("Edition d'un compte utilisateur").await;
    assert_eq!(
        b.find("#f-lastName")
            .await
            .attr("readonly")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    b.click("#r-ws_tracking").await;
    b.click("main form[action^='/console/users/'] button[type=submit]")
        .await;
    b.wait_text("Les modifications ont été enregistrées.").await;
    b.shot("edition-utilisateur").await;
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/{NUMBER}/users/{id}"), &admin)
        .await;
    let rights: Vec<&str> = v["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rights.contains(&"ws_tracking") && rights.contains(&"ws_postage"),
        "{v}"
    );
    // Audited like the API's edit.
    let (_, audit) = s
        .get(
            "/admin/v1/audit?action=user.update&perPage=50",
            sesame_testkit::admin::OPERATOR,
        )
        .await;
    assert!(!audit["items"].as_array().unwrap().is_empty(), "{audit}");

    // Import a Windows-1252 file through the file picker, then download the result.
    b.goto("/console/imports").await;
    b.wait_text("Ajouter plusieurs utilisateurs au compte")
        .await;
    b.shot("import").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("utilisateurs.csv");
    std::fs::write(&file, windows_1252_csv()).unwrap();
    b.find("#f-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.click("main form[enctype] button[type=submit]").await;
    b.wait_text("Votre fichier a été chargé").await;
    // The page refreshes itself while the file is processed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !b.page_text().await.contains("Récupérer les résultats") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            b.page_text().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    b.wait_text("Votre fichier est disponible jusqu'au").await;
    b.client
        .execute(
            "document.getElementById('import-progress').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    b.shot("import-resultats").await;
    b.click("a[href='/console/imports/result']").await;
    let result = String::from_utf8(b.downloaded("resultat_import_").await).unwrap();
    assert!(
        result.contains("Lefèvre") && result.contains("Traitement OK"),
        "{result}"
    );
    assert!(
        result.contains("Vous ne pouvez pas donner le droit"),
        "{result}"
    );
    assert!(result.contains("pas-une-adresse"), "{result}");

    // Associate an existing advanced user by key: the identity is shown before the rights.
    b.goto("/console/advanced-users/associate").await;
    b.fill("#f-userKey", &user_key).await;
    b.click("main form[action$='/search'] button[type=submit]")
        .await;
    b.wait_text("Informations du compte utilisateur & droits du compte")
        .await;
    assert!(b.page_text().await.contains("Dupont"));
    b.click("#r-ws_pickup_point").await;
    b.shot("associer-utilisateur-avance").await;
    b.click("main form[action='/console/advanced-users/associate'] button[type=submit]")
        .await;
    b.wait_text("L'utilisateur avancé est associé à votre compte")
        .await;

    // Export the advanced users.
    b.click("a[href='/console/users/export']").await;
    let export = String::from_utf8(b.downloaded("utilisateurs_avances_900138").await).unwrap();
    for who in [
        "jean.martin@example.fr",
        "helene.lefevre@example.fr",
        "durand-ws@example.fr",
    ] {
        assert!(export.contains(who), "{who} in {export}");
    }
    b.shot("gestion-des-utilisateurs-apres").await;

    // A post stripped of its CSRF token is refused, and says so.
    b.goto("/console/users/new").await;
    b.client
        .execute(
            "document.querySelectorAll('input[name=_csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    b.fill("#f-lastName", "Forgé").await;
    b.click("main form button[type=submit]").await;
    b.wait_text("Formulaire refusé").await;
    b.shot("formulaire-refuse").await;

    // English.
    b.goto("/console/users").await;
    b.click("header .lang a[lang=en]").await;
    b.wait_text("User management").await;
    assert_eq!(b.path().await, "/console/users");
    b.shot("user-management-en").await;
    b.goto("/console/guide").await;
    b.click("header .lang a[lang=fr]").await;
    b.wait_text("Guide d'utilisation").await;
    b.shot("guide").await;
    b.close().await;
    s.shutdown().await;
}
