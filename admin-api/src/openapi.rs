//! The OpenAPI 3 document, served at `/admin/openapi.json`. A test checks that it describes
//! exactly the routes the router serves.

use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

/// (method, path, summary, who may call, request schema, success status)
type Op = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
);

pub const OPERATIONS: &[Op] = &[
    ("get", "/admin/openapi.json", "This document", "public", None, 200),
    ("get", "/admin/v1/rights", "Rights catalogue: ids, French/English labels, CSV columns", "public", None, 200),
    ("post", "/admin/v1/sessions", "Sign in: account admin (accountNumber+password) or user (login+password)", "public", Some("SignIn"), 201),
    ("delete", "/admin/v1/sessions/current", "Sign out (revoke the bearer session)", "session", None, 204),
    ("get", "/admin/v1/accounts", "List accounts (page, perPage)", "operator", None, 200),
    ("post", "/admin/v1/accounts", "Create an account with entitlements, upstream credentials, admin password, departments", "operator", Some("NewAccount"), 201),
    ("get", "/admin/v1/accounts/{n}", "Get an account (`me` for the signed-in account admin)", "operator, account admin", None, 200),
    ("put", "/admin/v1/accounts/{n}/entitlements", "Replace the account's entitlements", "operator", Some("Entitlements"), 200),
    ("put", "/admin/v1/accounts/{n}/status", "Enable or disable the account (with a comment)", "operator", Some("Status"), 200),
    ("put", "/admin/v1/accounts/{n}/upstream-credentials", "Set the account's upstream credentials", "operator", Some("Upstream"), 204),
    ("get", "/admin/v1/accounts/{n}/departments", "List departments (services)", "operator, account admin", None, 200),
    ("post", "/admin/v1/accounts/{n}/departments", "Add a department", "operator, account admin", Some("Department"), 201),
    ("get", "/admin/v1/accounts/{n}/users", "Users table: standard and linked advanced users (kind, q, page, perPage)", "operator, account admin", None, 200),
    ("post", "/admin/v1/accounts/{n}/users", "Add a standard user (seed 000 §4)", "operator, account admin", Some("StandardUser"), 201),
    ("post", "/admin/v1/accounts/{n}/advanced-users", "Add an advanced user and e-mail the invitation (seed 000 §5.1)", "operator, account admin", Some("AdvancedUser"), 201),
    ("get", "/admin/v1/accounts/{n}/users/{id}", "View a user of the account with its rights", "operator, account admin", None, 200),
    ("put", "/admin/v1/accounts/{n}/users/{id}", "Edit a user's link (rights, tag, department; delegation rule applies) and the details the account owns: its standard users', an advanced user's before confirmation by the inviting account. A confirmed advanced user's identity is its own: 403 identity_owned naming the field (the attempt is audited)", "operator, account admin", Some("UserEdit"), 200),
    ("delete", "/admin/v1/accounts/{n}/users/{id}", "Delete a standard user; for an advanced user, remove the link only", "operator, account admin", None, 204),
    ("post", "/admin/v1/accounts/{n}/users/{id}/invitation", "Resend the invitation (new 48 h link; lang)", "operator, account admin", None, 200),
    ("put", "/admin/v1/accounts/{n}/users/{id}/status", "Enable or disable a user's access with a comment (audited)", "operator, account admin", Some("Status"), 200),
    ("post", "/admin/v1/accounts/{n}/users/{id}/password-reset", "E-mail a password-reset link (24 h)", "operator, account admin", None, 200),
    ("post", "/admin/v1/accounts/{n}/users/{id}/impersonate", "Open a short, audited session acting as the user", "operator, account admin", Some("Impersonate"), 201),
    ("post", "/admin/v1/accounts/{n}/users/{id}/messages", "Write an e-mail to the user (outbox)", "operator, account admin", Some("Message"), 201),
    ("post", "/admin/v1/accounts/{n}/links", "Associate an existing advanced user found by user key, with rights", "operator, account admin", Some("Associate"), 201),
    ("delete", "/admin/v1/accounts/{n}/links/{id}", "Remove the link with an advanced user (the user is kept)", "operator, account admin", None, 204),
    ("get", "/admin/v1/advanced-users/{userKey}", "Find an advanced user by user key to confirm its identity", "operator, account admin", None, 200),
    ("get", "/admin/v1/invitations/{token}", "The confirmation form, pre-filled with the admin's data", "public (token)", None, 200),
    ("post", "/admin/v1/invitations/{token}", "Complete the invitation: login and password (+ corrections); returns the connection key once", "public (token)", Some("Accept"), 201),
    ("post", "/admin/v1/password-resets", "Forgotten password: login and e-mail on file; a reset link is mailed if they match (always 202)", "public", Some("Forgot"), 202),
    ("get", "/admin/v1/password-resets/{token}", "Check a password-reset link", "public (token)", None, 200),
    ("post", "/admin/v1/password-resets/{token}", "Set a new password through a reset link", "public (token)", Some("Reset"), 204),
    ("get", "/admin/v1/me", "My account: details, user key, rights per account", "session", None, 200),
    ("patch", "/admin/v1/me", "Change my details", "user", Some("UserEdit"), 200),
    ("post", "/admin/v1/me/connection-key", "Regenerate my connection key (optional graceSeconds); shown once", "user", Some("Regenerate"), 200),
    ("post", "/admin/v1/me/password", "Change my password (user or account admin; current one required)", "user, account admin", Some("Password"), 204),
    ("get", "/admin/v1/accounts/{n}/imports/template", "Download the CSV import template", "operator, account admin", None, 200),
    ("post", "/admin/v1/accounts/{n}/imports", "Upload a CSV (body = file; fileName query); processed in the background", "operator, account admin", Some("Csv"), 202),
    ("get", "/admin/v1/accounts/{n}/imports/current", "Progress of the current import and availability of its result", "operator, account admin", None, 200),
    ("get", "/admin/v1/accounts/{n}/imports/current/result", "Download the result file (kept 7 days)", "operator, account admin", None, 200),
    ("get", "/admin/v1/accounts/{n}/exports/advanced-users", "Export advanced users with delegated rights (CSV, `;`, UTF-8 BOM)", "operator, account admin", None, 200),
    ("get", "/admin/v1/accounts/{n}/audit", "Audit log of the account, with what happened to its linked users since each link, whoever did it (userId, actor, actorUserId, from, to, page, perPage)", "operator, account admin", None, 200),
    ("get", "/admin/v1/audit", "Audit log of every account (accountNumber and the same filters)", "operator", None, 200),
    ("get", "/admin/v1/outbox", "E-mails queued or sent (to, limit)", "operator", None, 200),
];

