//! Contact segments (seed 004 §4, "Segmentation libre"), the operator's back office: define
//! segments, add or remove a contact, export a segment. The contacts list filters by segment
//! (`GET …/users?segment=`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use sesame_domain::csv::Writer;
use sesame_domain::model::{Actor, Millis};
use sesame_store::Segment;

use super::table::Routes;
use crate::auth::OperatorOnly;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::forms::parse_id;
use crate::openapi::{max_len, obj, op, OPERATOR};
use crate::views::{created, no_content, ok, Items, Res};
use crate::AppState;

/// At most this many contacts in one export.
const MAX_EXPORT: i64 = 100_000;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/segments",
        get(list).post(create),
        [
            op(
                "get",
                "Contact segments with their sizes (seed 004 §4, Segmentation libre)",
                OPERATOR,
                None,
                200,
            ),
            op(
                "post",
                "Create a segment (unique name, 1 to 80 characters)",
                OPERATOR,
                Some("Segment"),
                201,
            ),
        ],
    )
    .route(
        "/admin/v1/segments/{id}",
        axum::routing::delete(remove),
        [op(
            "delete",
            "Delete a segment (its contacts stay)",
            OPERATOR,
            None,
            204,
        )],
    )
    .route(
        "/admin/v1/segments/{id}/members/{userId}",
        put(add_member).delete(remove_member),
        [
            op(
                "put",
                "Add a contact to the segment (audited; idempotent)",
                OPERATOR,
                None,
                204,
            ),
            op(
                "delete",
                "Remove a contact from the segment (audited; idempotent)",
                OPERATOR,
                None,
                204,
            ),
        ],
    )
    .route(
        "/admin/v1/segments/{id}/export",
        get(export),
        [op(
            "get",
            "Export the segment's contacts (CSV, `;`, UTF-8 BOM, cells defused)",
            OPERATOR,
            None,
            200,
        )],
    )
    .schemas([("Segment", obj(&["name"], &[("name", max_len(80))]))])
}

/// A segment's id from a path: what is no id is a segment not found (not a user).
fn segment_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>().map_err(|_| ApiError::NotFound("segment"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SegmentView {
    id: i64,
    name: String,
    members: i64,
    created_at: Millis,
}

impl From<Segment> for SegmentView {
    fn from(s: Segment) -> Self {
        SegmentView {
            id: s.id,
            name: s.name,
            members: s.members,
            created_at: s.created_at,
        }
    }
}

async fn list(State(state): State<AppState>, _op: OperatorOnly) -> Res {
    let items = state.store.segments().await?;
    ok(Items {
        items: items.into_iter().map(SegmentView::from).collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SegmentIn {
    name: String,
}

async fn create(State(state): State<AppState>, _op: OperatorOnly, Json(b): Json<SegmentIn>) -> Res {
    created(SegmentView::from(add_segment(&state, &b.name).await?))
}

/// The operator creates segment `name` (the API's `POST /segments` and the back office's form):
/// a name taken is a conflict naming `name`.
pub(crate) async fn add_segment(state: &AppState, name: &str) -> ApiResult<Segment> {
    state
        .store
        .create_segment(Actor::Operator, name)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict { .. } => {
                ApiError::conflict("name", "a segment with this name exists")
            }
            other => other,
        })
}

async fn remove(State(state): State<AppState>, _op: OperatorOnly, Path(id): Path<String>) -> Res {
    state
        .store
        .delete_segment(Actor::Operator, segment_id(&id)?)
        .await?;
    no_content()
}

/// The operator adds contact `user` to `segment` or (`member` false) removes it (the API's
/// `PUT`/`DELETE …/members/{userId}` and the back office's buttons): audited, idempotent.
pub(crate) async fn set_member(
    state: &AppState,
    segment: &str,
    user: &str,
    member: bool,
) -> ApiResult<()> {
    Ok(state
        .store
        .set_segment_member(
            Actor::Operator,
            segment_id(segment)?,
            parse_id(user)?,
            member,
        )
        .await?)
}

async fn add_member(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path((id, user)): Path<(String, String)>,
) -> Res {
    set_member(&state, &id, &user, true).await?;
    no_content()
}

async fn remove_member(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path((id, user)): Path<(String, String)>,
) -> Res {
    set_member(&state, &id, &user, false).await?;
    no_content()
}

async fn export(State(state): State<AppState>, _op: OperatorOnly, Path(id): Path<String>) -> Res {
    segment_csv(&state, &id).await
}

/// Segment `id`'s contacts as a CSV download (`;`, UTF-8 BOM, cells defused): the API's export
/// and the back office's "Exporter le segment".
pub(crate) async fn segment_csv(state: &AppState, id: &str) -> ApiResult<Response> {
    let id = segment_id(id)?;
    let users = state.store.segment_members(id, MAX_EXPORT).await?;
    let mut w = Writer::new();
    let header = [
        "NOM",
        "PRENOM",
        "FONCTION",
        "EMAIL",
        "TELEPHONE",
        "TYPE",
        "STATUT",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for u in &users {
        let p = &u.profile;
        rows.push(vec![
            p.last_name.clone(),
            p.first_name.clone(),
            p.function.clone(),
            p.email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            p.phone.clone(),
            u.kind.as_str().to_owned(),
            u.status.as_str().to_owned(),
        ]);
    }
    for r in rows {
        w.record(r)
            .map_err(|e| ApiError::Internal(format!("segment export: {e}")))?;
    }
    let bytes = w
        .finish()
        .map_err(|e| ApiError::Internal(format!("segment export: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"segment_{id}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
