//! The operator's lists the back office reads (issue 13 screens 6 and 7): the accounts list with
//! its search, status filter, total and users count; the audit log by action; one mail of the
//! outbox. Each on SQLite and PostgreSQL.

use crate::common::*;
use serde_json::{json, Value};
use sesame_store::Backend;

const ENT: &[&str] = sesame_store::testing::ENTITLEMENTS;

fn numbers(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["number"].as_str().unwrap().to_owned())
        .collect()
}

/// Invites an advanced user of the admin's account; returns the id of the invitation mail.
async fn invite(s: &Server, admin: &str, email: &str) -> i64 {
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/advanced-users",
            admin,
            advanced_body("Invité", email, &["ws_tracking"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    s.mails(email).await[0]["id"].as_i64().unwrap()
}

/// A standard user "mmartin" of the admin's account; returns its id.
async fn martin(s: &Server, admin: &str) -> i64 {
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            admin,
            standard_body("Martin", "mmartin", &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_i64().unwrap()
}

async fn accounts_list_filters_body(s: &Server) {
    let admin = s.account("900138", ENT).await;
    s.account("832519", ENT).await;
    s.account("839181", ENT).await;
    martin(s, &admin).await;
    let (st, _) = s
        .put(
            "/admin/v1/accounts/839181/status",
            OPERATOR,
            json!({"enabled": false, "comment": "résiliation"}),
        )
        .await;
    assert_eq!(st, 200);

    // Everything, by number, with the total and each account's users (main contact included).
    let (st, v) = s.get("/admin/v1/accounts", OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(numbers(&v), ["832519", "839181", "900138"]);
    assert_eq!(v["total"], 3);
    assert_eq!(v["items"][2]["users"], 2, "main contact and Martin");
    assert_eq!(v["items"][0]["users"], 1);
    // Search in the number and, case-insensitively, in the company name.
    let (_, v) = s.get("/admin/v1/accounts?q=8391", OPERATOR).await;
    assert_eq!(numbers(&v), ["839181"]);
    let (_, v) = s
        .get("/admin/v1/accounts?q=SOCI%C3%A9t%C3%A9%209", OPERATOR)
        .await;
    // SQLite lowers ASCII only: "SOCIété 9" matches "Société 900138" on both backends because
    // the accented letters are typed lower-case.
    assert_eq!(numbers(&v), ["900138"]);
    // Status.
    let (_, v) = s.get("/admin/v1/accounts?status=disabled", OPERATOR).await;
    assert_eq!(numbers(&v), ["839181"]);
    assert_eq!(v["total"], 1);
    let (_, v) = s
        .get("/admin/v1/accounts?status=active&q=9", OPERATOR)
        .await;
    assert_eq!(numbers(&v), ["832519", "900138"]);
    // Pages: the total counts every match, the page holds perPage.
    let (_, v) = s.get("/admin/v1/accounts?perPage=2&page=2", OPERATOR).await;
    assert_eq!(numbers(&v), ["900138"]);
    assert_eq!(
        (v["total"].as_i64(), v["page"].as_i64()),
        (Some(3), Some(2))
    );
    // A wildcard typed in the search box is a literal character, not "anything".
    for q in ["%25", "_", "%5C"] {
        let (st, v) = s.get(&format!("/admin/v1/accounts?q={q}"), OPERATOR).await;
        assert_eq!(st, 200);
        assert_eq!(v["total"], 0, "q={q}: {v}");
    }
    // Bad filters name the field; nobody but the operator lists accounts.
    let (st, v) = s.get("/admin/v1/accounts?status=closed", OPERATOR).await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("status")));
    let long = "9".repeat(101);
    let (st, v) = s
        .get(&format!("/admin/v1/accounts?q={long}"), OPERATOR)
        .await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("q")));
    let (st, v) = s.get("/admin/v1/accounts?perPage=501", OPERATOR).await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("perPage")));
    let (st, _) = s.get("/admin/v1/accounts?q=9", &admin).await;
    assert_eq!(st, 403);
    let (st, _) = s.anon_get("/admin/v1/accounts").await;
    assert_eq!(st, 401);
}
both!(accounts_list_filters, accounts_list_filters_body);

