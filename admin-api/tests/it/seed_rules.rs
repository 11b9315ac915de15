//! Issue 15: every seed rule enforced, over the real admin API on SQLite and PostgreSQL. One
//! test per rule; each names the rule it pins.

use crate::common::*;
use serde_json::{json, Value};
use sesame_domain::ConnectionKey;
use sesame_testkit::seed::USER_PASSWORD;

const A: &str = "910001";
const B: &str = "910002";
const ENT: &[&str] = &[
    "ws_postage",
    "ws_tracking",
    "tracking_tool:all",
    "dashboard",
    "site_access",
];

/// Item 2: the tag is per link. Each account gives its own tag (association form "Tag
/// utilisateur"), edits only its own, sees the other links only as a count, and the gateway's
/// principal carries each link's tag.
async fn tags_are_per_link_and_other_links_are_a_count_body(s: &Server) {
    let admin_a = s.account(A, ENT).await;
    let admin_b = s.account(B, ENT).await;
    let (id, user_key, key, _) = active_advanced(s, A, &admin_a, "shared", &["ws_tracking"]).await;
    // B associates the user by key and gives it its own tag.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{B}/links"),
            &admin_b,
            json!({"userKey": user_key, "rights": ["ws_tracking"], "tag": "SUD"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tag"], "SUD", "{v}");
    let view = |admin: &str, n: &str| {
        let path = format!("/admin/v1/accounts/{n}/users/{id}");
        let admin = admin.to_owned();
        async move { s.get(&path, &admin).await }
    };
    let (_, va) = view(&admin_a, A).await;
    let (_, vb) = view(&admin_b, B).await;
    assert_eq!(va["tag"], "NORD", "{va}");
    assert_eq!(vb["tag"], "SUD", "{vb}");
    // Who else the user is linked to: a count, never the accounts.
    assert_eq!(va["otherAccounts"], 1, "{va}");
    assert_eq!(vb["otherAccounts"], 1, "{vb}");
    assert!(!vb.to_string().contains(A), "B's view names A: {vb}");
    assert!(!va.to_string().contains(B), "A's view names B: {va}");
    // Finding by user key shows no account's tag.
    let (st, found) = s
        .get(&format!("/admin/v1/advanced-users/{user_key}"), &admin_b)
        .await;
    assert_eq!(st, 200, "{found}");
    assert!(found.get("tag").is_none(), "{found}");

    // B edits its tag: A's link keeps its own.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{B}/users/{id}"),
            &admin_b,
            json!({"tag": "QUAI-3"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tag"], "QUAI-3", "{v}");
    assert_eq!(view(&admin_a, A).await.1["tag"], "NORD");
    // The users table shows each account's own tag.
    let (_, list) = s
        .get(
            &format!("/admin/v1/accounts/{B}/users?kind=advanced"),
            &admin_b,
        )
        .await;
    assert_eq!(list["items"][0]["tag"], "QUAI-3", "{list}");
    // The user sees each account's tag on its own page.
    let (_, me) = s
        .get("/admin/v1/me", &user_session(s, "shared").await)
        .await;
    let tags: Vec<(String, Value)> = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["number"].as_str().unwrap().to_owned(), a["tag"].clone()))
        .collect();
    assert_eq!(
        tags,
        [
            (A.to_owned(), json!("NORD")),
            (B.to_owned(), json!("QUAI-3"))
        ]
    );
    // What the gateway loads: each link with its own tag.
    let hash = s
        .store
        .hasher()
        .hash_key(&ConnectionKey::parse(&key).unwrap());
    let p = s.store.principal_by_key_hash(&hash).await.unwrap().unwrap();
    let by_link: Vec<(String, Option<String>)> = p
        .links
        .iter()
        .map(|l| {
            (
                l.number.to_string(),
                l.tag.as_ref().map(|t| t.as_str().to_owned()),
            )
        })
        .collect();
    assert_eq!(
        by_link,
        [
            (A.to_owned(), Some("NORD".to_owned())),
            (B.to_owned(), Some("QUAI-3".to_owned()))
        ]
    );
    // B removes its tag; A's stays.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{B}/users/{id}"),
            &admin_b,
            json!({"tag": ""}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["tag"].is_null(), "{v}");
    assert_eq!(view(&admin_a, A).await.1["tag"], "NORD");
    // The identity stays the user's: B cannot touch it, even alongside a tag edit.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{B}/users/{id}"),
            &admin_b,
            json!({"tag": "X", "phone": "0999999999"}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(view(&admin_b, B).await.1["tag"], Value::Null);
}
both!(
    tags_are_per_link_and_other_links_are_a_count,
    tags_are_per_link_and_other_links_are_a_count_body
);

async fn user_session(s: &Server, login: &str) -> String {
    let (st, v) = s.sign_in_user(login, USER_PASSWORD).await;
    assert_eq!(st, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// Item 2, the data migration: existing tags (on the user) are copied onto every link of their
/// user by the statement of migration 0002, on both backends.
async fn migration_copies_the_tag_onto_every_link_body(s: &Server) {
    let admin_a = s.account(A, ENT).await;
    let admin_b = s.account(B, ENT).await;
    let (id, user_key, _, _) = active_advanced(s, A, &admin_a, "legacy", &["ws_tracking"]).await;
    let (st, _) = s
        .post(
            &format!("/admin/v1/accounts/{B}/links"),
            &admin_b,
            json!({"userKey": user_key, "rights": []}),
        )
        .await;
    assert_eq!(st, 201);
    // The state before 0002: the tag on the user, none on the links.
    let pool = s.store.raw_pool();
    sqlx::query("UPDATE users SET tag = 'OLD-TAG' WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE links SET tag = NULL")
        .execute(pool)
        .await
        .unwrap();
    let migration = include_str!("../../../crates/store/migrations/sqlite/0002_seed_rules.sql");
    let pg = include_str!("../../../crates/store/migrations/postgres/0002_seed_rules.sql");
    let text = match s.store.backend() {
        sesame_store::Backend::Sqlite => migration,
        sesame_store::Backend::Postgres => pg,
    };
    let copy = text
        .split(';')
        .map(|st| {
            st.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .find(|st| st.trim_start().starts_with("UPDATE links SET tag"))
        .expect("the data migration of the tag");
    sqlx::query(&copy).execute(pool).await.unwrap();
    for n in [A, B] {
        let token = if n == A { &admin_a } else { &admin_b };
        let (_, v) = s
            .get(&format!("/admin/v1/accounts/{n}/users/{id}"), token)
            .await;
        assert_eq!(v["tag"], "OLD-TAG", "{n}: {v}");
    }
}
both!(
    migration_copies_the_tag_onto_every_link,
    migration_copies_the_tag_onto_every_link_body
);

/// Item 3: one e-mail, one advanced identity. Creating (on any account, in any case) or
/// renaming to an e-mail an advanced user holds is refused with 409 naming `email` and telling
/// to associate by user key; nothing is written. Standard users are not concerned.
async fn an_email_held_by_an_advanced_user_is_refused_body(s: &Server) {
    let admin_a = s.account(A, ENT).await;
    let admin_b = s.account(B, ENT).await;
    let (st, first) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin_a,
            advanced_body("Premier", "dup@example.fr", &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201, "{first}");
    let users = s.count("users").await;
    let mails = s.count("outbox").await;
    for (admin, n, email) in [
        (&admin_a, A, "dup@example.fr"),
        (&admin_b, B, "DUP@Example.FR"),
    ] {
        let (st, v) = s
            .post(
                &format!("/admin/v1/accounts/{n}/advanced-users"),
                admin,
                advanced_body("Second", email, &["ws_tracking"]),
            )
            .await;
        assert_eq!(st, 409, "{v}");
        assert_eq!(v["error"]["field"], "email", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("user key"),
            "{v}"
        );
    }
    assert_eq!(s.count("users").await, users, "nothing written");
    assert_eq!(s.count("outbox").await, mails, "no invitation sent");
    // Renaming another (still invited) advanced user to the e-mail: refused too.
    let (st, other) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin_a,
            advanced_body("Autre", "autre@example.fr", &[]),
        )
        .await;
    assert_eq!(st, 201, "{other}");
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{A}/users/{}", other["id"]),
            &admin_a,
            json!({"email": "Dup@example.fr", "emailConfirmation": "Dup@example.fr"}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["field"], "email", "{v}");
    // A standard user may share an e-mail (a collaborator is not an advanced identity).
    let mut std = standard_body("Collab", "collabdup", &["dashboard"]);
    std["email"] = "dup@example.fr".into();
    std["emailConfirmation"] = "dup@example.fr".into();
    let (st, v) = s
        .post(&format!("/admin/v1/accounts/{A}/users"), &admin_a, std)
        .await;
    assert_eq!(st, 201, "{v}");
}
both!(
    an_email_held_by_an_advanced_user_is_refused,
    an_email_held_by_an_advanced_user_is_refused_body
);

/// Item 3 through the import: a line whose e-mail an advanced user holds gets the seed-style
/// status telling to associate by user key, and importing the same file again creates nobody.
async fn reimporting_a_file_creates_nobody_twice_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let file = "NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GEOGRAPHIQUE;CODE POSTAL;VILLE;WEB SERVICE SUIVI\n\
                Martin;Zoé;Agent;zoe@example.fr;0102030405;1 rue;75001;Paris;oui\n\
                Martin;Zoé;Agent;ZOE@example.fr;0102030405;1 rue;75001;Paris;oui\n\
                Durand;Luc;Agent;luc@example.fr;0102030405;2 rue;75002;Paris;non\n";
    let (st, v) = crate::csv::upload(s, A, &admin, file.as_bytes().to_vec()).await;
    assert_eq!(st, 202, "{v}");
    s.wait_import(A, &admin).await;
    let taken = "Erreur sur les informations de l'utilisateur (EMAIL déjà utilisé : associer l'utilisateur avec sa clé utilisateur)";
    let lines = crate::csv::result_lines(s, A, &admin).await;
    assert!(lines[1].ends_with("Traitement OK"), "{lines:?}");
    assert!(lines[2].ends_with(taken), "{lines:?}");
    assert!(lines[3].ends_with("Traitement OK"), "{lines:?}");
    let users = s.count("users").await;
    let (st, v) = crate::csv::upload(s, A, &admin, file.as_bytes().to_vec()).await;
    assert_eq!(st, 202, "{v}");
    let done = s.wait_import(A, &admin).await;
    assert_eq!(
        s.count("users").await,
        users,
        "the same users created twice"
    );
    let lines = crate::csv::result_lines(s, A, &admin).await;
    for l in &lines[1..] {
        assert!(l.ends_with(taken), "{lines:?}");
    }
    assert_eq!(done["okLines"], 0, "{done}");
}
both!(
    reimporting_a_file_creates_nobody_twice,
    reimporting_a_file_creates_nobody_twice_body
);

/// Item 1: "Accès au site" means it. A collaborator without it cannot sign in (403
/// no_site_access, a clear message) once its password is right; a wrong password stays the
/// plain 401 (no oracle); granting it lets the collaborator in; withdrawing it ends its sessions.
async fn site_access_gates_sign_in_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/users"),
            &admin,
            standard_body("Sans", "sansacces", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (st, v) = s.sign_in_user("sansacces", "StdPass123").await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "no_site_access", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Accès au site"),
        "{v}"
    );
    assert!(v.get("token").is_none());
    let (st, _) = s.sign_in_user("sansacces", "wrong-pass1").await;
    assert_eq!(st, 401, "a wrong password tells nothing more");
    // Granted: the collaborator signs in.
    let path = format!("/admin/v1/accounts/{A}/users/{id}");
    let (st, v) = s
        .put(
            &path,
            &admin,
            json!({"rights": ["dashboard", "site_access"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.sign_in_user("sansacces", "StdPass123").await;
    assert_eq!(st, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/admin/v1/me", &token).await.0, 200);
    // Withdrawn: its open session ends at once, and it cannot sign in again.
    let (st, v) = s.put(&path, &admin, json!({"rights": ["dashboard"]})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.get("/admin/v1/me", &token).await.0, 401);
    assert_eq!(s.sign_in_user("sansacces", "StdPass123").await.0, 403);
    // Advanced users have no site access to withhold: they sign in to their own page.
    active_advanced(s, A, &admin, "avance", &["ws_tracking"]).await;
    assert_eq!(s.sign_in_user("avance", USER_PASSWORD).await.0, 201);
}
both!(site_access_gates_sign_in, site_access_gates_sign_in_body);

/// Item 1: the catalogue says, for every right, which route it gates or that it is stored for
/// the carrier's own applications.
async fn every_right_says_what_it_gates_body(s: &Server) {
    let (st, v) = s.anon_get("/admin/v1/rights").await;
    assert_eq!(st, 200, "{v}");
    for list in ["advanced", "standard"] {
        for r in v[list].as_array().unwrap() {
            let g = r["gates"].as_str().unwrap_or("");
            assert!(
                g.starts_with("gateway: ")
                    || g.starts_with("admin API: ")
                    || g.starts_with("stored for the carrier's own applications"),
                "{list} {}: {g:?}",
                r["id"]
            );
        }
    }
    let site = v["standard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "site_access")
        .unwrap();
    assert!(site["gates"]
        .as_str()
        .unwrap()
        .contains("/admin/v1/sessions"));
}
both!(
    every_right_says_what_it_gates,
    every_right_says_what_it_gates_body
);

/// Item 4: the operator erases an identity. Links removed (each account's log says so), keys
/// revoked, sign-in gone, personal fields blanked, audit kept without the person, the e-mail
/// free again. Nobody else may erase.
async fn the_operator_erases_an_identity_body(s: &Server) {
    let admin_a = s.account(A, ENT).await;
    let admin_b = s.account(B, ENT).await;
    let (id, user_key, key, ut) = active_advanced(s, A, &admin_a, "erased", &["ws_tracking"]).await;
    let (st, _) = s
        .post(
            &format!("/admin/v1/accounts/{B}/links"),
            &admin_b,
            json!({"userKey": user_key, "rights": ["ws_tracking"], "tag": "SUD"}),
        )
        .await;
    assert_eq!(st, 201);
    let path = format!("/admin/v1/users/{id}/erasure");
    // Not an account admin (even a linked one), not the user itself.
    for token in [&admin_a, &admin_b, &ut] {
        let (st, v) = s.post(&path, token, json!({})).await;
        assert_eq!(st, 403, "{v}");
    }
    let hash = s
        .store
        .hasher()
        .hash_key(&ConnectionKey::parse(&key).unwrap());
    assert!(s
        .store
        .principal_by_key_hash(&hash)
        .await
        .unwrap()
        .is_some());
    let (st, v) = s
        .post(&path, OPERATOR, json!({"comment": "demande RGPD n° 42"}))
        .await;
    assert_eq!(st, 204, "{v}");
    // The key authenticates nothing, the session is over, the login is gone.
    assert!(s
        .store
        .principal_by_key_hash(&hash)
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.get("/admin/v1/me", &ut).await.0, 401);
    assert_eq!(s.sign_in_user("erased", USER_PASSWORD).await.0, 401);
    // No account sees the user any more.
    for (n, t) in [(A, &admin_a), (B, &admin_b)] {
        assert_eq!(
            s.get(&format!("/admin/v1/accounts/{n}/users/{id}"), t)
                .await
                .0,
            404
        );
        let (_, list) = s.get(&format!("/admin/v1/accounts/{n}/users"), t).await;
        assert!(!list.to_string().contains("erased@example.fr"), "{list}");
    }
    assert_eq!(
        s.get(&format!("/admin/v1/advanced-users/{user_key}"), &admin_a)
            .await
            .0,
        404
    );
    // The audit is kept, naming the user by its id, without the person.
    let (_, log) = s
        .get(
            &format!("/admin/v1/audit?userId={id}&perPage=200"),
            OPERATOR,
        )
        .await;
    let text = log.to_string();
    for personal in ["erased@example.fr", "Dupont", ":\"erased\"", &user_key] {
        assert!(!text.contains(personal), "{personal} kept in {text}");
    }
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.erase"), "{actions:?}");
    assert!(actions.contains(&"user.create_advanced"), "{actions:?}");
    // Each linked account's own log says its link went.
    let (_, log_b) = s
        .get(
            &format!("/admin/v1/accounts/{B}/audit?userId={id}"),
            &admin_b,
        )
        .await;
    assert!(
        log_b
            .to_string()
            .contains("identity erased by the operator"),
        "{log_b}"
    );
    // No mail to the person is left queued; the e-mail is free for a new identity.
    assert!(s.mails("erased@example.fr").await.is_empty());
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin_a,
            advanced_body("Nouveau", "erased@example.fr", &[]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    // Erased once: a second erasure finds nobody; the main contact is never erased.
    assert_eq!(s.post(&path, OPERATOR, json!({})).await.0, 404);
    let (_, users) = s
        .get(&format!("/admin/v1/accounts/{A}/users"), &admin_a)
        .await;
    let main = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mainContact"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (st, v) = s
        .post(
            &format!("/admin/v1/users/{main}/erasure"),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
}
both!(
    the_operator_erases_an_identity,
    the_operator_erases_an_identity_body
);

/// Item 4: an account admin deleting its last link to a user who never confirmed deletes the
/// invitation too (and the invited identity with it, freeing its e-mail); a confirmed user is
/// only unlinked.
async fn removing_a_never_confirmed_user_deletes_its_invitation_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin,
            advanced_body("Jamais", "jamais@example.fr", &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let token = s
        .mailed_token("jamais@example.fr", "/admin/v1/invitations/")
        .await;
    let (users, invitations) = (s.count("users").await, s.count("invitations").await);
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/{A}/users/{id}"), &admin)
        .await;
    assert_eq!(st, 204);
    assert_eq!(s.count("users").await, users - 1);
    assert_eq!(s.count("invitations").await, invitations - 1);
    assert_eq!(
        s.anon_get(&format!("/admin/v1/invitations/{token}"))
            .await
            .0,
        404
    );
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin,
            advanced_body("Jamais", "jamais@example.fr", &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201, "the e-mail is free again: {v}");
    // A confirmed user is unlinked, never deleted.
    let (cid, _, _, _) = active_advanced(s, A, &admin, "confirme", &[]).await;
    let users = s.count("users").await;
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/{A}/users/{cid}"), &admin)
        .await;
    assert_eq!(st, 204);
    assert_eq!(s.count("users").await, users);
}
both!(
    removing_a_never_confirmed_user_deletes_its_invitation,
    removing_a_never_confirmed_user_deletes_its_invitation_body
);

/// A browser's form: `fields` then the file part, with `boundary`.
fn form(boundary: &str, fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, file_name, bytes)) = file {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

async fn post_form(s: &Server, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = s
        .raw(
            reqwest::Method::POST,
            &format!("/admin/v1/accounts/{A}/imports"),
            Some(token),
            Some(body),
            content_type,
        )
        .await;
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap())
}

/// Item 7: the import takes the file as a browser uploads it (multipart/form-data, the file part
/// among other fields), named after the part's file name; a form without a file, or a broken
/// one, is refused naming `file`; the raw body keeps working.
async fn imports_take_a_browser_upload_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let csv = "NOM;PRENOM;FONCTION;EMAIL;TELEPHONE;ADRESSE GEOGRAPHIQUE;CODE POSTAL;VILLE;WEB SERVICE SUIVI\n\
               Martin;Zoé;Agent;zoe.form@example.fr;0102030405;1 rue;75001;Paris;oui\n";
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let ct = format!("multipart/form-data; boundary={boundary}");
    let body = form(
        boundary,
        &[("lang", "fr")],
        Some(("file", "équipe.csv", csv.as_bytes())),
    );
    let (st, v) = post_form(s, &admin, &ct, body).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["job"]["fileName"], "équipe.csv", "{v}");
    assert_eq!(v["job"]["totalLines"], 1, "{v}");
    let done = s.wait_import(A, &admin).await;
    assert_eq!(done["okLines"], 1, "{done}");
    let lines = crate::csv::result_lines(s, A, &admin).await;
    assert!(lines[1].ends_with("Traitement OK"), "{lines:?}");
    // A form without a file part.
    let (st, v) = post_form(s, &admin, &ct, form(boundary, &[("lang", "fr")], None)).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["field"], "file", "{v}");
    // A form cut short, and a form without a boundary.
    let mut cut = form(boundary, &[], Some(("file", "a.csv", csv.as_bytes())));
    cut.truncate(cut.len() - 30);
    let (st, v) = post_form(s, &admin, &ct, cut).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["field"], "file", "{v}");
    let (st, v) = post_form(s, &admin, "multipart/form-data", csv.as_bytes().to_vec()).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["field"], "file", "{v}");
    // The raw body still works.
    let raw = csv.replace("zoe.form@", "zoe.raw@");
    let (st, v) = crate::csv::upload(s, A, &admin, raw.into_bytes()).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(s.wait_import(A, &admin).await["okLines"], 1);
}
both!(
    imports_take_a_browser_upload,
    imports_take_a_browser_upload_body
);

/// Waits for the forgotten-password work done after the answer: `n` mails to `to`.
async fn wait_mails(s: &Server, to: &str, n: usize) {
    for _ in 0..500 {
        if s.mails(to).await.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(s.mails(to).await.len(), n, "mails to {to}");
}

/// Item 8: the account admin's forgotten password (seed 000 §3: "renseignez votre identifiant
/// et votre adresse mail utilisée lors de la souscription"). The 6-digit login and the main
/// contact's e-mail get a reset link to that address; any mismatch, an unknown or disabled
/// account get the same 202 and no mail; the link sets the admin password once and signs the
/// old sessions out.
async fn the_account_admin_resets_a_forgotten_password_body(s: &Server) {
    const BOSS: &str = "direction@societe.example.fr";
    let (st, v) = s
        .post(
            "/admin/v1/accounts",
            OPERATOR,
            json!({
                "number": A, "company": "Société A", "entitlements": ENT,
                "adminPassword": "AdminPass123", "upstreamLogin": A, "upstreamPassword": "upstream-secret",
                "contact": {"lastName": "Durand", "firstName": "Anne", "function": "Gérante",
                    "phone": "0102030405", "email": BOSS, "address": "1 rue", "postalCode": "75001",
                    "city": "Paris", "country": "France"},
            }),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let old_session = s.sign_in_admin(A).await;
    let forgot = |login: &str, email: &str| {
        let body = json!({"login": login, "email": email});
        async move { s.anon_post("/admin/v1/password-resets", body).await }
    };
    // Mismatches and unknown accounts: the same answer, no mail.
    let (st, expected) = forgot(A, "someone@else.example.fr").await;
    assert_eq!(st, 202);
    for (login, email) in [("999999", BOSS), ("12345", BOSS), (A, "")] {
        let (st, v) = forgot(login, email).await;
        assert_eq!((st, &v), (202, &expected), "{login} {email}");
    }
    wait_mails(s, BOSS, 0).await;
    // The right pair: a reset link to the subscription address.
    let (st, v) = forgot(A, "Direction@Societe.example.fr").await;
    assert_eq!((st, &v), (202, &expected));
    wait_mails(s, BOSS, 1).await;
    let token = s.mailed_token(BOSS, "/admin/v1/password-resets/").await;
    let (st, v) = s
        .anon_get(&format!("/admin/v1/password-resets/{token}"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["login"], A, "{v}");
    let (st, v) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "Nouveau12345", "passwordConfirmation": "Nouveau12345"}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = s
        .anon_post(
            "/admin/v1/sessions",
            json!({"accountNumber": A, "password": "Nouveau12345"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = s
        .anon_post(
            "/admin/v1/sessions",
            json!({"accountNumber": A, "password": "AdminPass123"}),
        )
        .await;
    assert_eq!(st, 401, "the old password is gone");
    assert_eq!(s.get("/admin/v1/me", &old_session).await.0, 401);
    // Single use.
    let (st, _) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "Encore12345", "passwordConfirmation": "Encore12345"}),
        )
        .await;
    assert_eq!(st, 410);
    // A disabled account gets no link.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{A}/status"),
            OPERATOR,
            json!({"enabled": false, "comment": "test"}),
        )
        .await;
    assert!(st == 200, "{v}");
    let (st, v) = forgot(A, BOSS).await;
    assert_eq!((st, &v), (202, &expected));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    wait_mails(s, BOSS, 1).await;
}
both!(
    the_account_admin_resets_a_forgotten_password,
    the_account_admin_resets_a_forgotten_password_body
);

/// Item 5: rights e-mails say what happened. Granting sends "De nouveaux droits vous ont été
/// attribués" (listing what was granted); withdrawing sends "vos droits ont été modifiés" and
/// unlinking "vos droits ont été retirés", each listing the rights that remain per account.
async fn rights_mails_say_what_happened_body(s: &Server) {
    const TO: &str = "mails@example.fr";
    let admin_a = s.account(A, ENT).await;
    let admin_b = s.account(B, ENT).await;
    let (id, user_key, _, _) = active_advanced(s, A, &admin_a, "mails", &["ws_tracking"]).await;
    let (st, _) = s
        .post(
            &format!("/admin/v1/accounts/{B}/links"),
            &admin_b,
            json!({"userKey": user_key, "rights": ["ws_postage"]}),
        )
        .await;
    assert_eq!(st, 201);
    let newest = || async { s.mails(TO).await[0].clone() };
    let count = || async { s.mails(TO).await.len() };
    let path = format!("/admin/v1/accounts/{A}/users/{id}");
    // Granting: the granted right only.
    let before = count().await;
    let (st, _) = s
        .put(
            &path,
            &admin_a,
            json!({"rights": ["ws_tracking", "ws_postage"]}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(count().await, before + 1);
    let m = newest().await;
    let body = m["body"].as_str().unwrap();
    assert!(
        body.contains("De nouveaux droits vous ont été attribués par Société 910001"),
        "{body}"
    );
    assert!(
        body.contains("Web Service Affranchissement") && !body.contains("Web Service suivi"),
        "{body}"
    );
    // Withdrawing: no "new rights" mail; what remains, per account.
    let (st, _) = s
        .put(&path, &admin_a, json!({"rights": ["ws_postage"]}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(count().await, before + 2);
    let m = newest().await;
    let body = m["body"].as_str().unwrap();
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .contains("vos droits ont été modifiés"),
        "{m}"
    );
    assert!(!body.contains("De nouveaux droits"), "{body}");
    assert!(
        body.contains("- Société 910001 : Web Service Affranchissement"),
        "{body}"
    );
    assert!(
        body.contains("- Société 910002 : Web Service Affranchissement"),
        "{body}"
    );
    // Unchanged rights: no mail.
    let (st, _) = s
        .put(&path, &admin_a, json!({"rights": ["ws_postage"]}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(count().await, before + 2);
    // Unlinking: "retirés", with what remains on B.
    let (st, _) = s.delete(&path, &admin_a).await;
    assert_eq!(st, 204);
    assert_eq!(count().await, before + 3);
    let m = newest().await;
    let body = m["body"].as_str().unwrap();
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .contains("vos droits ont été retirés"),
        "{m}"
    );
    assert!(
        body.contains("Société 910001 a retiré votre accès"),
        "{body}"
    );
    assert!(!body.contains("- Société 910001"), "{body}");
    assert!(
        body.contains("- Société 910002 : Web Service Affranchissement"),
        "{body}"
    );
}
both!(
    rights_mails_say_what_happened,
    rights_mails_say_what_happened_body
);

/// Item 6: the sub-accounts module switched on per account (seed 004 §2). Off, the account's
/// admin creates, edits and deletes no collaborator (403 sub_accounts_off, a clear message,
/// nothing written), while the operator's back office still may; on again, it may.
async fn the_sub_accounts_module_gates_collaborator_management_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/users"),
            &admin,
            standard_body("Avant", "avant", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let modules = format!("/admin/v1/accounts/{A}/modules");
    let off = json!({"subAccounts": false, "collaboratorValidation": false});
    // Only the operator switches modules.
    assert_eq!(s.put(&modules, &admin, off.clone()).await.0, 403);
    let (st, v) = s.put(&modules, OPERATOR, off).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subAccounts"], false, "{v}");
    let users = s.count("users").await;
    let refused = [
        s.post(
            &format!("/admin/v1/accounts/{A}/users"),
            &admin,
            standard_body("Apres", "apres", &["dashboard"]),
        )
        .await,
        s.put(
            &format!("/admin/v1/accounts/{A}/users/{id}"),
            &admin,
            json!({"rights": ["dashboard", "site_access"]}),
        )
        .await,
        s.delete(&format!("/admin/v1/accounts/{A}/users/{id}"), &admin)
            .await,
    ];
    for (st, v) in refused {
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"]["code"], "sub_accounts_off", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("sous-comptes"),
            "{v}"
        );
    }
    assert_eq!(s.count("users").await, users, "nothing written");
    // Advanced users are not collaborators: still managed.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/advanced-users"),
            &admin,
            advanced_body("Avance", "avance.mod@example.fr", &[]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    // The back office still creates collaborators.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/users"),
            OPERATOR,
            standard_body("Backoffice", "backoffice", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    // On again.
    let on = json!({"subAccounts": true, "collaboratorValidation": false});
    assert_eq!(s.put(&modules, OPERATOR, on).await.0, 200);
    let (st, v) = s
        .delete(&format!("/admin/v1/accounts/{A}/users/{id}"), &admin)
        .await;
    assert_eq!(st, 204, "{v}");
}
both!(
    the_sub_accounts_module_gates_collaborator_management,
    the_sub_accounts_module_gates_collaborator_management_body
);

/// Item 6: collaborators' validation status (seed 004 §4). Accepted by default when created in
/// the back office; pending when the account's admin creates it on an account whose module
/// requires validation; a pending or refused collaborator cannot sign in (its own message);
/// the operator accepts or refuses, audited with its comment.
async fn collaborators_wait_for_validation_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/{A}/modules"),
            OPERATOR,
            json!({"subAccounts": true, "collaboratorValidation": true}),
        )
        .await;
    assert_eq!(st, 200);
    let rights = &["dashboard", "site_access"];
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/users"),
            &admin,
            standard_body("Attente", "attente", rights),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["validationStatus"], "pending", "{v}");
    let id = v["id"].as_i64().unwrap();
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{A}/users"),
            OPERATOR,
            standard_body("Bureau", "bureau", rights),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["validationStatus"], "accepted", "{v}");
    assert_eq!(s.sign_in_user("bureau", "StdPass123").await.0, 201);
    // Pending: no sign-in, with its own message once the password is right.
    let (st, v) = s.sign_in_user("attente", "StdPass123").await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "validation_pending", "{v}");
    assert_eq!(s.sign_in_user("attente", "wrong-pass1").await.0, 401);
    // Only the operator validates.
    let path = format!("/admin/v1/accounts/{A}/users/{id}/validation");
    assert_eq!(
        s.put(&path, &admin, json!({"status": "accepted"})).await.0,
        403
    );
    let (st, v) = s.put(&path, OPERATOR, json!({"status": "maybe"})).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["field"], "status", "{v}");
    let (st, v) = s
        .put(
            &path,
            OPERATOR,
            json!({"status": "accepted", "comment": "vérifié"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["validationStatus"], "accepted", "{v}");
    let (st, v) = s.sign_in_user("attente", "StdPass123").await;
    assert_eq!(st, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    // Refused: its session ends, sign-in refused.
    let (st, _) = s.put(&path, OPERATOR, json!({"status": "refused"})).await;
    assert_eq!(st, 200);
    assert_eq!(s.get("/admin/v1/me", &token).await.0, 401);
    let (st, v) = s.sign_in_user("attente", "StdPass123").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("validation_refused"))
    );
    let (_, log) = s
        .get(&format!("/admin/v1/accounts/{A}/audit?userId={id}"), &admin)
        .await;
    assert!(log.to_string().contains("vérifié"), "{log}");
}
both!(
    collaborators_wait_for_validation,
    collaborators_wait_for_validation_body
);

/// Item 6: contact segments (seed 004 §4, "Segmentation libre"), the operator's: create, add
/// and remove contacts, filter the contacts list by segment, export a segment (cells defused);
/// account admins reach none of it.
async fn the_operator_segments_contacts_body(s: &Server) {
    let admin = s.account(A, ENT).await;
    let mut ids = Vec::new();
    for (last, login) in [("=HYPERLINK(1)", "segun"), ("Deux", "segdeux")] {
        let (st, v) = s
            .post(
                &format!("/admin/v1/accounts/{A}/users"),
                &admin,
                standard_body(last, login, &["dashboard"]),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // Account admins: no segments.
    assert_eq!(s.get("/admin/v1/segments", &admin).await.0, 403);
    assert_eq!(
        s.post("/admin/v1/segments", &admin, json!({"name": "VIP"}))
            .await
            .0,
        403
    );
    let (st, v) = s
        .post("/admin/v1/segments", OPERATOR, json!({"name": "VIP"}))
        .await;
    assert_eq!(st, 201, "{v}");
    let seg = v["id"].as_i64().unwrap();
    let (st, v) = s
        .post("/admin/v1/segments", OPERATOR, json!({"name": " VIP "}))
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (409, Some("name")),
        "{v}"
    );
    let (st, v) = s
        .post("/admin/v1/segments", OPERATOR, json!({"name": ""}))
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("name")),
        "{v}"
    );
    let member = |u: i64| format!("/admin/v1/segments/{seg}/members/{u}");
    assert_eq!(s.put(&member(ids[0]), &admin, json!({})).await.0, 403);
    assert_eq!(s.put(&member(ids[0]), OPERATOR, json!({})).await.0, 204);
    assert_eq!(
        s.put(&member(ids[0]), OPERATOR, json!({})).await.0,
        204,
        "idempotent"
    );
    assert_eq!(s.put(&member(ids[1]), OPERATOR, json!({})).await.0, 204);
    assert_eq!(s.put(&member(999_999), OPERATOR, json!({})).await.0, 404);
    let (_, v) = s.get("/admin/v1/segments", OPERATOR).await;
    assert_eq!(v["items"][0]["members"], 2, "{v}");
    // Filtered contacts list (operator only).
    let list = format!("/admin/v1/accounts/{A}/users?segment={seg}");
    assert_eq!(s.get(&list, &admin).await.0, 403);
    let (st, v) = s.get(&list, OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(s.delete(&member(ids[1]), OPERATOR).await.0, 204);
    let (_, v) = s.get(&list, OPERATOR).await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["items"][0]["id"], ids[0], "{v}");
    // Export: the segment's contacts, formulas defused.
    let resp = s
        .raw(
            reqwest::Method::GET,
            &format!("/admin/v1/segments/{seg}/export"),
            Some(OPERATOR),
            None,
            "",
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let text = String::from_utf8(resp.bytes().await.unwrap()[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("'=HYPERLINK(1)"), "{text}");
    // Deleting the segment keeps the contacts.
    let users = s.count("users").await;
    assert_eq!(
        s.delete(&format!("/admin/v1/segments/{seg}"), OPERATOR)
            .await
            .0,
        204
    );
    assert_eq!(s.count("users").await, users);
    assert_eq!(s.get(&list, OPERATOR).await.0, 200);
}
both!(
    the_operator_segments_contacts,
    the_operator_segments_contacts_body
);
