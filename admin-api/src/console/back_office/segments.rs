//! "Segmentation libre" (seed 004 §4: "permet d'intégrer le collaborateur à un segment de
//! contact"): a contact's page listing the operator's segments with its membership (add /
//! remove) and the creation of a segment (the contact added to it); the contacts list's
//! segment filter and "Exporter le segment". Every action calls the API's own function
//! (`routes::segments`): the same rules, the same audit as the operator.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::{Account, User};
use sesame_store::Segment;

use super::contacts::{contact_of, full_name};
use super::{account_path, contact_path, require_operator, OperatorPage};
use crate::console::form::Form;
use crate::console::layout::{csrf_field, notice, page_with, see_other, OrPage};
use crate::console::session::Visitor;
use crate::console::widgets::{Errors, Field};
use crate::extract::Query;
use crate::routes::segments::{add_segment, segment_csv, set_member};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    let base = "/console/back-office/accounts/{n}/contacts/{id}/segments";
    r.route(base, get(segments_page))
        .route(&format!("{base}/new"), post(create))
        .route(&format!("{base}/{{segment}}"), post(membership))
        .route(
            "/console/back-office/segments/{segment}/export",
            get(export),
        )
}

/// The path of a contact's "Segmentation libre" page.
pub(super) fn segments_path(a: &Account, u: &User) -> String {
    format!("{}/segments", contact_path(a.number.as_str(), u.id))
}

/// The notices of this page (`?done=…`): known words only.
fn done_notice(v: &Visitor, done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "segment-created" => v.t(
            "Le segment a été créé et le contact y a été ajouté.",
            "The segment was created and the contact added to it.",
        ),
        "segment-added" => v.t(
            "Le contact a été ajouté au segment.",
            "The contact was added to the segment.",
        ),
        "segment-removed" => v.t(
            "Le contact a été retiré du segment.",
            "The contact was removed from the segment.",
        ),
        _ => return None,
    };
    Some(notice(text))
}

/// The contacts list's segment filter (a `select` of every segment, "Tous les contacts" first)
/// and, a segment chosen, the link that exports it.
pub(super) fn segment_filter(v: &Visitor, segments: &[Segment], chosen: Option<i64>) -> Markup {
    html! {
        div.field {
            label for="f-segment" { (v.t("Segment", "Segment")) }
            select #f-segment name="segment" {
                option value="" { (v.t("Tous les contacts", "All contacts")) }
                @for s in segments {
                    option value=(s.id) selected[chosen == Some(s.id)] { (s.name) " (" (s.members) ")" }
                }
            }
        }
    }
}

/// "Exporter le segment", shown when the list is filtered by a segment that exists.
pub(super) fn export_link(v: &Visitor, segments: &[Segment], chosen: Option<i64>) -> Markup {
    html! {
        @if let Some(s) = chosen.and_then(|id| segments.iter().find(|s| s.id == id)) {
            a.button.secondary href={ "/console/back-office/segments/" (s.id) "/export" } download {
                (v.t("Exporter le segment", "Export the segment")) " « " (s.name) " » (CSV)"
            }
        }
    }
}

async fn segments_page(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path((n, id)): Path<(String, String)>,
    q: Query,
) -> Result<Response, Response> {
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    render(
        &state,
        &v,
        &a,
        &u,
        StatusCode::OK,
        q.str("done"),
        "",
        &Errors::none(),
    )
    .await
}

// A page's parts, each needed: kept as arguments rather than a one-use struct.
#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    v: &Visitor,
    a: &Account,
    u: &User,
    status: StatusCode,
    done: Option<&str>,
    name: &str,
    errors: &Errors,
) -> Result<Response, Response> {
    let segments = state.store.segments().await.or_page(v)?;
    let mine = state.store.segments_of_user(u.id).await.or_page(v)?;
    let path = segments_path(a, u);
    let body = html! {
        @if let Some(m) = done_notice(v, done) { (m) }
        (errors.summary(v))
        p { a href=(contact_path(a.number.as_str(), u.id)) { "← " (full_name(u)) } " · " a href={ (account_path(a.number.as_str())) "#contacts" } { (a.company) " — " (v.t("Liste contacts", "Contacts")) } }
        table {
            caption { (v.t("Segments de contacts", "Contact segments")) " (" (segments.len()) ")" }
            (super::column_heads(v, &[("Segment", "Segment"), ("Contacts", "Contacts"), ("Ce contact", "This contact"), ("Action", "Action")]))
            tbody {
                @for s in &segments {
                    @let member = mine.contains(&s.id);
                    tr {
                        td { a href={ (account_path(a.number.as_str())) "?segment=" (s.id) "#contacts" } { (s.name) } }
                        td { (s.members) }
                        td { @if member { (v.t("Membre", "Member")) } @else { (v.t("Non membre", "Not a member")) } }
                        td {
                            form.inline method="post" action={ (path) "/" (s.id) } {
                                (csrf_field(v))
                                input type="hidden" name="member" value=(if member { "false" } else { "true" });
                                @if member {
                                    button.secondary type="submit" aria-label={ (v.t("Retirer du segment ", "Remove from segment ")) (s.name) } { (v.t("Retirer", "Remove")) }
                                } @else {
                                    button type="submit" aria-label={ (v.t("Ajouter au segment ", "Add to segment ")) (s.name) } { (v.t("Ajouter", "Add")) }
                                }
                            }
                        }
                    }
                }
                @if segments.is_empty() {
                    tr { td colspan="4" { (v.t("Aucun segment pour l'instant : créez le premier ci-dessous.", "No segment yet: create the first one below.")) } }
                }
            }
        }
        h2 { (v.t("Créer un segment", "Create a segment")) }
        form method="post" action={ (path) "/new" } novalidate {
            (csrf_field(v))
            (Field::text("name", v.t("Nom du segment (80 caractères au plus)", "Segment name (80 characters at most)"), name, true).render(v, errors))
            p.muted { (v.t("Le contact est ajouté au segment créé.", "The contact is added to the new segment.")) }
            button type="submit" { (v.t("Créer le segment", "Create the segment")) }
        }
    };
    let title = format!(
        "{} — {}",
        v.t("Segmentation libre", "Free segmentation"),
        full_name(u)
    );
    Ok(page_with(v, status, &title, body))
}

async fn create(
    State(state): State<AppState>,
    Path((n, id)): Path<(String, String)>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let name = fields.raw("name");
    match add_segment(&state, name).await {
        Ok(s) => {
            set_member(&state, &s.id.to_string(), &u.id.to_string(), true)
                .await
                .or_page(&v)?;
            Ok(see_other(&format!(
                "{}?done=segment-created",
                segments_path(&a, &u)
            )))
        }
        Err(e) => {
            let errors = Errors::from_api(&v, &e, &["name"]);
            render(&state, &v, &a, &u, e.status(), None, name, &errors).await
        }
    }
}

async fn membership(
    State(state): State<AppState>,
    Path((n, id, segment)): Path<(String, String, String)>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    require_operator(&v)?;
    // The contact within the company of the path: another company's contact is "not found".
    let (a, u) = contact_of(&state, &v, &n, &id).await?;
    let member = fields.get("member") == Some("true");
    set_member(&state, &segment, &u.id.to_string(), member)
        .await
        .or_page(&v)?;
    let done = if member {
        "segment-added"
    } else {
        "segment-removed"
    };
    Ok(see_other(&format!("{}?done={done}", segments_path(&a, &u))))
}

async fn export(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path(segment): Path<String>,
) -> Result<Response, Response> {
    segment_csv(&state, &segment).await.or_page(&v)
}
