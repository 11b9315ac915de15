//! "Segmentation libre" in the back office over HTTP (issue 13 screen 6, seed 004 §4), both
//! backends: from a contact's action menu, the segments with its membership, adding and
//! removing it, creating a segment; the contacts list filtered by segment and its export.
//! Hostile cases: no token, the account's admin, another company's contact, a taken or empty
//! name, unknown segments, a formula in a name exported.

use serde_json::Value;
use sesame_testkit::admin::{standard_body, Server, OPERATOR};
use sesame_testkit::seed::ADMIN_PASSWORD;
use sesame_testkit::{both, Backend};

use crate::client::Visitor;

const NUMBER: &str = "900138";
const OTHER: &str = "839181";

fn list() -> String {
    format!("/console/back-office/accounts/{NUMBER}")
}

fn segments_of(number: &str, id: i64) -> String {
    format!("/console/back-office/accounts/{number}/contacts/{id}/segments")
}

async fn collaborator(s: &Server, token: &str, last: &str, login: &str) -> i64 {
    let (st, v) = s
        .post(
            "/admin/v1/accounts/me/users",
            token,
            standard_body(last, login, &["dashboard"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_i64().unwrap()
}

async fn api_segments(s: &Server) -> Vec<Value> {
    let (st, v) = s.get("/admin/v1/segments", OPERATOR).await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn audit(s: &Server, action: &str) -> Vec<Value> {
    let (st, v) = s
        .get(&format!("/admin/v1/audit?action={action}"), OPERATOR)
        .await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn contacts_are_segmented_filtered_and_exported(backend: Backend) {
    let s = Server::start_own_url(backend).await;
    let ent: Vec<&str> = sesame_store::testing::ENTITLEMENTS.to_vec();
    let admin = s.account(NUMBER, &ent).await;
    let other = s.account(OTHER, &ent).await;
    let id = collaborator(&s, &admin, "=HYPERLINK(1)", "segun").await;
    let bystander = collaborator(&s, &admin, "Témoin", "temoin").await;
    let foreign = collaborator(&s, &other, "Autre", "autre").await;
    let mut op = Visitor::new(&s.base);
    assert_eq!(op.sign_in_operator(OPERATOR).await.status, 303);
    let page = segments_of(NUMBER, id);
    // The action menu leads there; no segment yet.
    let l = op.get(&list()).await;
    assert!(l
        .body
        .contains(&format!("href=\"{page}\">Segmentation libre</a>")));
    let p = op.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Aucun segment pour l&#39;instant")
            || p.body.contains("Aucun segment pour l'instant")
    );
    assert!(p.body.contains("for=\"f-name\""), "labelled");
    // Hostile: another company's contact, the account's admin, no token: nothing written.
    let foreign_page = segments_of(NUMBER, foreign);
    assert_eq!(op.get(&foreign_page).await.status, 404);
    let p = op
        .submit(&page, &format!("{foreign_page}/new"), &[("name", "Pirate")])
        .await;
    assert_eq!(p.status, 404);
    let mut adm = Visitor::new(&s.base);
    assert_eq!(adm.sign_in(NUMBER, ADMIN_PASSWORD).await.status, 303);
    assert_eq!(adm.get(&page).await.status, 403);
    let p = adm
        .submit(
            "/console/account",
            &format!("{page}/new"),
            &[("name", "Pirate")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(
        op.post(&format!("{page}/new"), &[("name", "Pirate")])
            .await
            .status,
        403
    );
    assert!(api_segments(&s).await.is_empty());
    // Created from the contact's page: the contact is in it; audited as the operator.
    let p = op
        .submit(&page, &format!("{page}/new"), &[("name", "Clients VIP")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        p.location().ends_with("done=segment-created"),
        "{}",
        p.location()
    );
    let segs = api_segments(&s).await;
    assert_eq!(
        (segs.len(), &segs[0]["name"], &segs[0]["members"]),
        (1, &Value::from("Clients VIP"), &Value::from(1))
    );
    let sid = segs[0]["id"].as_i64().unwrap();
    let p = op.get(&format!("{page}?done=segment-created")).await;
    assert!(p
        .body
        .contains("Le segment a été créé et le contact y a été ajouté."));
    assert!(p.body.contains("<td>Membre</td>"), "{}", p.body);
    for action in ["segment.create", "segment.add"] {
        assert_eq!(
            audit(&s, action).await[0]["actor"]["kind"],
            "operator",
            "{action}"
        );
    }
    // A taken name, an empty one: refused next to the field, nothing written.
    for (name, status) in [("Clients VIP", 409), ("  ", 422)] {
        let p = op
            .submit(&page, &format!("{page}/new"), &[("name", name)])
            .await;
        assert_eq!(p.status, status, "{name}: {}", p.body);
        assert!(p.body.contains("id=\"f-name-error\""), "{}", p.body);
    }
    assert_eq!(api_segments(&s).await.len(), 1);
    // The list filtered by the segment: its contact only, the filter chosen, the export offered.
    let l = op.get(&format!("{}?segment={sid}", list())).await;
    assert!(l.body.contains("for=\"f-segment\""));
    assert!(
        l.body.contains(&format!(
            "<option value=\"{sid}\" selected>Clients VIP (1)</option>"
        )),
        "{}",
        l.body
    );
    assert!(l.body.contains(&format!("/contacts/{id}\"")));
    assert!(
        !l.body.contains(&format!("/contacts/{bystander}\"")),
        "not in the segment"
    );
    let export = format!("/console/back-office/segments/{sid}/export");
    assert!(l.body.contains(&format!("href=\"{export}\"")));
    assert!(l.body.contains("Exporter le segment"));
    // The export: the API's CSV, the formula defused.
    let csv = op.get(&export).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(
        csv.body.contains("HYPERLINK(1)") && !csv.body.contains("\n=HYPERLINK"),
        "{}",
        csv.body
    );
    assert!(!csv.body.contains("Témoin"));
    assert_eq!(adm.get(&export).await.status, 403);
    assert_eq!(
        op.get("/console/back-office/segments/999999/export")
            .await
            .status,
        404
    );
    // Removed, then added back with the row's button.
    let p = op
        .submit(&page, &format!("{page}/{sid}"), &[("member", "false")])
        .await;
    assert!(
        p.location().ends_with("done=segment-removed"),
        "{}",
        p.location()
    );
    assert_eq!(api_segments(&s).await[0]["members"], 0);
    assert!(op.get(&page).await.body.contains("<td>Non membre</td>"));
    assert_eq!(
        audit(&s, "segment.remove").await[0]["actor"]["kind"],
        "operator"
    );
    let p = op
        .submit(&page, &format!("{page}/{sid}"), &[("member", "true")])
        .await;
    assert!(p.location().ends_with("done=segment-added"));
    assert_eq!(api_segments(&s).await[0]["members"], 1);
    // Unknown segments, and another company's contact through a real segment.
    for seg in ["999999", "abc"] {
        let p = op
            .submit(&page, &format!("{page}/{seg}"), &[("member", "true")])
            .await;
        assert_eq!(p.status, 404, "{seg}");
    }
    let p = op
        .submit(
            &page,
            &format!("{foreign_page}/{sid}"),
            &[("member", "true")],
        )
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(api_segments(&s).await[0]["members"], 1, "nothing more");
    s.shutdown().await;
}
both!(contacts_are_segmented_filtered_and_exported);
