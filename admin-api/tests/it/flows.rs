//! The admin API's flows over HTTP, each run on SQLite and on PostgreSQL.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use sesame_store::Backend;

const ENT: &[&str] = sesame_store::testing::ENTITLEMENTS;

async fn account_rights_flow(s: &Server) {
    // Operator: create, list, get, entitlements, upstream credentials, disable/enable.
    let admin = s.account("900138", ENT).await;
    let (st, v) = s.get("/admin/v1/accounts", OPERATOR).await;
    assert_eq!(st, 200);
    assert_eq!(v["items"][0]["number"], "900138");
    assert!(v["items"][0].get("upstreamPassword").is_none());
    let (st, v) = s.get("/admin/v1/accounts/me", &admin).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["departments"][0]["name"], "Logistique");
    let (st, _) = s.get("/admin/v1/accounts", &admin).await;
    assert_eq!(st, 403, "the operator's list is not the admin's");
    let (st, v) = s
        .put(
            "/admin/v1/accounts/900138/entitlements",
            OPERATOR,
            json!({"entitlements": ENT}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = s
        .put(
            "/admin/v1/accounts/900138/upstream-credentials",
            OPERATOR,
            json!({"upstreamLogin": "900138", "upstreamPassword": "new"}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.get("/admin/v1/accounts/900138", "wrong-token").await;
    assert_eq!(st, 401);

    // Standard user (seed 000 §4).
    let (st, std) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Martin", "mmartin", &["dashboard", "invoices:group"]),
        )
        .await;
    assert_eq!(st, 201, "{std}");
    assert_eq!(std["kind"], "standard");
    let std_id = std["id"].as_i64().unwrap();
    // Login taken: 409 naming the field.
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Autre", "mmartin", &[]),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["field"], "login");

    // Advanced user with its invitation, confirmation and rights e-mail (seed 000 §5.1).
    let email = "jdupont@example.fr";
    let (st, adv) = s
        .post(
            "/admin/v1/accounts/900138/advanced-users",
            &admin,
            advanced_body("Dupont", email, &["ws_tracking", "tracking_tool:own"]),
        )
        .await;
    assert_eq!(st, 201, "{adv}");
    assert_eq!(adv["status"], "invited");
    let adv_id = adv["id"].as_i64().unwrap();
    let mails = s.mails(email).await;
    let body = mails[0]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "Une demande de création de compte utilisateur vient d'être faite par Société 900138"
        ),
        "{body}"
    );
    assert!(body.contains("https://sesame.example/admin/v1/invitations/"));
    assert!(body.contains("48h"));
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    let (st, inv) = s.anon_get(&format!("/admin/v1/invitations/{token}")).await;
    assert_eq!(st, 200, "{inv}");
    assert_eq!(inv["user"]["profile"]["lastName"], "Dupont");
    assert_eq!(inv["account"]["number"], "900138");
    // Password confirmation mismatch: 422, nothing used.
    let (st, v) = s
        .anon_post(&format!("/admin/v1/invitations/{token}"), json!({"login": "jdupont", "password": "UserPass123", "passwordConfirmation": "UserPass124"}))
        .await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "passwordConfirmation");
    let (st, act) = s
        .anon_post(&format!("/admin/v1/invitations/{token}"), json!({"login": "jdupont", "password": "UserPass123", "passwordConfirmation": "UserPass123", "city": "Lyon"}))
        .await;
    assert_eq!(st, 201, "{act}");
    let conn_key = act["connectionKey"].as_str().unwrap().to_owned();
    assert_eq!(conn_key.len(), 32);
    let user_key = act["userKey"].as_str().unwrap().to_owned();
    assert_eq!(act["user"]["city"], "Lyon");
    let mails = s.mails(email).await;
    let rights_mail = mails[0]["body"].as_str().unwrap();
    assert!(
        rights_mail.contains("De nouveaux droits vous ont été attribués par Société 900138"),
        "{rights_mail}"
    );
    assert!(rights_mail.contains("- Web Service suivi"));
    assert!(rights_mail.contains("Suivi limité à la clé utilisateur"));
    // Reused link: a clear error.
    let (st, v) = s.anon_get(&format!("/admin/v1/invitations/{token}")).await;
    assert_eq!(st, 410);
    assert_eq!(v["error"]["code"], "invitation_used");
    // The connection key is stored only as a hash.
    let n: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users WHERE CAST(conn_key_hash AS TEXT) LIKE '%' || $1 || '%'",
    )
    .bind(&conn_key)
    .fetch_one(s.store.raw_pool())
    .await
    .unwrap_or(0);
    assert_eq!(n, 0);

    // Users table: standard + advanced, paginated, searchable.
    let (st, v) = s
        .get("/admin/v1/accounts/me/users?perPage=2&page=1", &admin)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["total"], 3, "main contact, standard and advanced: {v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (_, v) = s.get("/admin/v1/accounts/me/users?q=dupo", &admin).await;
    assert_eq!(v["total"], 1);
    assert_eq!(
        v["items"][0]["rights"],
        json!(["ws_tracking", "tracking_tool:own"])
    );
    let (_, v) = s
        .get("/admin/v1/accounts/900138/users?kind=standard", &admin)
        .await;
    assert_eq!(v["total"], 2);
    let (_, v) = s
        .get("/admin/v1/accounts/900138/users?q=jdupont", &admin)
        .await;
    assert_eq!(v["items"][0]["login"], "jdupont");

    // Self-service: me, key regeneration, password, details.
    let (st, user) = s.sign_in_user("jdupont", "UserPass123").await;
    assert_eq!(st, 201, "{user}");
    let ut = user["token"].as_str().unwrap().to_owned();
    let (st, me) = s.get("/admin/v1/me", &ut).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["userKey"], user_key.as_str());
    assert_eq!(me["accounts"][0]["number"], "900138");
    assert_eq!(
        me["accounts"][0]["rights"],
        json!(["ws_tracking", "tracking_tool:own"])
    );
    assert!(me.get("connectionKey").is_none());
    let (st, v) = s
        .post(
            "/admin/v1/me/connection-key",
            &ut,
            json!({"graceSeconds": 60}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let new_key = v["connectionKey"].as_str().unwrap();
    assert_ne!(new_key, conn_key);
    assert!(v["previousKeyValidUntil"].is_i64());
    let (st, v) = s.post("/admin/v1/me/password", &ut, json!({"currentPassword": "nope-1234", "password": "NewPass456", "passwordConfirmation": "NewPass456"})).await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "currentPassword");
    let (st, _) = s.post("/admin/v1/me/password", &ut, json!({"currentPassword": "UserPass123", "password": "NewPass456", "passwordConfirmation": "NewPass456"})).await;
    assert_eq!(st, 204);
    let (st, _) = s.sign_in_user("jdupont", "NewPass456").await;
    assert_eq!(st, 201);
    let (st, v) = s
        .patch("/admin/v1/me", &ut, json!({"phone": "0600000000"}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["phone"], "0600000000");
    let (st, v) = s
        .patch("/admin/v1/me", &ut, json!({"rights": ["ws_postage"]}))
        .await;
    assert_eq!(st, 403, "{v}");
    // A user cannot act as an admin.
    let (st, _) = s.get("/admin/v1/accounts/900138/users", &ut).await;
    assert_eq!(st, 403);

    // Association by user key from another account (seed 000 §6).
    let admin2 = s
        .account(
            "900200",
            &["ws_postage", "ws_pickup_point", "tracking_tool:all"],
        )
        .await;
    let (st, v) = s
        .get(&format!("/admin/v1/advanced-users/{user_key}"), &admin2)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["lastName"], "Dupont");
    assert!(v.get("login").is_none());
    let (st, _) = s
        .get(
            "/admin/v1/advanced-users/0123456789ABCDEF0123456789ABCDEF",
            &admin2,
        )
        .await;
    assert_eq!(st, 404);
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &admin2,
            json!({"userKey": user_key, "rights": ["ws_postage", "tracking_tool:group"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let mails = s.mails(email).await;
    assert!(mails[0]["body"]
        .as_str()
        .unwrap()
        .contains("De nouveaux droits vous ont été attribués par Société 900200"));
    assert!(mails[0]["body"]
        .as_str()
        .unwrap()
        .contains("Web Service Affranchissement"));
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &admin2,
            json!({"userKey": user_key, "rights": []}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    let (_, me) = s.get("/admin/v1/me", &ut).await;
    assert_eq!(me["accounts"].as_array().unwrap().len(), 2);
    // Edit rights and details from account 2.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{adv_id}"),
            &admin2,
            json!({"rights": ["ws_pickup_point"], "tag": "SUD"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rights"], json!(["ws_pickup_point"]));
    assert_eq!(v["tag"], "SUD");
    // Account 1 still sees its own rights.
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/me/users/{adv_id}"), &admin)
        .await;
    assert_eq!(v["rights"], json!(["ws_tracking", "tracking_tool:own"]));
    // Remove the link: the user stays, linked to account 1 only.
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/me/links/{adv_id}"), &admin2)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .get(&format!("/admin/v1/accounts/me/users/{adv_id}"), &admin2)
        .await;
    assert_eq!(st, 404);
    let (_, me) = s.get("/admin/v1/me", &ut).await;
    assert_eq!(me["accounts"].as_array().unwrap().len(), 1);

    // Delete the standard user.
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/me/users/{std_id}"), &admin)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .get(&format!("/admin/v1/accounts/me/users/{std_id}"), &admin)
        .await;
    assert_eq!(st, 404);

    // Audit log of the account, filtered.
    let (st, v) = s
        .get(
            &format!("/admin/v1/accounts/me/audit?userId={adv_id}"),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let actions: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.create_advanced"), "{actions:?}");
    assert!(actions.contains(&"user.activate"), "{actions:?}");
    let (_, v) = s
        .get("/admin/v1/accounts/me/audit?actor=operator", &admin)
        .await;
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"]["kind"] == "operator"));
    let (_, v) = s
        .get(
            "/admin/v1/accounts/me/audit?from=2000-01-01&to=2000-01-02",
            &admin,
        )
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
    let (st, v) = s
        .get("/admin/v1/audit?accountNumber=900200", OPERATOR)
        .await;
    assert_eq!(st, 200);
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "link.delete"));
    let (st, _) = s.get("/admin/v1/audit", &admin).await;
    assert_eq!(st, 403);

    // Disabled account: its admin session stops working and it cannot sign in.
    let (st, _) = s
        .put(
            "/admin/v1/accounts/900200/status",
            OPERATOR,
            json!({"enabled": false, "comment": "contrat résilié"}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s.get("/admin/v1/accounts/me", &admin2).await;
    assert_eq!(st, 401);
    let (st, _) = s
        .anon_post(
            "/admin/v1/sessions",
            json!({"accountNumber": "900200", "password": "AdminPass123"}),
        )
        .await;
    // Answered like a wrong password (issue 10: no password oracle).
    assert_eq!(st, 401);
    let (st, _) = s
        .anon_post(
            "/admin/v1/sessions",
            json!({"accountNumber": "900138", "password": "wrong-pass1"}),
        )
        .await;
    assert_eq!(st, 401);

    // Sign out revokes the session.
    let (st, _) = s.delete("/admin/v1/sessions/current", &ut).await;
    assert_eq!(st, 204);
    let (st, _) = s.get("/admin/v1/me", &ut).await;
    assert_eq!(st, 401);
}
both!(
    accounts_users_invitations_links_self_service_audit,
    account_rights_flow
);

async fn delegation_rule_names_the_right_and_writes_nothing_body(s: &Server) {
    let admin = s
        .account("900300", &["ws_tracking", "tracking_tool:own", "dashboard"])
        .await;
    let (users, audits, changes) = (
        s.count("users").await,
        s.count("audit_log").await,
        s.count("change_log").await,
    );
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            &admin,
            advanced_body(
                "Durand",
                "d@example.fr",
                &["ws_tracking", "ws_pickup_point"],
            ),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "delegation");
    assert_eq!(v["error"]["right"], "ws_pickup_point");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Vous ne pouvez pas donner le droit Web Service choix du point de livraison"));
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            &admin,
            advanced_body("Durand", "d@example.fr", &["tracking_tool:all"]),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["right"], "tracking_tool:all");
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Martin", "martin", &["collection"]),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["right"], "collection");
    assert_eq!(s.count("users").await, users);
    assert_eq!(s.count("audit_log").await, audits);
    assert_eq!(s.count("change_log").await, changes);
    assert!(s.mails("d@example.fr").await.is_empty());
    // On association and on edit too.
    let other = s.account("900301", &["ws_postage", "ws_tracking"]).await;
    let (_id, user_key, _k, _t) =
        active_advanced(s, "900301", &other, "assoc1", &["ws_postage"]).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &admin,
            json!({"userKey": user_key, "rights": ["ws_postage"]}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["right"], "ws_postage");
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &admin,
            json!({"userKey": user_key, "rights": ["ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let before = s.count("audit_log").await;
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}"),
            &admin,
            json!({"lastName": "Changé", "rights": ["ws_eligibility"]}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["right"], "ws_eligibility");
    assert_eq!(
        s.count("audit_log").await,
        before,
        "nothing written, not even the name"
    );
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/me/users/{id}"), &admin)
        .await;
    assert_eq!(v["lastName"], "Dupont");
}
both!(
    delegation_rule_names_the_right_and_writes_nothing,
    delegation_rule_names_the_right_and_writes_nothing_body
);

async fn other_accounts_users_are_not_found_body(s: &Server) {
    let a = s.account("900400", &["ws_tracking"]).await;
    let b = s.account("900401", &["ws_tracking"]).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &b,
            standard_body("Secret", "secretuser", &[]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    for path in [
        format!("/admin/v1/accounts/me/users/{id}"),
        format!("/admin/v1/accounts/900401/users/{id}"),
        "/admin/v1/accounts/900401".to_owned(),
        "/admin/v1/accounts/900401/users".to_owned(),
        "/admin/v1/accounts/999999/users".to_owned(),
    ] {
        let (st, v) = s.get(&path, &a).await;
        assert_eq!(st, 404, "{path}: {v}");
        assert!(!v.to_string().contains("Secret"));
    }
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}/status"),
            &a,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/me/users/{id}"), &a)
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/impersonate"),
            &a,
            json!({}),
        )
        .await;
    assert_eq!(st, 404);
    // The operator sees it.
    let (st, _) = s
        .get(&format!("/admin/v1/accounts/900401/users/{id}"), OPERATOR)
        .await;
    assert_eq!(st, 200);
}
both!(
    other_accounts_users_are_not_found,
    other_accounts_users_are_not_found_body
);

async fn expired_invitation_is_refused_and_resent_body(s: &Server) {
    let admin = s.account("900500", &["ws_tracking"]).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            &admin,
            advanced_body("Late", "late@example.fr", &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let token = s
        .mailed_token("late@example.fr", "/admin/v1/invitations/")
        .await;
    // 48 hours later.
    sqlx::query("UPDATE invitations SET expires_at = $1 WHERE user_id = $2")
        .bind(sesame_domain::model::now_millis() - 1)
        .bind(id)
        .execute(s.store.raw_pool())
        .await
        .unwrap();
    let (st, v) = s.anon_get(&format!("/admin/v1/invitations/{token}")).await;
    assert_eq!(st, 410, "{v}");
    assert_eq!(v["error"]["code"], "invitation_expired");
    assert!(v["error"]["message"].as_str().unwrap().contains("48h"));
    let (st, v) = s
        .anon_post(&format!("/admin/v1/invitations/{token}"), json!({"login": "late", "password": "UserPass123", "passwordConfirmation": "UserPass123"}))
        .await;
    assert_eq!(st, 410, "{v}");
    let (st, v) = s.anon_get("/admin/v1/invitations/not-a-token").await;
    assert_eq!(st, 404, "{v}");
    // Resend (English this time): the new link works, the old one stays dead.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/invitation?lang=en"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let mails = s.mails("late@example.fr").await;
    assert!(mails[0]["body"]
        .as_str()
        .unwrap()
        .contains("valid for 48 hours"));
    let token2 = s
        .mailed_token("late@example.fr", "/admin/v1/invitations/")
        .await;
    assert_ne!(token, token2);
    // In a browser, the links open the confirmation form, pre-filled.
    let page = s
        .http
        .get(format!("{}/admin/v1/invitations/{token2}", s.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("value=\"Late\"")
            && html.contains("Identifiant*")
            && html.contains("Web Service suivi"),
        "{html}"
    );
    let page = s
        .http
        .get(format!("{}/admin/v1/invitations/{token}", s.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 410);
    assert!(page.text().await.unwrap().contains("plus valable"));
    let (st, v) = s
        .anon_post(&format!("/admin/v1/invitations/{token2}"), json!({"login": "late", "password": "UserPass123", "passwordConfirmation": "UserPass123"}))
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/invitation"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(st, 409, "already active: {v}");
}
both!(
    expired_invitation_is_refused_and_resent,
    expired_invitation_is_refused_and_resent_body
);

async fn malformed_requests_name_the_field_and_write_nothing_body(s: &Server) {
    let admin = s.account("900600", &["ws_tracking"]).await;
    let (users, audits) = (s.count("users").await, s.count("audit_log").await);
    let path = "/admin/v1/accounts/me/advanced-users";
    // Malformed JSON.
    let resp = s
        .raw(
            Method::POST,
            path,
            Some(&admin),
            Some(b"{\"lastName\": \"x\",".to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "malformed_json");
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["isAdmin"] = json!(true);
    cases.push((b, "isAdmin"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["lastName"] = json!("L".repeat(81));
    cases.push((b, "lastName"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["phone"] = json!(102030405);
    cases.push((b, "phone"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["rights"] = json!(["ws_tracking", "teleport"]);
    cases.push((b, "rights"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["email"] = json!("not-an-email");
    cases.push((b, "email"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["emailConfirmation"] = json!("y@example.fr");
    cases.push((b, "emailConfirmation"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b.as_object_mut().unwrap().remove("function");
    cases.push((b, "function"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["city"] = json!("");
    cases.push((b, "city"));
    let mut b = advanced_body("X", "x@example.fr", &[]);
    b["tag"] = json!("T".repeat(36));
    cases.push((b, "tag"));
    for (body, field) in cases {
        let (st, v) = s.post(path, &admin, body).await;
        assert!(st == 422 || st == 400, "{field}: {st} {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (st, v) = s
        .put(
            "/admin/v1/accounts/900600/status",
            OPERATOR,
            json!({"enabled": "yes"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "enabled");
    let (st, v) = s
        .post(
            "/admin/v1/accounts",
            OPERATOR,
            json!({"number": "12345", "company": "x"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "number");
    let (st, v) = s
        .get("/admin/v1/accounts/me/users?perPage=100000", &admin)
        .await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "perPage");
    assert_eq!(s.count("users").await, users);
    assert_eq!(s.count("audit_log").await, audits);
    // Duplicate account: 409 naming the field.
    let (st, v) = s
        .post(
            "/admin/v1/accounts",
            OPERATOR,
            json!({"number": "900600", "company": "x", "entitlements": [],
            "adminPassword": "AdminPass123", "upstreamLogin": "x", "upstreamPassword": "y"}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(v["error"]["field"], "accountNumber");
    // Unknown route: JSON error too.
    let (st, v) = s.get("/admin/v1/nothing", &admin).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "no_route");
}
both!(
    malformed_requests_name_the_field_and_write_nothing,
    malformed_requests_name_the_field_and_write_nothing_body
);

async fn back_office_actions_body(s: &Server) {
    let admin = s
        .account("900700", &["ws_tracking", "dashboard", "site_access"])
        .await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            &admin,
            standard_body("Collab", "collab", &["dashboard", "site_access"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (st, _) = s.sign_in_user("collab", "StdPass123").await;
    assert_eq!(st, 201);
    let (_, ut) = s.sign_in_user("collab", "StdPass123").await;
    let ut = ut["token"].as_str().unwrap().to_owned();
    // View.
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/me/users/{id}"), &admin)
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["rights"], json!(["dashboard", "site_access"]));
    // Disable with a comment: audited, sessions stop, sign-in refused.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}/status"),
            &admin,
            json!({"enabled": false, "comment": "départ de l'entreprise"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "disabled");
    let (st, _) = s.get("/admin/v1/me", &ut).await;
    assert_eq!(st, 401);
    let (st, _) = s.sign_in_user("collab", "StdPass123").await;
    assert_eq!(st, 401);
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/me/audit?userId={id}"), &admin)
        .await;
    let entry = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.status")
        .unwrap()
        .clone();
    assert_eq!(entry["comment"], "départ de l'entreprise");
    assert_eq!(entry["actor"]["kind"], "account_admin");
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}/status"),
            &admin,
            json!({"enabled": true, "comment": "retour"}),
        )
        .await;
    assert_eq!(st, 200);
    // Password reset link.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/password-reset"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let token = s
        .mailed_token("collab@example.fr", "/admin/v1/password-resets/")
        .await;
    let (st, v) = s
        .anon_get(&format!("/admin/v1/password-resets/{token}"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["login"], "collab");
    let (st, v) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "short", "passwordConfirmation": "short"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(v["error"]["field"], "password");
    let (st, _) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "Reset12345", "passwordConfirmation": "Reset12345"}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "Reset12345", "passwordConfirmation": "Reset12345"}),
        )
        .await;
    assert_eq!(st, 410, "single use");
    let (st, _) = s.sign_in_user("collab", "Reset12345").await;
    assert_eq!(st, 201);
    // Impersonation: a short session whose writes are audited as impersonating.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/impersonate"),
            &admin,
            json!({"comment": "ticket 42"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let it = v["token"].as_str().unwrap().to_owned();
    let exp = v["expiresAt"].as_i64().unwrap();
    assert!(exp - sesame_domain::model::now_millis() <= 15 * 60 * 1000 + 1000);
    let (st, me) = s.get("/admin/v1/me", &it).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["login"], "collab");
    assert_eq!(me["impersonated"], true);
    let (st, _) = s
        .patch("/admin/v1/me", &it, json!({"function": "Chef comptable"}))
        .await;
    assert_eq!(st, 200);
    let (st, _) = s.post("/admin/v1/me/password", &it, json!({"currentPassword": "Reset12345", "password": "Other12345", "passwordConfirmation": "Other12345"})).await;
    assert_eq!(st, 403, "an impersonator does not change the password");
    let (_, v) = s
        .get(
            &format!("/admin/v1/accounts/me/audit?userId={id}&actor=impersonating"),
            &admin,
        )
        .await;
    let items = v["items"].as_array().unwrap();
    assert!(
        items.iter().any(|e| e["action"] == "user.update_self"),
        "{items:?}"
    );
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/me/audit?userId={id}"), &admin)
        .await;
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "session.impersonate" && e["comment"] == "ticket 42"));
    // Write an e-mail: it lands in the outbox.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/messages"),
            &admin,
            json!({"subject": "Bonjour", "body": "Votre accès est rétabli."}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let mails = s.mails("collab@example.fr").await;
    assert_eq!(mails[0]["subject"], "Bonjour");
    assert_eq!(mails[0]["body"], "Votre accès est rétabli.");
    // Forgotten password: the same answer whether or not the details match.
    let before = s.mails("collab@example.fr").await.len();
    for body in [
        json!({"login": "collab", "email": "wrong@example.fr"}),
        json!({"login": "nobody", "email": "collab@example.fr"}),
    ] {
        let (st, _) = s.anon_post("/admin/v1/password-resets", body).await;
        assert_eq!(st, 202);
    }
    assert_eq!(s.mails("collab@example.fr").await.len(), before);
    let (st, _) = s
        .anon_post(
            "/admin/v1/password-resets",
            json!({"login": "collab", "email": "COLLAB@example.fr"}),
        )
        .await;
    assert_eq!(st, 202);
    // The reset is mailed after the answer (same timing whatever the details).
    for _ in 0..500 {
        if s.mails("collab@example.fr").await.len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(s.mails("collab@example.fr").await.len(), before + 1);
    let token = s
        .mailed_token("collab@example.fr", "/admin/v1/password-resets/")
        .await;
    let (st, _) = s
        .anon_post(
            &format!("/admin/v1/password-resets/{token}"),
            json!({"password": "Forgot12345", "passwordConfirmation": "Forgot12345"}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.sign_in_user("collab", "Forgot12345").await;
    assert_eq!(st, 201);
    // The account admin changes its own password.
    let (st, v) = s.post("/admin/v1/me/password", &admin, json!({"currentPassword": "AdminPass123", "password": "NewAdmin123", "passwordConfirmation": "NewAdmin123"})).await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = s
        .anon_post(
            "/admin/v1/sessions",
            json!({"accountNumber": "900700", "password": "NewAdmin123"}),
        )
        .await;
    assert_eq!(st, 201);
}
both!(back_office_actions, back_office_actions_body);

async fn store_unavailable_answers_503_body(s: &Server) {
    let admin = s.account("900800", &["ws_tracking"]).await;
    s.store.close().await;
    let (st, v) = s.get("/admin/v1/accounts/me/users", &admin).await;
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    let (st, _) = s.get("/admin/openapi.json", &admin).await;
    assert_eq!(st, 200, "the document needs no database");
}
both!(
    store_unavailable_answers_503,
    store_unavailable_answers_503_body
);

#[tokio::test]
async fn openapi_documents_every_route_and_every_documented_route_answers() {
    let s = Server::start(Backend::Sqlite).await;
    let (st, doc) = s.anon_get("/admin/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    // The document validates against the OpenAPI 3.0 schema, with the reference validator
    // (scripts/test.sh installs it from PyPI).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "OpenAPI document invalid (or openapi-spec-validator missing: pip install openapi-spec-validator):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in sesame_admin::AdminApi::route_list() {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the document"
        );
    }
    for (path, ops) in paths {
        let concrete = path
            .replace("{n}", "me")
            .replace("{id}", "1")
            .replace("{userKey}", "0123456789ABCDEF0123456789ABCDEF")
            .replace("{token}", "x");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (_, v) = s.call(m, &concrete, None, None).await;
            assert_ne!(v["error"]["code"], "no_route", "{method} {path}");
            assert_ne!(v["error"]["code"], "method_not_allowed", "{method} {path}");
        }
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_sign_ins_are_throttled() {
    let s = Server::start(Backend::Sqlite).await;
    s.account("900900", &["ws_tracking"]).await;
    for _ in 0..5 {
        let (st, v) = s
            .anon_post(
                "/admin/v1/sessions",
                json!({"accountNumber": "900900", "password": "wrong-pass1"}),
            )
            .await;
        assert_eq!(st, 401, "{v}");
        assert_eq!(v["error"]["code"], "bad_credentials");
    }
    let resp = s
        .raw(
            Method::POST,
            "/admin/v1/sessions",
            None,
            Some(br#"{"accountNumber":"900900","password":"AdminPass123"}"#.to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    // Other identifiers are unaffected.
    let (st, _) = s.sign_in_user("nobody", "whatever1").await;
    assert_eq!(st, 401);
    s.shutdown().await;
}

#[test]
fn config_validation_names_the_key() {
    let mut c = sesame_admin::AdminConfig::default();
    assert!(c.validate().is_ok());
    c.default_lang = "de".into();
    assert!(c.validate().unwrap_err().starts_with("default_lang"));
    let c: Result<sesame_admin::AdminConfig, _> =
        serde_json::from_value(json!({"public_url": "https://x", "bogus": 1}));
    assert!(c.unwrap_err().to_string().contains("bogus"));
}
