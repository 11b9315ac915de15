//! Erasing an identity (right to erasure, issue 15): the operator's alone. Unlinking from an
//! account (`DELETE …/users/{id}`) keeps the identity; this removes the person.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::Deserialize;
use sesame_domain::model::Actor;

use super::table::Routes;
use crate::auth::OperatorOnly;
use crate::extract::optional_json;
use crate::forms::{check_comment, parse_id};
use crate::openapi::{max_len, obj, op, OPERATOR};
use crate::views::{no_content, Res};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/users/{id}/erasure",
        post(erase),
        [op(
            "post",
            "Erase a user's identity (right to erasure): every link removed, every key revoked on every gateway at once, sessions and pending links ended, personal fields, login, password and user key blanked, queued e-mails dropped; the audit entries are kept with the personal data removed, naming the user by its id",
            OPERATOR,
            Some("Erasure"),
            204,
        )],
    )
    .schemas([("Erasure", obj(&[], &[("comment", max_len(500))]))])
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ErasureIn {
    #[serde(default)]
    comment: Option<String>,
}

async fn erase(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let b: ErasureIn = optional_json(&body)?;
    check_comment(b.comment.as_deref())?;
    state
        .store
        .erase_user(Actor::Operator, parse_id(&id)?, b.comment.as_deref())
        .await?;
    no_content()
}