fn s(t: &str) -> Value {
    json!({"type": t})
}

fn obj(required: &[&str], props: &[(&str, Value)]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_owned(), v.clone());
    }
    let mut o = json!({"type": "object", "additionalProperties": false, "properties": p});
    // OpenAPI 3.0 forbids an empty `required` list: omit it when nothing is required.
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

fn profile_props(extra: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        (
            "civility",
            json!({"type": "string", "enum": ["madame", "monsieur"]}),
        ),
        ("lastName", json!({"type": "string", "maxLength": 80})),
        ("firstName", json!({"type": "string", "maxLength": 80})),
        ("function", json!({"type": "string", "maxLength": 80})),
        ("phone", json!({"type": "string", "maxLength": 30})),
        ("email", json!({"type": "string", "format": "email"})),
        (
            "emailConfirmation",
            json!({"type": "string", "format": "email"}),
        ),
        ("fax", json!({"type": "string", "maxLength": 30})),
        ("address", json!({"type": "string", "maxLength": 200})),
        ("postalCode", json!({"type": "string", "maxLength": 16})),
        ("city", json!({"type": "string", "maxLength": 80})),
        ("country", json!({"type": "string", "maxLength": 60})),
    ];
    v.extend_from_slice(extra);
    v
}

fn schemas() -> Value {
    let rights = json!({"$ref": "#/components/schemas/Rights"});
    let required_profile = [
        "lastName",
        "firstName",
        "function",
        "phone",
        "email",
        "emailConfirmation",
        "address",
        "postalCode",
        "city",
    ];
    let mut std_req = required_profile.to_vec();
    std_req.extend(["login", "password", "passwordConfirmation"]);
    json!({
        "Error": obj(&["error"], &[("error", obj(&["code", "message"], &[
            ("code", s("string")), ("message", s("string")),
            ("field", json!({"type": "string", "description": "the field at fault (JSON path or CSV column)"})),
            ("right", json!({"type": "string", "description": "the right the delegation rule refused"})),
        ]))]),
        "Rights": {"type": "array", "items": {"type": "string"}, "example": ["ws_postage", "tracking_tool:own"],
                   "description": "right ids; scoped rights as id:own|group|all (see /admin/v1/rights)"},
        "SignIn": obj(&["password"], &[("accountNumber", json!({"type": "string", "pattern": "^[0-9]{6}$"})), ("login", s("string")), ("password", s("string"))]),
        "NewAccount": obj(&["number", "company", "entitlements", "adminPassword", "upstreamLogin", "upstreamPassword"], &[
            ("number", json!({"type": "string", "pattern": "^[0-9]{6}$"})), ("company", s("string")), ("contractType", s("string")),
            ("entitlements", rights.clone()), ("adminPassword", s("string")), ("upstreamLogin", s("string")),
            ("upstreamPassword", s("string")), ("departments", json!({"type": "array", "items": {"type": "string"}})),
            ("contact", s("object")),
        ]),
        "Entitlements": obj(&["entitlements"], &[("entitlements", rights.clone())]),
        "Status": obj(&["enabled"], &[("enabled", s("boolean")), ("comment", json!({"type": "string", "maxLength": 500}))]),
        "Upstream": obj(&["upstreamLogin", "upstreamPassword"], &[("upstreamLogin", s("string")), ("upstreamPassword", s("string"))]),
        "Department": obj(&["name"], &[("name", json!({"type": "string", "maxLength": 80}))]),
        "StandardUser": obj(&std_req, &profile_props(&[
            ("login", s("string")), ("password", s("string")), ("passwordConfirmation", s("string")),
            ("rights", rights.clone()), ("departmentId", s("integer")),
        ])),
        "AdvancedUser": obj(&required_profile, &profile_props(&[
            ("tag", json!({"type": "string", "maxLength": 35})), ("rights", rights.clone()), ("departmentId", s("integer")),
            ("lang", json!({"type": "string", "enum": ["fr", "en"]})),
        ])),
        "UserEdit": obj(&[], &profile_props(&[
            ("tag", json!({"type": "string", "maxLength": 35, "description": "empty string removes the tag"})),
            ("rights", rights.clone()), ("departmentId", s("integer")),
        ])),
        "Accept": obj(&["login", "password", "passwordConfirmation"], &profile_props(&[
            ("login", s("string")), ("password", s("string")), ("passwordConfirmation", s("string")),
            ("lang", json!({"type": "string", "enum": ["fr", "en"]})),
        ])),
        "Associate": obj(&["userKey"], &[("userKey", json!({"type": "string", "pattern": "^[0-9A-Fa-f]{32}$"})), ("rights", rights.clone()), ("lang", s("string"))]),
        "Regenerate": obj(&[], &[("graceSeconds", json!({"type": "integer", "maximum": 604800}))]),
        "Password": obj(&["currentPassword", "password", "passwordConfirmation"], &[("currentPassword", s("string")), ("password", s("string")), ("passwordConfirmation", s("string"))]),
        "Forgot": obj(&["login", "email"], &[("login", s("string")), ("email", s("string")), ("lang", s("string"))]),
        "Reset": obj(&["password", "passwordConfirmation"], &[("password", s("string")), ("passwordConfirmation", s("string"))]),
        "Impersonate": obj(&[], &[("comment", json!({"type": "string", "maxLength": 500}))]),
        "Message": obj(&["subject", "body"], &[("subject", json!({"type": "string", "maxLength": 200})), ("body", s("string")), ("lang", s("string"))]),
    })
}

