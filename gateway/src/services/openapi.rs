//! The OpenAPI 3 document of Sesame's own public endpoints (`/sesame/v1/*`), served at
//! `/sesame/openapi.json` on the public listener. [`OWN_ROUTES`] lists each operation with a
//! concrete example path; a test routes every example through `services::route` and checks
//! that every own service kind is listed, so the document and the router stay equal.

use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::kind::Service;
use super::{invoices, parcels, pins};
use crate::response::{bytes_resp, Resp};

pub(crate) const PATH: &str = "/sesame/openapi.json";

/// One documented operation: its service kind, method, OpenAPI path template and a concrete
/// path the router must send to that kind.
// `svc` and `example` are read by the test that keeps the document equal to the router.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct OwnRoute {
    pub svc: Service,
    pub method: &'static str,
    pub template: &'static str,
    pub example: &'static str,
}

pub(crate) const OWN_ROUTES: &[OwnRoute] = &[
    OwnRoute {
        svc: Service::ParcelSearch,
        method: "get",
        template: parcels::SEARCH,
        example: parcels::SEARCH,
    },
    OwnRoute {
        svc: Service::Claim,
        method: "post",
        template: "/sesame/v1/parcels/{parcelNumber}/claims",
        example: "/sesame/v1/parcels/6A12345678901/claims",
    },
    OwnRoute {
        svc: Service::ParcelSheet,
        method: "get",
        template: "/sesame/v1/parcels/{parcelNumber}",
        example: "/sesame/v1/parcels/6A12345678901",
    },
    OwnRoute {
        svc: Service::Pins,
        method: "get",
        template: pins::LIST,
        example: pins::LIST,
    },
    OwnRoute {
        svc: Service::Pin,
        method: "put",
        template: "/sesame/v1/pins/{parcelNumber}",
        example: "/sesame/v1/pins/6A12345678901",
    },
    OwnRoute {
        svc: Service::Unpin,
        method: "delete",
        template: "/sesame/v1/pins/{parcelNumber}",
        example: "/sesame/v1/pins/6A12345678901",
    },
    OwnRoute {
        svc: Service::Invoices,
        method: "get",
        template: invoices::LIST,
        example: invoices::LIST,
    },
    OwnRoute {
        svc: Service::InvoicePdf,
        method: "get",
        template: "/sesame/v1/invoices/{accountNumber}/{invoiceNumber}/pdf",
        example: "/sesame/v1/invoices/123456/F-2026-11/pdf",
    },
    OwnRoute {
        svc: Service::InvoiceZip,
        method: "post",
        template: "/sesame/v1/invoices/zip",
        example: "/sesame/v1/invoices/zip",
    },
    OwnRoute {
        svc: Service::OwnOpenApi,
        method: "get",
        template: PATH,
        example: PATH,
    },
];