async fn audit_filter_by_action_body(s: &Server) {
    let admin = s.account("900138", ENT).await;
    let id = martin(s, &admin).await;
    for enabled in [false, true] {
        let (st, _) = s
            .put(
                &format!("/admin/v1/accounts/900138/users/{id}/status"),
                OPERATOR,
                json!({"enabled": enabled, "comment": format!("accès {enabled}")}),
            )
            .await;
        assert_eq!(st, 200);
    }
    // One action exactly.
    let (st, v) = s.get("/admin/v1/audit?action=user.status", OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(actions(&v), ["user.status", "user.status"]);
    assert_eq!(v["items"][0]["comment"], "accès true", "newest first");
    // A family: every action starting with "user.", nothing else.
    let (_, v) = s
        .get(
            "/admin/v1/audit?action=user.&accountNumber=900138",
            OPERATOR,
        )
        .await;
    let a = actions(&v);
    assert_eq!(a, ["user.status", "user.status", "user.create_standard"]);
    // A prefix without its dot is no family: "user" is no action.
    let (_, v) = s.get("/admin/v1/audit?action=user", OPERATOR).await;
    assert!(actions(&v).is_empty(), "{v}");
    // With the other filters, for the account admin too.
    let (_, v) = s
        .get(
            &format!("/admin/v1/accounts/me/audit?action=user.status&userId={id}&actor=operator"),
            &admin,
        )
        .await;
    assert_eq!(actions(&v).len(), 2);
    let (_, v) = s
        .get("/admin/v1/accounts/me/audit?action=account.", &admin)
        .await;
    assert_eq!(actions(&v), ["account.create"]);
    // Anything but lower-case letters, '_' and '.' is refused, naming the field (no LIKE
    // wildcard reaches the database).
    for bad in ["user.%25", "USER.status", "user._", "a'b"] {
        let (st, v) = s
            .get(&format!("/admin/v1/audit?action={bad}"), OPERATOR)
            .await;
        if bad == "user._" {
            // '_' and '.' are valid characters; an unknown action matches nothing.
            assert_eq!(st, 200);
            assert!(actions(&v).is_empty());
            continue;
        }
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (422, Some("action")),
            "{bad}"
        );
    }
}
both!(audit_filter_by_action, audit_filter_by_action_body);

async fn outbox_mail_by_id_body(s: &Server) {
    let admin = s.account("900138", ENT).await;
    let email = "invite@example.fr";
    let id = invite(s, &admin, email).await;
    let listed = s.mails(email).await;
    // Without SMTP the outbox is the delivery channel: the mail shows its live link, exactly as
    // the list does.
    let (st, one) = s.get(&format!("/admin/v1/outbox/{id}"), OPERATOR).await;
    assert_eq!(st, 200, "{one}");
    assert_eq!(one, listed[0]);
    let token = s.mailed_token(email, "/admin/v1/invitations/").await;
    assert!(one["body"].as_str().unwrap().contains(&token));
    // The link works.
    let (st, _) = s.anon_get(&format!("/admin/v1/invitations/{token}")).await;
    assert_eq!(st, 200);
    // Unknown or malformed ids are "not found"; only the operator reads the outbox.
    for bad in ["999999", "abc", "-1", "1%20OR%201=1"] {
        let (st, v) = s.get(&format!("/admin/v1/outbox/{bad}"), OPERATOR).await;
        assert_eq!(st, 404, "{bad}: {v}");
    }
    let (st, _) = s.get(&format!("/admin/v1/outbox/{id}"), &admin).await;
    assert_eq!(st, 403);
    let (st, _) = s.anon_get(&format!("/admin/v1/outbox/{id}")).await;
    assert_eq!(st, 401);
    let (st, v) = s.get("/admin/v1/outbox?limit=0", OPERATOR).await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("limit")));
}
both!(outbox_mail_by_id, outbox_mail_by_id_body);

/// With SMTP configured the mail carries the link: the outbox shows it masked, one mail as the
/// list.
#[tokio::test]
async fn outbox_mail_masks_links_under_smtp() {
    let s = Server::start_with(Backend::Sqlite, |c| {
        c.smtp = Some(sesame_admin::SmtpConfig {
            // Nothing listens there: the mail stays unsent, the link sealed.
            host: "127.0.0.1".into(),
            port: 9,
            starttls: false,
            username: None,
            password: None,
            from: "sesame@example.fr".into(),
        });
    })
    .await;
    let admin = s.account("900138", ENT).await;
    let id = invite(&s, &admin, "masked@example.fr").await;
    let (st, one) = s.get(&format!("/admin/v1/outbox/{id}"), OPERATOR).await;
    assert_eq!(st, 200);
    let body = one["body"].as_str().unwrap();
    assert!(body.contains("[link withheld: see the e-mail]"), "{body}");
    assert!(!body.contains("/admin/v1/invitations/"), "{body}");
    s.shutdown().await;
}