fn error_response(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The operations that answer 429 (with `Retry-After`), and why.
fn too_many(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        ("post", "/admin/v1/sessions") => Some(
            "too many failed sign-ins for this login or from this address: not checked, try again after Retry-After",
        ),
        ("post", "/admin/v1/password-resets") => Some("too many requests being handled: try again"),
        _ => None,
    }
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, who, body, status) in OPERATIONS {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "description": format!("Who may call: {who}."),
            "parameters": params,
            "responses": {
                status.to_string(): {"description": "success"},
                "400": error_response("malformed request (names the field)"),
                "401": error_response("authentication required"),
                "403": error_response("not allowed (delegation errors name the right; identity_owned and shared_user name the field)"),
                "404": error_response("not found (or not visible to the caller)"),
                "409": error_response("conflict (names the field)"),
                "422": error_response("invalid field (names the field)"),
                "503": error_response("database unavailable"),
            },
        });
        if let Some(desc) = too_many(method, path) {
            op["responses"]["429"] = error_response(desc);
            op["responses"]["429"]["headers"] = json!({"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}});
        }
        if !who.starts_with("public") {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some(b) = body {
            op["requestBody"] = if *b == "Csv" {
                json!({"required": true, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}})
            } else {
                json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}})
            };
        }
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sesame admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control plane of Sesame: accounts, users, links, invitations, CSV import/export, back office, audit log. \
                            Errors are {\"error\":{\"code\",\"message\",\"field\"?,\"right\"?}}.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "operator token, or a session token from POST /admin/v1/sessions"}},
        },
    })
}

pub async fn serve() -> impl IntoResponse {
    axum::Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_describes_exactly_the_routes() {
        let doc = super::document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut served: Vec<(String, String)> = crate::AdminApi::route_list()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        served.sort();
        for r in &served {
            assert!(
                documented.contains(r),
                "route {r:?} is missing from the OpenAPI document"
            );
        }
        for d in &documented {
            assert!(served.contains(d), "documented {d:?} is not served");
        }
    }
}