/// The document (built once: it depends on nothing but the code).
pub(crate) fn handle() -> Resp {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    let body = DOC.get_or_init(|| Bytes::from(document().to_string()));
    bytes_resp(
        StatusCode::OK,
        "application/json;charset=UTF-8",
        body.clone(),
    )
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// `sort`: one of `fields` ascending, or descending with a leading `-`.
fn sort_param(fields: &[&str]) -> Value {
    let values: Vec<String> = fields
        .iter()
        .flat_map(|f| [(*f).to_owned(), format!("-{f}")])
        .collect();
    query(
        "sort",
        "Sort column, `-` first for descending; ties by number. Default: most recent first.",
        json!({"type": "string", "enum": values}),
    )
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

fn date(name: &str, description: &str) -> Value {
    query(
        name,
        description,
        json!({"type": "string", "format": "date"}),
    )
}

/// The answers every operation may give besides its success.
fn errors(mut responses: Map<String, Value>) -> Value {
    let e = json!({"$ref": "#/components/responses/Error"});
    for code in ["400", "401", "403", "429", "502", "503"] {
        responses.insert(code.into(), e.clone());
    }
    Value::Object(responses)
}

fn ok(description: &str, content: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "200".into(),
        json!({"description": description, "content": content}),
    );
    m
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn operation(id: &str, summary: &str, params: Vec<Value>, responses: Value) -> Value {
    json!({"operationId": id, "summary": summary, "parameters": params, "responses": responses})
}

fn document() -> Value {
    let page = || {
        vec![
            query(
                "page",
                "Page number, from 1.",
                json!({"type": "integer", "minimum": 1}),
            ),
            date("from", "First day (YYYY-MM-DD)."),
            date("to", "Last day (YYYY-MM-DD)."),
        ]
    };
    let mut search_params = vec![
        query(
            "account",
            "Only this linked account.",
            json!({"type": "string"}),
        ),
        query(
            "parcelNumber",
            "Parcel number contains.",
            json!({"type": "string"}),
        ),
        query(
            "reference",
            "Customer reference contains.",
            json!({"type": "string"}),
        ),
        query(
            "recipient",
            "Recipient name contains.",
            json!({"type": "string"}),
        ),
        query(
            "postalCode",
            "Recipient postal code.",
            json!({"type": "string"}),
        ),
        query("status", "Status.", json!({"type": "string"})),
        query(
            "country",
            "Destination country code.",
            json!({"type": "string"}),
        ),
        query(
            "pass",
            "Sent with a prepaid Colissimo Pass or not.",
            json!({"type": "boolean"}),
        ),
        query(
            "location",
            "Last event's site contains (case-insensitive).",
            json!({"type": "string"}),
        ),
        query(
            "pageSize",
            "Parcels per page (the tool's \"Afficher\").",
            json!({"type": "integer", "enum": [25, 50, 100], "default": 25}),
        ),
        sort_param(&[
            "accountNumber",
            "parcelNumber",
            "pass",
            "reference",
            "recipientName",
            "postalCode",
            "status",
            "location",
            "country",
            "depositDate",
        ]),
        query(
            "format",
            "`csv` for a CSV export (every matching parcel, in the asked order).",
            json!({"type": "string", "enum": ["json", "csv"]}),
        ),
    ];
    search_params.extend(page());
    let mut invoice_params = vec![
        query(
            "account",
            "Only this linked account.",
            json!({"type": "string"}),
        ),
        query(
            "company",
            "Company name contains.",
            json!({"type": "string"}),
        ),
        query(
            "number",
            "Invoice number contains.",
            json!({"type": "string"}),
        ),
        query(
            "pageSize",
            "Items per page.",
            json!({"type": "integer", "minimum": 1, "maximum": 200}),
        ),
        sort_param(&[
            "number",
            "type",
            "date",
            "accountNumber",
            "company",
            "amount",
            "pages",
        ]),
    ];
    invoice_params.extend(page());
    let list = json!({"$ref": "#/components/schemas/Page"});
    let search = operation(
        "searchParcels",
        "Parcels of every linked account the caller may see (the tracking tool), newest first.",
        search_params,
        errors(ok(
            "One page of parcels (or the CSV export).",
            json!({"application/json": {"schema": list}, "text/csv": {"schema": {"type": "string"}}}),
        )),
    );
    let claim = json!({
        "operationId": "createClaim",
        "summary": "Opens a claim on a parcel of a linked account (`ws_claims`).",
        "parameters": [path_param("parcelNumber", "The parcel.")],
        "requestBody": {"required": true, "content": json_content(json!({
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"type": "string"}, "comment": {"type": "string"}}
        }))},
        "responses": errors({
            let mut m = ok("The carrier's answer.", json_content(json!({"type": "object"})));
            m.insert("404".into(), json!({"$ref": "#/components/responses/Error"}));
            m
        }),
    });
    let invoices = operation(
        "listInvoices",
        "Invoices of every linked account the caller may see, newest first.",
        invoice_params,
        errors(ok("One page of invoices.", json_content(list.clone()))),
    );
    let pdf = operation(
        "invoicePdf",
        "One invoice's PDF.",
        vec![
            path_param("accountNumber", "The invoice's account."),
            path_param("invoiceNumber", "The invoice."),
        ],
        errors({
            let mut m = ok(
                "The PDF.",
                json!({"application/pdf": {"schema": {"type": "string", "format": "binary"}}}),
            );
            m.insert(
                "404".into(),
                json!({"$ref": "#/components/responses/Error"}),
            );
            m
        }),
    );
    let zip = json!({
        "operationId": "invoiceArchive",
        "summary": "A ZIP archive of several invoices' PDFs.",
        "requestBody": {"required": true, "content": json_content(json!({
            "type": "object",
            "required": ["invoices"],
            "properties": {"invoices": {"type": "array", "items": {
                "type": "object",
                "required": ["accountNumber", "number"],
                "properties": {"accountNumber": {"type": "string"}, "number": {"type": "string"}}
            }}}
        }))},
        "responses": errors(ok(
            "The archive.",
            json!({"application/zip": {"schema": {"type": "string", "format": "binary"}}}),
        )),
    });
    let doc = operation(
        "openapi",
        "This document.",
        vec![],
        json!({"200": {"description": "The OpenAPI document.", "content": json_content(json!({"type": "object"}))}}),
    );
    let parcel = || {
        vec![path_param(
            "parcelNumber",
            "The parcel (1 to 40 letters or digits).",
        )]
    };
    let not_found = |mut m: Map<String, Value>| {
        m.insert(
            "404".into(),
            json!({"$ref": "#/components/responses/Error"}),
        );
        m
    };
    let pin_schema = json!({
        "type": "object",
        "required": ["parcelNumber", "accountNumber", "pinnedAt", "visible"],
        "properties": {
            "parcelNumber": {"type": "string"},
            "accountNumber": {"type": "string"},
            "pinnedAt": {"type": "string", "format": "date-time"},
            "visible": {"type": "boolean", "description": "False when the caller may no longer see the parcel: `parcel` is then absent."},
            "parcel": {"type": "object", "description": "The parcel as a search row."}
        }
    });
    let sheet = operation(
        "parcelSheet",
        "One parcel the caller may see: its account, its details and timeline (as the tracking link's JSON), and whether the caller pinned it. Out of scope answers as unknown (404).",
        parcel(),
        errors(not_found(ok(
            "The parcel's sheet.",
            json_content(json!({
                "type": "object",
                "required": ["accountNumber", "parcel", "pinned"],
                "properties": {
                    "accountNumber": {"type": "string"},
                    "parcel": {"type": "object"},
                    "pinned": {"type": "boolean"}
                }
            })),
        ))),
    );
    let pins_list = operation(
        "listPins",
        "The caller's pinned parcels (\"Colis épinglés\"), newest pin first.",
        vec![],
        errors(ok(
            "The pins; `accounts` says how each searched account answered.",
            json_content(json!({
                "type": "object",
                "properties": {
                    "pins": {"type": "array", "items": pin_schema.clone()},
                    "accounts": {"type": "array", "items": {"type": "object"}}
                }
            })),
        )),
    );
    let pin_put = operation(
        "pinParcel",
        "Pins a parcel the caller may see (idempotent; at most 500 pins per user, 409 past that).",
        parcel(),
        errors({
            let mut m = not_found(ok("The pin.", json_content(pin_schema)));
            m.insert(
                "409".into(),
                json!({"$ref": "#/components/responses/Error"}),
            );
            m
        }),
    );
    let mut unpinned = Map::new();
    unpinned.insert(
        "204".into(),
        json!({"description": "Not pinned (any more)."}),
    );
    let pin_delete = operation(
        "unpinParcel",
        "Unpins a parcel (204 also when it was not pinned).",
        parcel(),
        errors(unpinned),
    );
    let mut paths = Map::new();
    for (r, op) in OWN_ROUTES.iter().zip([
        search, claim, sheet, pins_list, pin_put, pin_delete, invoices, pdf, zip, doc,
    ]) {
        let entry = paths
            .entry(r.template)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = op;
    }
    // The document itself needs no key.
    paths[PATH]["get"]["security"] = json!([]);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sesame public API",
            "version": "1",
            "description": "Sesame's own endpoints on the public listener, called with a connection key in the `apiKey` header or a session of the user (`Authorization: Bearer <token>` from `POST /admin/v1/sessions`): the same user, the same rights and scopes. The carrier's web services Sesame proxies keep their own formats."
        },
        "paths": paths,
        "security": [{"apiKey": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "apiKey"},
                "session": {"type": "http", "scheme": "bearer", "description": "A user's session token (any kind of user, or an impersonation)."}
            },
            "schemas": {
                "Page": {
                    "type": "object",
                    "description": "One page of a list spanning the linked accounts; `accounts` says how each account answered.",
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "page": {"type": "integer"},
                        "accounts": {"type": "array", "items": {"type": "object"}}
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                            "right": {"type": "string"}
                        }
                    }}
                }
            },
            "responses": {
                "Error": {"description": "A refusal.", "content": json_content(json!({"$ref": "#/components/schemas/Error"}))}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed operation is routed to its kind, every own kind is listed.
    #[test]
    fn the_document_lists_exactly_the_routes() {
        for r in OWN_ROUTES {
            let method = http::Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
            assert_eq!(
                super::super::route(&method, r.example),
                r.svc,
                "{}",
                r.example
            );
            assert_eq!(r.svc.method(), method, "{}", r.example);
        }
        // Sesame's own kinds are those labelled `sesame_api`: each is documented.
        for svc in [
            Service::Labels,
            Service::LabelsSoap,
            Service::LabelsWsdl,
            Service::Tracking,
            Service::TrackingV2,
            Service::Pickup,
            Service::Eligibility,
            Service::Link,
            Service::ParcelSearch,
            Service::ParcelSheet,
            Service::Claim,
            Service::Pins,
            Service::Pin,
            Service::Unpin,
            Service::Invoices,
            Service::InvoicePdf,
            Service::InvoiceZip,
            Service::OwnOpenApi,
        ] {
            let own = svc.route_label() == "sesame_api";
            assert_eq!(own, OWN_ROUTES.iter().any(|r| r.svc == svc), "{svc:?}");
        }
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, OWN_ROUTES.len());
    }
}
