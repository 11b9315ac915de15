//! Issue 10, hostile suite, "identity" slice: who may change a shared identity (defect 1) and the
//! smaller identity and admin-API defects of item 11. Each test plays the attacker (or the
//! careless admin) against the real admin API on 127.0.0.1:0, on SQLite and on PostgreSQL.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use sesame_domain::ConnectionKey;

/// The demo's victim account and the unrelated attacker's (issue 10's repro).
const VICTIM_ACC: &str = "900138";
const ATTACKER_ACC: &str = "839181";
const ENT: &[&str] = &[
    "ws_postage",
    "ws_tracking",
    "tracking_tool:all",
    "dashboard",
];
const EVIL: &str = "attacker@evil.example";

async fn key_works(s: &Server, key: &str) -> bool {
    let key = ConnectionKey::parse(key).unwrap();
    let hash = s.store.hasher().hash_key(&key);
    s.store
        .principal_by_key_hash(&hash)
        .await
        .unwrap()
        .is_some_and(|p| p.is_usable(sesame_domain::model::now_millis()))
}

/// A standard user "collab" of the admin's account (password StdPass123); returns its id.
async fn collab(s: &Server, admin: &str) -> i64 {
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            admin,
            standard_body("Collab", "collab", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_i64().unwrap()
}

/// Opens an impersonation session on a user of the admin's account; returns its token.
async fn impersonate(s: &Server, admin: &str, id: i64) -> String {
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/me/users/{id}/impersonate"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// Invites an advanced user on the admin's account; returns the created user.
async fn invite(s: &Server, admin: &str, body: Value) -> Value {
    let (st, v) = s
        .post("/admin/v1/accounts/me/advanced-users", admin, body)
        .await;
    assert_eq!(st, 201, "{v}");
    v
}

fn edit_email(email: &str) -> Value {
    json!({"email": email, "emailConfirmation": email})
}

/// The repro, step by step: link by user key (allowed: seed 000 §6), then every way to
/// reach the identity is refused, the victim's key keeps working and the victim's account sees
/// what the other account did.
async fn d1_linked_account_cannot_take_over_a_shared_identity_body(s: &Server) {
    let victim_admin = s.account(VICTIM_ACC, ENT).await;
    let (id, user_key, key, _ut) =
        active_advanced(s, VICTIM_ACC, &victim_admin, "victim", &["ws_tracking"]).await;
    let attacker = s.account(ATTACKER_ACC, ENT).await;

    // 1. Linking by the public user key is the seed's association: it succeeds.
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{ATTACKER_ACC}/links"),
            &attacker,
            json!({"userKey": user_key, "rights": []}),
        )
        .await;
    assert_eq!(st, 201, "{v}");

    // 2. Redirecting the e-mail is the first step refused, naming the field; nothing changes.
    let path = format!("/admin/v1/accounts/{ATTACKER_ACC}/users/{id}");
    let (st, v) = s.put(&path, &attacker, edit_email(EVIL)).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "identity_owned", "{v}");
    assert_eq!(v["error"]["field"], "email", "{v}");
    // Nor any other part of the identity, even alongside a legitimate link edit.
    let (st, v) = s
        .put(
            &path,
            &attacker,
            json!({"lastName": "Pirate", "phone": "0999999999", "rights": ["ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["field"], "lastName", "{v}");
    let (_, v) = s
        .get(
            &format!("/admin/v1/accounts/{VICTIM_ACC}/users/{id}"),
            &victim_admin,
        )
        .await;
    assert_eq!(v["email"], "victim@example.fr", "{v}");
    assert_eq!(v["lastName"], "Dupont");
    assert_eq!(v["phone"], "0102030405");
    // Its own link stays editable: rights and tag.
    let (st, v) = s
        .put(
            &path,
            &attacker,
            json!({"rights": ["ws_postage"], "tag": "SUD"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    // 3. The public "forgotten password" form with the attacker's address sends nothing.
    let (st, _) = s
        .anon_post(
            "/admin/v1/password-resets",
            json!({"login": "victim", "email": EVIL}),
        )
        .await;
    assert_eq!(st, 202);
    assert!(s.mails(EVIL).await.is_empty());
    // Nor can the attacker's back office send a reset or impersonate the shared user.
    let (st, v) = s
        .post(&format!("{path}/password-reset"), &attacker, json!({}))
        .await;
    assert!(st == 409 || st == 403, "{st} {v}");
    let (st, v) = s
        .post(&format!("{path}/impersonate"), &attacker, json!({}))
        .await;
    assert!(st == 409 || st == 403, "{st} {v}");
    assert!(s.mails(EVIL).await.is_empty());

    // 4. The victim's key still works; the victim signs in with its own password.
    assert!(key_works(s, &key).await);
    let (st, _) = s.sign_in_user("victim", "UserPass123").await;
    assert_eq!(st, 201);

    // 5. The victim's account sees what the other account did to its user.
    let (st, v) = s
        .get(
            &format!("/admin/v1/accounts/{VICTIM_ACC}/audit?userId={id}"),
            &victim_admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    let attacker_id = items
        .iter()
        .find(|e| e["action"] == "link.create")
        .unwrap_or_else(|| panic!("no link.create in {items:?}"))["actor"]["account_id"]
        .clone();
    assert!(attacker_id.is_i64(), "{items:?}");
    let refused: Vec<&Value> = items
        .iter()
        .filter(|e| e["action"] == "user.identity_change_refused")
        .collect();
    assert_eq!(refused.len(), 2, "both attempts: {items:?}");
    assert!(refused
        .iter()
        .all(|e| e["actor"]["account_id"] == attacker_id));
    assert!(refused
        .iter()
        .any(|e| e["after"]["fields"] == json!(["email"])));
    assert!(
        actions(&v).contains(&"user.update".to_owned()),
        "the link edit too"
    );
    // The newly linked account does not read the victim account's past about the user.
    let (_, v) = s
        .get(
            &format!("/admin/v1/accounts/{ATTACKER_ACC}/audit?userId={id}"),
            &attacker,
        )
        .await;
    let seen = actions(&v);
    assert!(
        !seen.contains(&"user.create_advanced".to_owned()),
        "{seen:?}"
    );
    assert!(!seen.contains(&"user.activate".to_owned()), "{seen:?}");

    // The operator's back office still may correct an identity.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/{VICTIM_ACC}/users/{id}"),
            OPERATOR,
            json!({"phone": "0611111111"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // And the user itself, of course.
    let (_, ut) = s.sign_in_user("victim", "UserPass123").await;
    let (st, v) = s
        .patch(
            "/admin/v1/me",
            ut["token"].as_str().unwrap(),
            json!({"phone": "0622222222"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}
both!(
    d1_linked_account_cannot_take_over_a_shared_identity,
    d1_linked_account_cannot_take_over_a_shared_identity_body
);

/// Once the home account removes its link, the attacker's account is the only one: it still gets
/// no power over the identity, not even through impersonation.
async fn d1_sole_linked_account_still_cannot_redirect_the_identity_body(s: &Server) {
    let victim_admin = s.account(VICTIM_ACC, ENT).await;
    let (id, user_key, key, _ut) =
        active_advanced(s, VICTIM_ACC, &victim_admin, "victim", &["ws_tracking"]).await;
    let attacker = s.account(ATTACKER_ACC, ENT).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &attacker,
            json!({"userKey": user_key, "rights": ["ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/me/links/{id}"), &victim_admin)
        .await;
    assert_eq!(st, 204);
    let path = format!("/admin/v1/accounts/me/users/{id}");
    let (st, v) = s.put(&path, &attacker, edit_email(EVIL)).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["field"], "email");
    // Impersonating the user it holds alone does not open the identity either.
    let (st, v) = s
        .post(&format!("{path}/impersonate"), &attacker, json!({}))
        .await;
    assert_eq!(st, 201, "{v}");
    let it = v["token"].as_str().unwrap().to_owned();
    let (st, v) = s.patch("/admin/v1/me", &it, edit_email(EVIL)).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "identity_owned");
    let (st, _) = s.post("/admin/v1/me/connection-key", &it, json!({})).await;
    assert_eq!(st, 403);
    // A back-office reset goes to the user's own address, never to the attacker's.
    let (st, v) = s
        .post(&format!("{path}/password-reset"), &attacker, json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sentTo"], "victim@example.fr");
    assert!(s.mails(EVIL).await.is_empty());
    assert!(key_works(s, &key).await);
}
both!(
    d1_sole_linked_account_still_cannot_redirect_the_identity,
    d1_sole_linked_account_still_cannot_redirect_the_identity_body
);

/// Before confirmation only the inviting account edits the invited profile; nobody else can even
/// link it.
async fn d1_only_the_inviting_account_edits_an_invited_profile_body(s: &Server) {
    let home = s.account(VICTIM_ACC, ENT).await;
    let v = invite(
        s,
        &home,
        advanced_body("Invite", "invited@example.fr", &["ws_tracking"]),
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    let user_key = v["userKey"].as_str().unwrap().to_owned();
    let attacker = s.account(ATTACKER_ACC, ENT).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &attacker,
            json!({"userKey": user_key, "rights": []}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    let (st, _) = s
        .get(&format!("/admin/v1/accounts/me/users/{id}"), &attacker)
        .await;
    assert_eq!(st, 404);
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}"),
            &home,
            json!({"lastName": "Corrigé", "email": "fixed@example.fr", "emailConfirmation": "fixed@example.fr"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["email"], "fixed@example.fr");
}
both!(
    d1_only_the_inviting_account_edits_an_invited_profile,
    d1_only_the_inviting_account_edits_an_invited_profile_body
);

async fn d11_disabling_a_user_ends_its_impersonation_session_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let id = collab(s, &admin).await;
    let it = impersonate(s, &admin, id).await;
    let (st, _) = s.get("/admin/v1/me", &it).await;
    assert_eq!(st, 200);
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}/status"),
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = s.get("/admin/v1/me", &it).await;
    assert_eq!(st, 401, "the impersonation ends with the user");
    let (st, _) = s
        .patch("/admin/v1/me", &it, json!({"function": "Toujours là"}))
        .await;
    assert_eq!(st, 401);
    // Re-enabling does not revive it.
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}/status"),
            &admin,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s.get("/admin/v1/me", &it).await;
    assert_eq!(st, 401);
}
both!(
    d11_disabling_a_user_ends_its_impersonation_session,
    d11_disabling_a_user_ends_its_impersonation_session_body
);

async fn d11_operator_impersonation_is_audited_as_the_operator_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let id = collab(s, &admin).await;
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{VICTIM_ACC}/users/{id}/impersonate"),
            OPERATOR,
            json!({"comment": "ticket 7"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let it = v["token"].as_str().unwrap().to_owned();
    let (st, v) = s
        .patch("/admin/v1/me", &it, json!({"function": "Chef comptable"}))
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = s
        .get(&format!("/admin/v1/accounts/me/audit?userId={id}"), &admin)
        .await;
    let entry = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.update_self")
        .unwrap_or_else(|| panic!("no update_self in {v}"))
        .clone();
    assert_eq!(entry["actor"]["kind"], "operator_impersonating", "{entry}");
    let (_, v) = s
        .get(
            &format!("/admin/v1/accounts/me/audit?userId={id}&actor=account_admin"),
            &admin,
        )
        .await;
    assert!(
        !actions(&v).contains(&"user.update_self".to_owned()),
        "not the admin's: {v}"
    );
    let (st, v) = s
        .get(
            &format!("/admin/v1/accounts/me/audit?userId={id}&actor=operator_impersonating"),
            &admin,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(actions(&v).contains(&"user.update_self".to_owned()));
}
both!(
    d11_operator_impersonation_is_audited_as_the_operator,
    d11_operator_impersonation_is_audited_as_the_operator_body
);

async fn d11_removed_user_invitation_stops_working_and_shows_current_rights_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let email = "removed@example.fr";
    let v = invite(
        s,
        &admin,
        advanced_body("Removed", email, &["ws_tracking", "tracking_tool:all"]),
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}"),
            &admin,
            json!({"rights": ["ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let inv_path = format!("/admin/v1/invitations/{token}");
    let (st, v) = s.anon_get(&inv_path).await;
    assert_eq!(st, 200, "{v}");
    let ids: Vec<&str> = v["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ws_tracking"], "the rights the user holds now: {v}");
    let (st, _) = s
        .delete(&format!("/admin/v1/accounts/me/users/{id}"), &admin)
        .await;
    assert_eq!(st, 204);
    let (st, v) = s.anon_get(&inv_path).await;
    assert_eq!(st, 410, "{v}");
    let (st, v) = s
        .anon_post(&inv_path, json!({"login": "removed", "password": "UserPass123", "passwordConfirmation": "UserPass123"}))
        .await;
    assert_eq!(st, 410, "{v}");
    let (st, _) = s.sign_in_user("removed", "UserPass123").await;
    assert_eq!(st, 401);
}
both!(
    d11_removed_user_invitation_stops_working_and_shows_current_rights,
    d11_removed_user_invitation_stops_working_and_shows_current_rights_body
);

async fn d11_framework_rejections_answer_the_json_error_shape_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    // 400: a path segment that is not UTF-8.
    let resp = s
        .raw(
            Method::GET,
            "/admin/v1/accounts/%FF%FE/users",
            Some(&admin),
            None,
            "",
        )
        .await;
    let status = resp.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(v["error"]["code"].is_string(), "{v}");
    // 404 and 405 were already JSON: still are.
    let (st, v) = s.get("/admin/v1/nothing", &admin).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "no_route");
    let (st, v) = s
        .call(Method::PATCH, "/admin/v1/accounts", Some(&admin), None)
        .await;
    assert_eq!(st, 405);
    assert_eq!(v["error"]["code"], "method_not_allowed");
    // 413: a body over the default limit on a handler reading raw bytes. Last: the server closes
    // that connection, which the client's pool would otherwise reuse.
    let big = vec![b' '; 3 * 1024 * 1024];
    let resp = s
        .raw(
            Method::POST,
            "/admin/v1/accounts/me/users/1/impersonate",
            Some(&admin),
            Some(big),
            "application/json",
        )
        .await;
    assert_eq!(resp.status().as_u16(), 413);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large", "{v}");
}
both!(
    d11_framework_rejections_answer_the_json_error_shape,
    d11_framework_rejections_answer_the_json_error_shape_body
);

async fn d11_operator_only_endpoints_refuse_before_validating_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let cases: [(Method, &str, Value); 4] = [
        (
            Method::POST,
            "/admin/v1/accounts",
            json!({"number": "12345"}),
        ),
        (
            Method::PUT,
            "/admin/v1/accounts/me/entitlements",
            json!({"entitlements": ["teleport"]}),
        ),
        (
            Method::PUT,
            "/admin/v1/accounts/me/status",
            json!({"enabled": "yes"}),
        ),
        (
            Method::PUT,
            "/admin/v1/accounts/me/upstream-credentials",
            json!({"bogus": 1}),
        ),
    ];
    for (m, path, body) in cases {
        let (st, v) = s.call(m, path, Some(&admin), Some(body)).await;
        assert_eq!(st, 403, "{path}: {v}");
        assert!(v["error"].get("field").is_none(), "{path}: {v}");
    }
    // The operator still gets the field error.
    let (st, v) = s
        .post("/admin/v1/accounts", OPERATOR, json!({"number": "12345"}))
        .await;
    assert_eq!(st, 422, "{v}");
}
both!(
    d11_operator_only_endpoints_refuse_before_validating,
    d11_operator_only_endpoints_refuse_before_validating_body
);

async fn d11_second_account_edits_rights_of_a_user_in_another_accounts_department_body(s: &Server) {
    let home = s.account(VICTIM_ACC, ENT).await;
    let (_, acc) = s.get("/admin/v1/accounts/me", &home).await;
    let dep = acc["departments"][0]["id"].as_i64().unwrap();
    let email = "dep@example.fr";
    let mut body = advanced_body("Dep", email, &["ws_tracking"]);
    body["departmentId"] = json!(dep);
    let v = invite(s, &home, body).await;
    let id = v["id"].as_i64().unwrap();
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    let (st, v) = s
        .anon_post(&format!("/admin/v1/invitations/{token}"), json!({"login": "depuser", "password": "UserPass123", "passwordConfirmation": "UserPass123"}))
        .await;
    assert_eq!(st, 201, "{v}");
    let user_key = v["userKey"].as_str().unwrap().to_owned();
    let second = s.account(ATTACKER_ACC, ENT).await;
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/links",
            &second,
            json!({"userKey": user_key, "rights": ["ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}"),
            &second,
            json!({"rights": ["ws_postage", "ws_tracking"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rights"], json!(["ws_postage", "ws_tracking"]));
    assert_eq!(
        v["departmentId"], dep,
        "the home account's department stays"
    );
    // Setting the other account's department from the second one is still refused.
    let (st, v) = s
        .put(
            &format!("/admin/v1/accounts/me/users/{id}"),
            &second,
            json!({"departmentId": dep + 1000}),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["field"], "departmentId");
}
both!(
    d11_second_account_edits_rights_of_a_user_in_another_accounts_department,
    d11_second_account_edits_rights_of_a_user_in_another_accounts_department_body
);

async fn d11_main_contact_rights_are_the_accounts_entitlements_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let (st, v) = s.get("/admin/v1/accounts/me/users", &admin).await;
    assert_eq!(st, 200, "{v}");
    let contact = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mainContact"] == true)
        .unwrap_or_else(|| panic!("no main contact in {v}"))
        .clone();
    let mut listed: Vec<String> = contact["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut ent: Vec<String> = ENT.iter().map(|s| s.to_string()).collect();
    ent.sort();
    assert_eq!(listed, ent, "{contact}");
    let id = contact["id"].as_i64().unwrap();
    let (st, v) = s
        .get(&format!("/admin/v1/accounts/me/users/{id}"), &admin)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rights"], v["effectiveRights"], "{v}");
    assert_eq!(
        v["rightsDetail"].as_array().unwrap().len(),
        ENT.len(),
        "{v}"
    );
}
both!(
    d11_main_contact_rights_are_the_accounts_entitlements,
    d11_main_contact_rights_are_the_accounts_entitlements_body
);

/// A standard user belongs to its account: disabling the account ends the user's own session and
/// the impersonations opened from it, at once.
async fn d11_disabling_an_account_ends_its_users_sessions_body(s: &Server) {
    let admin = s.account(VICTIM_ACC, ENT).await;
    let id = collab(s, &admin).await;
    let (st, v) = s.sign_in_user("collab", "StdPass123").await;
    assert_eq!(st, 201, "{v}");
    let ut = v["token"].as_str().unwrap().to_owned();
    let it = impersonate(s, &admin, id).await;
    let (st, _) = s
        .put(
            &format!("/admin/v1/accounts/{VICTIM_ACC}/status"),
            OPERATOR,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 200);
    for token in [&admin, &ut, &it] {
        let (st, v) = s.get("/admin/v1/me", token).await;
        assert_eq!(st, 401, "{v}");
    }
}
both!(
    d11_disabling_an_account_ends_its_users_sessions,
    d11_disabling_an_account_ends_its_users_sessions_body
);
