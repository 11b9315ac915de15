//! CSV import and export of advanced users (seed 000 §5.2, §7): the template, the upload (the
//! lines are processed by `import_worker`), its progress and result file, and the export.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sesame_domain::model::{now_millis, Account, ImportJob, Millis, UserKind};
use sesame_store::UserFilter;

use super::table::Routes;
use crate::auth::{account_for, AccountPath, Caller};
use crate::csvio;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::forms::check_text;
use crate::openapi::{op, ADMIN};
use crate::views::{ok, reply, Res};
use crate::AppState;

pub fn routes(r: Routes, max_import_bytes: usize) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/imports/template",
        get(import_template),
        [op(
            "get",
            "Download the CSV import template",
            ADMIN,
            None,
            200,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/imports",
        post(upload_import).layer(DefaultBodyLimit::max(max_import_bytes)),
        [op(
            "post",
            "Upload a CSV (body = file; fileName query); processed in the background",
            ADMIN,
            Some("Csv"),
            202,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/imports/current",
        get(current_import),
        [op(
            "get",
            "Progress of the current import and availability of its result",
            ADMIN,
            None,
            200,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/imports/current/result",
        get(import_result),
        [op(
            "get",
            "Download the result file (kept 7 days)",
            ADMIN,
            None,
            200,
        )],
    )
    .route(
        "/admin/v1/accounts/{n}/exports/advanced-users",
        get(export_advanced),
        [op(
            "get",
            "Export advanced users with delegated rights (CSV, `;`, UTF-8 BOM)",
            ADMIN,
            None,
            200,
        )],
    )
}

/// A date as the seed writes it (`31/12/2026`).
pub fn fmt_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// An import job and its progress.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobView {
    id: i64,
    status: &'static str,
    file_name: String,
    total_lines: i64,
    processed_lines: i64,
    ok_lines: i64,
    error_lines: i64,
    progress: i64,
    created_at: Millis,
    finished_at: Option<Millis>,
    result_available_until: Option<Millis>,
    /// Once finished: until when the result file can be downloaded, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    result_available_until_text: Option<String>,
}

impl From<&ImportJob> for JobView {
    fn from(j: &ImportJob) -> Self {
        JobView {
            id: j.id,
            status: j.status.as_str(),
            file_name: j.file_name.clone(),
            total_lines: j.total_lines,
            processed_lines: j.processed_lines,
            ok_lines: j.ok_lines,
            error_lines: j.processed_lines - j.ok_lines,
            progress: if j.total_lines > 0 {
                (j.processed_lines * 100) / j.total_lines
            } else {
                100
            },
            created_at: j.created_at,
            finished_at: j.finished_at,
            result_available_until: j.finished_at.map(|_| j.expires_at),
            result_available_until_text: None,
        }
    }
}

fn csv_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn import_template(AccountPath { state, caller, n }: AccountPath) -> Res {
    account_for(&state, &caller, &n).await?;
    Ok(template_download())
}

#[derive(Serialize)]
struct Uploaded {
    job: JobView,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

async fn upload_import(
    AccountPath { state, caller, n }: AccountPath,
    q: Query,
    body: Bytes,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let file_name = q.str("fileName").unwrap_or("import.csv").to_owned();
    let (job, warning) = start_import(&state, &caller, &a, &file_name, &body).await?;
    reply(
        StatusCode::ACCEPTED,
        Uploaded {
            job: JobView::from(&job),
            warning,
        },
    )
}

/// Starts the import of `body` for account `a` (the API's upload and the console's file
/// picker): checks the file, replaces the previous job, wakes the worker. Returns the job and,
/// when a previous result was still available, the warning that it is gone.
pub async fn start_import(
    state: &AppState,
    caller: &Caller,
    a: &Account,
    file_name: &str,
    body: &[u8],
) -> ApiResult<(ImportJob, Option<String>)> {
    check_text("fileName", file_name, 200)?;
    let upload = csvio::check_upload(body, state.cfg.max_import_lines)?;
    let (job, previous) = state
        .store
        .start_import(
            caller.actor(),
            a.id,
            file_name,
            upload.lines,
            upload.text.as_bytes(),
        )
        .await?;
    state.import_wake.notify_one();
    let warning = previous
        .filter(|p| p.finished_at.is_some() && p.expires_at > now_millis())
        .map(|p| {
            format!(
                "Suite à ce nouvel import, le fichier de résultat du précédent import (disponible jusqu'au {}) a été supprimé. \
                 The result file of the previous import has been replaced.",
                fmt_date(p.expires_at)
            )
        });
    Ok((job, warning))
}

async fn current_import(AccountPath { state, caller, n }: AccountPath) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let job = state
        .store
        .current_import(a.id)
        .await?
        .ok_or(ApiError::NotFound("import"))?;
    ok(JobView {
        result_available_until_text: job.finished_at.map(|_| {
            format!(
                "Votre fichier est disponible jusqu'au : {}",
                fmt_date(job.expires_at)
            )
        }),
        ..JobView::from(&job)
    })
}

async fn import_result(AccountPath { state, caller, n }: AccountPath) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    result_download(&state, &a).await
}

/// The current import's result file as a download.
pub async fn result_download(state: &AppState, a: &Account) -> Res {
    let (job, bytes) = state
        .store
        .import_result(a.id)
        .await?
        .ok_or(ApiError::NotFound("import result"))?;
    Ok(csv_response(
        &format!("resultat_import_{}.csv", job.id),
        bytes,
    ))
}

async fn export_advanced(AccountPath { state, caller, n }: AccountPath) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    export_download(&state, &a).await
}

/// "Exporter les utilisateurs avancés": the account's advanced users and their rights, as a
/// download.
pub async fn export_download(state: &AppState, a: &Account) -> Res {
    let (users, _) = state
        .store
        .list_account_users(
            a.id,
            &UserFilter {
                kind: Some(UserKind::Advanced),
                q: None,
                offset: 0,
                limit: 100_000,
            },
        )
        .await?;
    Ok(csv_response(
        &format!("utilisateurs_avances_{}.csv", a.number),
        csvio::export(&users),
    ))
}

/// The import template as a download.
pub fn template_download() -> Response {
    csv_response("import_utilisateurs_avances.csv", csvio::template())
}
