//! The OpenAPI 3 document, served at `/admin/openapi.json`, built from what each resource
//! registers next to its handlers (an [`Op`] per method and path, its request schemas). A test
//! checks that it describes exactly the routes the router serves.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Map, Value};

/// Who may call an operation, as the document says it.
pub const PUBLIC: &str = "public";
pub const PUBLIC_TOKEN: &str = "public (token)";
pub const SESSION: &str = "session";
pub const OPERATOR: &str = "operator";
pub const ADMIN: &str = "operator, account admin";

/// One documented operation.
pub struct Op {
    pub method: &'static str,
    pub summary: &'static str,
    pub who: &'static str,
    /// The request body's schema (`Csv` for a file upload).
    pub body: Option<&'static str>,
    pub status: u16,
    /// Why the operation may answer 429 (with `Retry-After`).
    pub too_many: Option<&'static str>,
}

/// An operation without a body that answers 429 for no reason.
pub const fn op(
    method: &'static str,
    summary: &'static str,
    who: &'static str,
    body: Option<&'static str>,
    status: u16,
) -> Op {
    Op {
        method,
        summary,
        who,
        body,
        status,
        too_many: None,
    }
}

/// `{"type": t}`.
pub fn s(t: &str) -> Value {
    json!({"type": t})
}

/// A string of at most `n` characters.
pub fn max_len(n: u32) -> Value {
    json!({"type": "string", "maxLength": n})
}

/// The `Rights` schema.
pub fn rights() -> Value {
    json!({"$ref": "#/components/schemas/Rights"})
}

/// The `lang` of a mail.
pub fn lang() -> Value {
    json!({"type": "string", "enum": ["fr", "en"]})
}

/// A closed object with these properties.
pub fn obj(required: &[&str], props: &[(&str, Value)]) -> Value {
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

/// The profile fields of the forms (`forms::ProfileForm`, `forms::ProfileEdit`), then `extra`.
pub fn profile_props(extra: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        (
            "civility",
            json!({"type": "string", "enum": ["madame", "monsieur"]}),
        ),
        ("lastName", max_len(80)),
        ("firstName", max_len(80)),
        ("function", max_len(80)),
        ("phone", max_len(30)),
        ("email", json!({"type": "string", "format": "email"})),
        (
            "emailConfirmation",
            json!({"type": "string", "format": "email"}),
        ),
        ("fax", max_len(30)),
        ("address", max_len(200)),
        ("postalCode", max_len(16)),
        ("city", max_len(80)),
        ("country", max_len(60)),
    ];
    v.extend_from_slice(extra);
    v
}

/// The required fields of [`profile_props`] in the creation forms.
pub const REQUIRED_PROFILE: [&str; 9] = [
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

/// The schemas every operation shares.
fn common_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Error",
            obj(
                &["error"],
                &[(
                    "error",
                    obj(
                        &["code", "message"],
                        &[
                            ("code", s("string")),
                            ("message", s("string")),
                            (
                                "field",
                                json!({"type": "string", "description": "the field at fault (JSON path or CSV column)"}),
                            ),
                            (
                                "right",
                                json!({"type": "string", "description": "the right the delegation rule refused"}),
                            ),
                        ],
                    ),
                )],
            ),
        ),
        (
            "Rights",
            json!({"type": "array", "items": {"type": "string"}, "example": ["ws_postage", "tracking_tool:own"],
                   "description": "right ids; scoped rights as id:own|group|all (see /admin/v1/rights)"}),
        ),
    ]
}

fn error_response(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn operation(path: &str, o: &Op) -> Value {
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut op = json!({
        "summary": o.summary,
        "description": format!("Who may call: {}.", o.who),
        "parameters": params,
        "responses": {
            o.status.to_string(): {"description": "success"},
            "400": error_response("malformed request (names the field)"),
            "401": error_response("authentication required"),
            "403": error_response("not allowed (delegation errors name the right; identity_owned and shared_user name the field)"),
            "404": error_response("not found (or not visible to the caller)"),
            "409": error_response("conflict (names the field)"),
            "422": error_response("invalid field (names the field)"),
            "503": error_response("database unavailable"),
        },
    });
    if let Some(desc) = o.too_many {
        op["responses"]["429"] = error_response(desc);
        op["responses"]["429"]["headers"] = json!({"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}});
    }
    if !o.who.starts_with("public") {
        op["security"] = json!([{"bearer": []}]);
    }
    if let Some(b) = o.body {
        op["requestBody"] = if b == "Csv" {
            json!({"required": true, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}})
        } else {
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}})
        };
    }
    op
}

/// The document of these operations and request schemas.
pub fn document(ops: &[(&'static str, Op)], schemas: &[(&'static str, Value)]) -> Value {
    let mut paths = Map::new();
    for (path, o) in ops {
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[o.method] = operation(path, o);
    }
    let mut components = Map::new();
    for (name, schema) in common_schemas().iter().chain(schemas) {
        components.insert((*name).to_owned(), schema.clone());
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
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "operator token, or a session token from POST /admin/v1/sessions"}},
        },
    })
}

/// The document, serialised once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<Bytes>);

impl Document {
    pub fn new(doc: &Value) -> Document {
        Document(Arc::new(Bytes::from(doc.to_string())))
    }
}

pub async fn serve(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::clone(&doc.0),
    )
        .into_response()
}
