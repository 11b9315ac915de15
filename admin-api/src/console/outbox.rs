//! Screen 7: the outbox view, for the demo and for operators without SMTP: the e-mails Sesame
//! sent (or queued), newest first, filtered by recipient, each shown as its recipient would
//! read it, links clickable. The operator's only: invitation and reset links are credentials.
//!
//! Without SMTP the outbox is the delivery channel, so its links are shown live; with SMTP the
//! mail carries them and this view shows them masked (`routes::back_office::outbox_mails`).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use sesame_store::OutboxMail;

use super::back_office::{column_heads, OperatorPage};
use super::layout::{page, OrPage};
use super::session::Visitor;
use super::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::extract::Query;
use crate::forms::check_text;
use crate::routes::back_office::{outbox_mail, outbox_mails};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/outbox", get(list))
        .route("/console/outbox/{id}", get(one))
}

/// Mails the list shows (the newest).
const SHOWN: i64 = 200;

fn state_text(v: &Visitor, m: &OutboxMail) -> String {
    match (&m.sent_at, &m.error) {
        (_, Some(e)) => format!("{} : {e}", v.t("Échec d'envoi", "Delivery failed")),
        (Some(at), None) => format!("{} {}", v.t("Envoyé le", "Sent on"), v.lang.date_time(*at)),
        (None, None) => v.t("Dans la boîte d'envoi", "In the outbox").to_owned(),
    }
}

async fn list(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    q: Query,
) -> Result<Response, Response> {
    let to = q.str("to").map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = to {
        check_text("to", t, 254).or_page(&v)?;
    }
    let mails = outbox_mails(&state, to, SHOWN).await.or_page(&v)?;
    let body = html! {
        @if state.cfg.smtp.is_none() {
            p.notice.info { (v.t("Aucun serveur SMTP n'est configuré : les e-mails restent ici, et vous pouvez les lire tels que leurs destinataires les recevraient (liens actifs).", "No SMTP server is configured: e-mails stay here, where you can read them as their recipients would (live links).")) }
        } @else {
            p.notice.info { (v.t("Les e-mails partent par SMTP : les liens d'invitation et de mot de passe sont masqués ici.", "E-mails go out through SMTP: invitation and password links are masked here.")) }
        }
        form.search method="get" action="/console/outbox" role="search" {
            (Field::text("to", v.t("Destinataire (adresse exacte)", "Recipient (exact address)"), to.unwrap_or(""), false).kind("email").render(&v, &Errors::none()))
            button type="submit" { (v.t("Filtrer", "Filter")) }
        }
        table {
            caption { (v.t("E-mails, les plus récents d'abord", "E-mails, newest first")) " (" (mails.len()) ")" }
            (column_heads(&v, &[("Date", "Date"), ("Destinataire", "To"), ("Objet", "Subject"), ("État", "State")]))
            tbody {
                @for m in &mails {
                    tr {
                        td { (v.lang.date_time(m.at)) }
                        td { (m.to) }
                        td { a href={ "/console/outbox/" (m.id) } { (m.subject) } }
                        td { (state_text(&v, m)) }
                    }
                }
                @if mails.is_empty() {
                    tr { td colspan="4" { (v.t("Aucun e-mail.", "No e-mail.")) } }
                }
            }
        }
    };
    Ok(page(&v, v.t("E-mails envoyés", "Sent e-mails"), body))
}

/// A line of a mail with its `http(s)://` addresses as links (any other scheme stays text).
fn linkify(line: &str) -> Markup {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut rest = line;
    while let Some(i) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .map_or(rest.len(), |e| i + e);
        parts.push((false, &rest[..i]));
        parts.push((true, &rest[i..end]));
        rest = &rest[end..];
    }
    parts.push((false, rest));
    html! {
        @for (is_link, text) in parts {
            @if is_link { a href=(text) { (text) } } @else { (text) }
        }
    }
}

/// The mail as its recipient reads it: the envelope, then the text, paragraph by paragraph.
fn mail_view(v: &Visitor, m: &OutboxMail) -> Markup {
    html! {
        article.mail lang=(m.lang) {
            dl.facts.envelope {
                dt { (v.t("De", "From")) } dd { "Sesame" }
                dt { (v.t("À", "To")) } dd { (m.to) }
                dt { (v.t("Date", "Date")) } dd { (v.lang.date_time(m.at)) }
                dt { (v.t("Objet", "Subject")) } dd { strong { (m.subject) } }
                dt { (v.t("État", "State")) } dd { (state_text(v, m)) }
            }
            div.mail-body {
                @for para in m.body.split("\n\n") {
                    p {
                        @for (i, line) in para.lines().enumerate() {
                            @if i > 0 { br; }
                            (linkify(line))
                        }
                    }
                }
            }
        }
    }
}

async fn one(
    State(state): State<AppState>,
    OperatorPage(v): OperatorPage,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let m = outbox_mail(&state, &id).await.map_err(|e| match e {
        ApiError::NotFound(_) => super::layout::fail(&v, &ApiError::NotFound("mail")),
        e => super::layout::fail(&v, &e),
    })?;
    let body = html! {
        p { a href="/console/outbox" { "← " (v.t("E-mails envoyés", "Sent e-mails")) } }
        (mail_view(&v, &m))
    };
    Ok(page(&v, &m.subject, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_http_only_and_end_at_a_space() {
        let m =
            super::linkify("voir https://x.example/a?b=1 puis javascript:alert(1) et http://y/z")
                .into_string();
        assert_eq!(
            m,
            "voir <a href=\"https://x.example/a?b=1\">https://x.example/a?b=1</a> puis javascript:alert(1) et <a href=\"http://y/z\">http://y/z</a>"
        );
        let m = super::linkify("<script>\"https://a/\"</script>").into_string();
        assert_eq!(
            m,
            "&lt;script&gt;&quot;<a href=\"https://a/\">https://a/</a>&quot;&lt;/script&gt;"
        );
    }
}
