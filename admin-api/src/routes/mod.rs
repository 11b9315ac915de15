//! The admin API by resource (SPEC §5): each file holds a resource's handlers, its request and
//! answer types, and the OpenAPI operations that describe them; [`all`] assembles the table.
//!
//! Errors are [`crate::error::ApiError`], answers are views (`crate::views`), bodies are read by
//! `crate::extract`, callers are `crate::auth::Caller`.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod back_office;
pub(crate) mod collaborators;
mod erasure;
pub(crate) mod imports;
pub(crate) mod invitations;
pub(crate) mod links;
pub(crate) mod me;
pub(crate) mod password_resets;
pub(crate) mod segments;
pub(crate) mod sessions;
pub mod table;
pub(crate) mod users;

use axum::routing::get;

use crate::error::ApiError;
use crate::openapi::{self, op, PUBLIC};
use table::Routes;

/// Every route, each with its documented operations.
pub fn all(max_import_bytes: usize) -> Routes {
    let r = Routes::new().route(
        "/admin/openapi.json",
        get(openapi::serve),
        [op("get", "This document", PUBLIC, None, 200)],
    );
    let r = sessions::routes(r);
    let r = accounts::routes(r);
    let r = users::routes(r);
    let r = invitations::routes(r);
    let r = back_office::routes(r);
    let r = erasure::routes(r);
    let r = collaborators::routes(r);
    let r = segments::routes(r);
    let r = password_resets::routes(r);
    let r = links::routes(r);
    let r = me::routes(r);
    let r = imports::routes(r, max_import_bytes);
    audit::routes(r)
}

/// No route for the path.
pub async fn fallback() -> ApiError {
    ApiError::Framework(axum::http::StatusCode::NOT_FOUND)
}

/// The path exists, not with this method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::Framework(axum::http::StatusCode::METHOD_NOT_ALLOWED)
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_describes_exactly_the_routes() {
        let routes = super::all(1);
        let doc = crate::openapi::document(&routes.ops, &routes.schemas);
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
        assert_eq!(documented, served);
        // Every request schema an operation names is in the document.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (_, o) in &routes.ops {
            if let Some(b) = o.body.filter(|b| *b != "Csv") {
                assert!(schemas.contains_key(b), "schema {b} is missing");
            }
        }
    }
}
