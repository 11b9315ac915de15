//! Screen 5: "Ajouter plusieurs utilisateurs au compte" (seed 000 §5.2): the template download,
//! the upload from a file picker (multipart, the CSRF token in the same form), the progress,
//! "Récupérer les résultats" with the availability date, and the warning that a new import
//! replaces the previous result within its 7 days. The upload goes through the API's own
//! function (`routes::imports::start_import`): same checks, same worker, same audit.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use sesame_domain::model::{now_millis, ImportStatus};

use super::csrf;
use super::layout::{csrf_field, notice, page_with, see_other, OrPage};
use super::session::{SignedIn, Visitor};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::imports::{result_download, start_import, template_download};
use crate::AppState;

pub fn routes(r: Router<AppState>, max_import_bytes: usize) -> Router<AppState> {
    r.route(
        "/console/imports",
        get(imports)
            .post(upload)
            // The file and a few form fields.
            .layer(axum::extract::DefaultBodyLimit::max(
                max_import_bytes.saturating_add(16 * 1024),
            )),
    )
    .route("/console/imports/template", get(template))
    .route("/console/imports/result", get(result))
}

async fn imports(
    State(state): State<AppState>,
    s: SignedIn,
    q: Query,
) -> Result<Response, Response> {
    show(&state, &s, StatusCode::OK, q.str("done"), None).await
}

async fn show(
    state: &AppState,
    s: &SignedIn,
    status: StatusCode,
    done: Option<&str>,
    error: Option<(&str, String)>,
) -> Result<Response, Response> {
    let a = s.account(state).await.or_page(&s.v)?;
    let v = &s.v;
    let job = state.store.current_import(a.id).await.or_page(v)?;
    let now = now_millis();
    let result_available = job
        .as_ref()
        .filter(|j| j.finished_at.is_some() && j.expires_at > now);
    let body = html! {
        @match done {
            Some("uploaded") => (notice(v.t("Votre fichier a été chargé : sa progression s'affiche ci-dessous.", "Your file was uploaded: its progress shows below."))),
            Some("replaced") => (notice(v.t("Votre fichier a été chargé : sa progression s'affiche ci-dessous. Suite à ce nouvel import, le fichier de résultat du précédent import a été supprimé.", "Your file was uploaded: its progress shows below. The previous import's result file has been replaced."))),
            _ => {}
        }
        h2 { (v.t("Ajouter plusieurs utilisateurs", "Add several users")) }
        p { (v.t("Vous souhaitez ajouter plusieurs utilisateurs en une fois ? Il vous suffit de :", "Want to add several users at once? Just:")) }
        ol {
            li { (v.t("Réaliser un fichier CSV selon le fichier d'import ci-dessous", "Make a CSV file following the import format below")) }
            li { (v.t("Charger le fichier en cliquant sur le bouton Importer", "Upload it with the Import button")) }
            li { (v.t("Récupérer les résultats pour contrôler l'ajout des utilisateurs", "Get the results to check the users were added")) }
        }
        p { a href="/console/imports/template" download { (v.t("Télécharger le format du fichier d'import", "Download the import file format")) } }
        p.muted { (v.t("Une ligne par utilisateur, séparateur « ; », colonnes des droits à « oui » ou « non ». Fichier en UTF-8 ou Windows-1252 (Excel).", "One line per user, \";\" separated, rights columns \"oui\" or \"non\". UTF-8 or Windows-1252 (Excel).")) }
        @if let Some(j) = result_available {
            p.notice.info role="note" {
                strong { (v.t("Information", "Note")) " : " }
                (v.t("suite à un nouvel import, le précédent fichier de résultat (disponible jusqu'au ", "a new import replaces the previous result file (available until "))
                (v.lang.date(j.expires_at)) (v.t(") sera supprimé.", ")."))
            }
        }
        @if let Some((_, m)) = &error { (super::layout::form_error(v, m)) }
        form method="post" action="/console/imports" enctype="multipart/form-data" {
            (csrf_field(v))
            div.field.invalid[error.is_some()] {
                label for="f-file" { (v.t("Fichier CSV", "CSV file")) abbr title=(v.t("obligatoire", "required")) { "*" } }
                input #f-file type="file" name="file" accept=".csv,text/csv" required
                    aria-invalid=[error.as_ref().map(|_| "true")]
                    aria-describedby=[error.as_ref().map(|_| "f-file-error")];
                @if let Some((_, m)) = &error { p.field-error #f-file-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
            }
            div.actions { button type="submit" { (v.t("Importer", "Import")) } }
        }
        h2 { (v.t("Récupération des résultats", "Results")) }
        @match &job {
            None => p { (v.t("Aucun import pour le moment.", "No import yet.")) },
            Some(j) => {
                @let running = matches!(j.status, ImportStatus::Queued | ImportStatus::Running);
                @let pct = if j.total_lines > 0 { j.processed_lines * 100 / j.total_lines } else { 100 };
                div data-import-running=[running.then_some("1")] {
                    p {
                        (v.t("Fichier", "File")) " : " strong { (j.file_name) } " (" (v.t("chargé le ", "uploaded ")) (v.lang.date_time(j.created_at)) ") — "
                        (match j.status {
                            ImportStatus::Queued => v.t("en attente de traitement", "waiting to be processed"),
                            ImportStatus::Running => v.t("traitement en cours", "being processed"),
                            ImportStatus::Done => v.t("traitement terminé", "processed"),
                            ImportStatus::Failed => v.t("traitement interrompu", "processing stopped"),
                        })
                    }
                    label for="import-progress" { (v.t("Progression", "Progress")) " : " (j.processed_lines) " / " (j.total_lines) " " (v.t("lignes", "lines")) " (" (pct) " %)" }
                    br;
                    progress #import-progress max="100" value=(pct) { (pct) " %" }
                    @if j.finished_at.is_some() {
                        p { (v.t("Lignes traitées avec succès", "Lines processed successfully")) " : " (j.ok_lines) " ; " (v.t("en erreur", "in error")) " : " (j.processed_lines - j.ok_lines) }
                    }
                    @if running { p { a href="/console/imports" { (v.t("Rafraîchir", "Refresh")) } } }
                }
                @if let Some(j) = result_available {
                    p { (v.t("Votre fichier est disponible jusqu'au :", "Your file is available until:")) " " strong { (v.lang.date(j.expires_at)) } "*" }
                    p { a.button href="/console/imports/result" download { (v.t("Récupérer les résultats", "Get the results")) } }
                    p.muted { "*" (v.t("sauf en cas d'import d'un nouveau fichier", "unless a new file is imported")) }
                }
            }
        }
        p { a href="/console/users" { (v.t("Retour à la gestion des utilisateurs", "Back to user management")) } }
    };
    Ok(page_with(
        v,
        status,
        v.t(
            "Ajouter plusieurs utilisateurs au compte",
            "Add several users to the account",
        ),
        body,
    ))
}

/// What the file picker sent: the CSRF token must come first (the form puts it first), so the
/// file is never read for a forged post.
async fn read_upload(v: &Visitor, mut m: Multipart) -> Result<(String, Vec<u8>), Response> {
    let bad = |v: &Visitor| {
        super::layout::message_page(
            v,
            StatusCode::BAD_REQUEST,
            v.t("Envoi illisible", "Unreadable upload"),
            v.t("Le fichier n'a pas pu être lu : rien n'a été importé. Recommencez depuis la page d'import.", "The file could not be read: nothing was imported. Start again from the import page."),
        )
    };
    let mut csrf_ok = false;
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(super::layout::fail(
                    v,
                    &ApiError::invalid(
                        "file",
                        "file: must be at most the configured import size (max_import_bytes)",
                    ),
                ));
            }
            Err(_) => return Err(bad(v)),
        };
        match field.name() {
            Some(csrf::FIELD) => {
                let t = field.text().await.map_err(|_| bad(v))?;
                csrf_ok = csrf::valid(&v.csrf, Some(&t));
            }
            Some("file") if csrf_ok => {
                let name = field.file_name().unwrap_or("import.csv").to_owned();
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        super::layout::fail(v, &ApiError::Framework(StatusCode::PAYLOAD_TOO_LARGE))
                    } else {
                        bad(v)
                    }
                })?;
                return Ok((name, bytes.to_vec()));
            }
            _ => break,
        }
    }
    Err(super::form::refused(v))
}

async fn upload(
    State(state): State<AppState>,
    s: SignedIn,
    m: Multipart,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let (name, bytes) = read_upload(&s.v, m).await?;
    // The browser sends only the file's name, but a hostile client may send a path.
    let name = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("import.csv")
        .to_owned();
    match start_import(&state, &s.caller, &a, &name, &bytes).await {
        Ok((_, warning)) => Ok(see_other(if warning.is_some() {
            "/console/imports?done=replaced"
        } else {
            "/console/imports?done=uploaded"
        })),
        Err(e) => {
            let m = s.v.lang.error(&e);
            show(&state, &s, e.status(), None, Some(("file", m))).await
        }
    }
}

async fn template(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    s.account(&state).await.or_page(&s.v)?;
    Ok(template_download())
}

async fn result(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    result_download(&state, &a).await.or_page(&s.v)
}
