//! "Mes factures" (seed 000 §9, "Facture Online"): the search (N° de compte Colissimo, Raison
//! sociale, N° de facture, date between … and …), the table of the seed's columns, sortable on
//! each (↕), paged, one PDF per row, and "Télécharger" for the invoices ticked (a zip).
//!
//! Everything goes through the gateway's own invoice endpoints with the visitor's session: the
//! screen shows exactly what the gateway answers (the `invoices:<scope>` of each link and seed
//! 004's document visibility are applied there, once).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::{download as attachment, fail, PortalUser};
use crate::console::form::Form;
use crate::console::layout::{csrf_field, message_page, page_with};
use crate::console::session::Visitor;
use crate::console::url_encode;
use crate::console::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::extract::Query;
use crate::AppState;

pub const PATH: &str = "/console/factures";

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(list))
        .route("/console/factures/telecharger", post(download))
        .route("/console/factures/{account}/{number}/pdf", get(pdf))
}

/// The search fields (the gateway's parameter names) with their labels.
const SEARCH: [(&str, &str, &str); 5] = [
    (
        "account",
        "N° de compte Colissimo",
        "Colissimo account number",
    ),
    ("company", "Raison sociale", "Company name"),
    ("number", "N° de facture", "Invoice number"),
    (
        "from",
        "Date de facture : entre le",
        "Invoice date: between",
    ),
    ("to", "et le", "and"),
];

/// The table's sortable columns: the gateway's `sort` field and the seed's heading.
const COLUMNS: [(&str, &str, &str); 7] = [
    ("number", "N° de Facture", "Invoice No."),
    ("type", "Type", "Type"),
    ("date", "Date", "Date"),
    (
        "accountNumber",
        "N° de Compte Colissimo",
        "Colissimo account No.",
    ),
    ("company", "Raison Sociale", "Company name"),
    ("amount", "Montant TTC", "Amount incl. VAT"),
    ("pages", "Pages", "Pages"),
];

/// Longest search value: a search field is short; anything longer is refused, naming it.
const MAX_VALUE: usize = 100;
/// Most invoices in one download (the gateway's bound too).
const MAX_ZIP: usize = 100;

/// The search as asked: each known parameter, validated and bounded.
struct Search {
    values: Vec<(&'static str, String)>,
    sort: Option<String>,
    page: u32,
}

impl Search {
    #[allow(clippy::result_large_err)]
    fn read(q: &Query) -> Result<Search, ApiError> {
        let mut values = Vec::new();
        for (name, _, _) in SEARCH {
            if let Some(v) = q.str(name).map(str::trim).filter(|v| !v.is_empty()) {
                if v.chars().count() > MAX_VALUE {
                    return Err(ApiError::invalid(
                        name,
                        format!("{name}: must be at most {MAX_VALUE} characters"),
                    ));
                }
                if (name == "from" || name == "to")
                    && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
                {
                    return Err(ApiError::invalid(
                        name,
                        format!("{name}: must be a date (YYYY-MM-DD)"),
                    ));
                }
                values.push((name, v.to_owned()));
            }
        }
        let sort = match q.str("sort").filter(|s| !s.is_empty()) {
            None => None,
            Some(s)
                if COLUMNS
                    .iter()
                    .any(|(c, _, _)| s.strip_prefix('-').unwrap_or(s) == *c) =>
            {
                Some(s.to_owned())
            }
            Some(_) => return Err(ApiError::invalid("sort", "sort: unknown column")),
        };
        let page = match q.str("page").filter(|p| !p.is_empty()) {
            None => 1,
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| ApiError::invalid("page", "page: must be a positive number"))?,
        };
        Ok(Search { values, sort, page })
    }

    fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The query string of this search with `sort` and `page` replaced (for links).
    fn query(&self, sort: Option<&str>, page: u32) -> String {
        let mut parts: Vec<String> = self
            .values
            .iter()
            .map(|(n, v)| format!("{n}={}", url_encode(v)))
            .collect();
        if let Some(s) = sort {
            parts.push(format!("sort={}", url_encode(s)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        parts.join("&")
    }
}

/// A column heading: a link sorting on it (↕), then the other way (▲ ascending, ▼ descending).
fn heading(v: &Visitor, s: &Search, field: &str, fr: &str, en: &str) -> Markup {
    let current = s.sort.as_deref();
    let (mark, next, aria) = if current == Some(field) {
        ("▲", format!("-{field}"), Some("ascending"))
    } else if current.and_then(|c| c.strip_prefix('-')) == Some(field) {
        ("▼", field.to_owned(), Some("descending"))
    } else {
        ("↕", field.to_owned(), None)
    };
    html! {
        th scope="col" aria-sort=[aria] {
            a href={ (PATH) "?" (s.query(Some(&next), 1)) } title=(v.t("Trier", "Sort")) {
                span aria-hidden="true" { (mark) " " } (v.t(fr, en))
            }
        }
    }
}

/// "584.47" as the seed writes it in French ("584,47", "16.873,33").
fn amount(v: &Visitor, raw: &str) -> String {
    match v.lang {
        crate::console::i18n::Lang::En => raw.to_owned(),
        crate::console::i18n::Lang::Fr => amount_fr(raw),
    }
}

fn amount_fr(raw: &str) -> String {
    let (int, dec) = raw.split_once('.').unwrap_or((raw, "00"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{dec}")
}

/// `2020-09-30` as `30/09/2020` (French) or as it is.
fn date(v: &Visitor, raw: &str) -> String {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|d| d.format(v.t("%d/%m/%Y", "%Y-%m-%d")).to_string())
        .unwrap_or_else(|_| raw.to_owned())
}

fn text<'a>(i: &'a Value, k: &str) -> &'a str {
    i.get(k).and_then(Value::as_str).unwrap_or("")
}

fn search_form(v: &Visitor, s: &Search, errors: &Errors) -> Markup {
    html! {
        form.search method="get" action=(PATH) role="search" {
            fieldset {
                legend { (v.t("Rechercher des factures", "Search invoices")) }
                div.grid {
                    @for (name, fr, en) in SEARCH {
                        @let kind = if name == "from" || name == "to" { "date" } else { "text" };
                        (Field::text(name, v.t(fr, en), s.value(name), false).kind(kind).render(v, errors))
                    }
                }
                @if let Some(sort) = &s.sort { input type="hidden" name="sort" value=(sort); }
                div.actions {
                    button type="submit" { (v.t("Rechercher", "Search")) }
                    a.button.secondary href=(PATH) { (v.t("Réinitialiser", "Reset")) }
                }
            }
        }
    }
}

fn table(v: &Visitor, s: &Search, answer: &Value) -> Markup {
    let invoices = answer
        .get("invoices")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let total = answer.get("total").and_then(Value::as_u64).unwrap_or(0);
    let page = answer
        .get("page")
        .and_then(Value::as_u64)
        .unwrap_or(u64::from(s.page));
    let pages = answer.get("pages").and_then(Value::as_u64).unwrap_or(1);
    let page = u32::try_from(page).unwrap_or(1);
    let pages = u32::try_from(pages).unwrap_or(1);
    html! {
        p.count role="status" {
            strong { (total) } " " (v.t("facture(s) trouvée(s)", "invoice(s) found"))
            " — " (v.t("Page", "Page")) " : " (page) " / " (pages)
        }
        @if invoices.is_empty() {
            p.muted { (v.t("Aucune facture ne correspond à cette recherche.", "No invoice matches this search.")) }
        } @else {
            form #telecharger method="post" action="/console/factures/telecharger" {
                (csrf_field(v))
                table.invoices {
                    caption.sr-only { (v.t("Mes factures", "My invoices")) }
                    thead {
                        tr {
                            th scope="col" { span.sr-only { (v.t("Sélection", "Selection")) } }
                            @for (field, fr, en) in COLUMNS { (heading(v, s, field, fr, en)) }
                            th scope="col" { "PDF" }
                        }
                    }
                    tbody {
                        @for i in invoices {
                            @let acc = text(i, "accountNumber");
                            @let num = text(i, "number");
                            @let id = format!("inv-{acc}-{num}");
                            tr {
                                td { input type="checkbox" id=(id) name="invoice" value={ (acc) "/" (num) } aria-label={ (v.t("Sélectionner la facture", "Select invoice")) " " (num) }; }
                                td { label for=(id) { (num) } }
                                td { (text(i, "kind")) }
                                td { (date(v, text(i, "date"))) }
                                td { (acc) }
                                td { (text(i, "company")) }
                                td.num { (amount(v, text(i, "amountTtc"))) }
                                td.num { (i.get("pages").and_then(Value::as_u64).unwrap_or(0)) }
                                td {
                                    a.pdf href={ "/console/factures/" (url_encode(acc)) "/" (url_encode(num)) "/pdf" } download title={ (v.t("Télécharger la facture", "Download invoice")) " " (num) " (PDF)" } {
                                        span aria-hidden="true" { "↓ PDF" } span.sr-only { (v.t("PDF de la facture", "PDF of invoice")) " " (num) }
                                    }
                                }
                            }
                        }
                    }
                }
                div.actions {
                    button type="submit" { (v.t("Télécharger", "Download")) }
                    span.muted { (v.t("les factures cochées (une archive zip, 100 factures au plus)", "the ticked invoices (one zip archive, at most 100)")) }
                }
            }
            nav.pager aria-label=(v.t("Pages", "Pages")) {
                @if page > 1 { a href={ (PATH) "?" (s.query(s.sort.as_deref(), page - 1)) } rel="prev" { "‹ " (v.t("Précédente", "Previous")) } " " }
                span { (v.t("Page", "Page")) " " (page) " / " (pages) }
                @if page < pages { " " a href={ (PATH) "?" (s.query(s.sort.as_deref(), page + 1)) } rel="next" { (v.t("Suivante", "Next")) " ›" } }
            }
        }
    }
}

async fn list(
    State(state): State<AppState>,
    p: PortalUser,
    q: Query,
) -> Result<Response, Response> {
    let v = &p.v;
    let title = v.t("Mes factures", "My invoices");
    let search = match Search::read(&q) {
        Ok(x) => x,
        Err(e) => {
            // Shown with the form, the offending field named; nothing asked of the gateway.
            let fields: Vec<&str> = SEARCH.iter().map(|(n, _, _)| *n).collect();
            let errors = Errors::from_api(v, &e, &fields);
            let empty = Search {
                values: Vec::new(),
                sort: None,
                page: 1,
            };
            let body = html! { (errors.summary(v)) (search_form(v, &empty, &errors)) };
            return Ok(page_with(v, StatusCode::BAD_REQUEST, title, body));
        }
    };
    let mut path = format!("/sesame/v1/invoices?pageSize=25&page={}", search.page);
    for (n, val) in &search.values {
        path.push_str(&format!("&{n}={}", url_encode(val)));
    }
    if let Some(sort) = &search.sort {
        path.push_str(&format!("&sort={}", url_encode(sort)));
    }
    let answer = p
        .call(&state, Method::GET, &path, None)
        .await
        .and_then(|a| a.json());
    let (status, results, errors) = match answer {
        Ok(a) => (StatusCode::OK, Some(a), Errors::none()),
        Err(e) if e.field().is_some() => {
            let fields: Vec<&str> = SEARCH.iter().map(|(n, _, _)| *n).collect();
            (e.status(), None, Errors::from_api(v, &e, &fields))
        }
        Err(e) => return Err(fail(v, &e)),
    };
    let body = html! {
        (errors.summary(v))
        (search_form(v, &search, &errors))
        @if let Some(a) = &results { (table(v, &search, a)) }
    };
    Ok(page_with(v, status, title, body))
}

/// An invoice number as the gateway accepts it (letters, digits, `-`, `_`; 40 at most): anything
/// else is an unknown invoice, asked of nobody.
fn valid_number(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_account(a: &str) -> bool {
    sesame_domain::AccountNumber::parse(a).is_ok()
}

fn unknown_invoice(v: &Visitor) -> Response {
    message_page(
        v,
        StatusCode::NOT_FOUND,
        v.t("Facture introuvable", "Invoice not found"),
        v.t(
            "Cette facture n'existe pas ou ne fait pas partie des factures que vous pouvez consulter.",
            "This invoice does not exist or is not among the invoices you may see.",
        ),
    )
}

async fn pdf(
    State(state): State<AppState>,
    p: PortalUser,
    Path((account, number)): Path<(String, String)>,
) -> Result<Response, Response> {
    let v = &p.v;
    if !valid_account(&account) || !valid_number(&number) {
        return Err(unknown_invoice(v));
    }
    let path = format!("/sesame/v1/invoices/{account}/{number}/pdf");
    match p.call(&state, Method::GET, &path, None).await {
        Ok(a) => Ok(attachment(a, &format!("{number}.pdf"))),
        // Out of scope and unknown alike; another account's invoice is refused the same way.
        Err(ApiError::NotFound(_) | ApiError::Forbidden { .. }) => Err(unknown_invoice(v)),
        Err(e) => Err(fail(v, &e)),
    }
}

async fn download(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    let p = PortalUser::of(v)?;
    let v = &p.v;
    let ticked = fields.all("invoice");
    let back = html! { p { a.button href=(PATH) { (v.t("Retour à mes factures", "Back to my invoices")) } } };
    let refuse = |status: StatusCode, fr: &str, en: &str| {
        page_with(
            v,
            status,
            v.t("Mes factures", "My invoices"),
            html! { p.notice.error role="alert" { strong { (v.t("Erreur", "Error")) " : " } (v.t(fr, en)) } (back) },
        )
    };
    if ticked.is_empty() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "aucune facture sélectionnée. Cochez les factures à télécharger, puis « Télécharger ».",
            "no invoice selected. Tick the invoices to download, then \"Download\".",
        ));
    }
    if ticked.len() > MAX_ZIP {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "100 factures au plus par téléchargement.",
            "at most 100 invoices per download.",
        ));
    }
    let mut wanted = Vec::with_capacity(ticked.len());
    for t in ticked {
        match t.split_once('/') {
            Some((a, n)) if valid_account(a) && valid_number(n) => {
                wanted.push(json!({"accountNumber": a, "number": n}));
            }
            _ => return Err(unknown_invoice(v)),
        }
    }
    let body = json!({ "invoices": wanted });
    match p
        .call(&state, Method::POST, "/sesame/v1/invoices/zip", Some(&body))
        .await
    {
        Ok(a) => Ok(attachment(a, "factures.zip")),
        Err(ApiError::NotFound(_) | ApiError::Forbidden { .. }) => Err(unknown_invoice(v)),
        Err(e) => Err(fail(v, &e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_as_the_seed_writes_them() {
        assert_eq!(super::amount_fr("584.47"), "584,47");
        assert_eq!(super::amount_fr("16873.33"), "16.873,33");
        assert_eq!(super::amount_fr("1234567.00"), "1.234.567,00");
        assert_eq!(super::amount_fr("-34.98"), "-34,98");
        assert_eq!(super::amount_fr("7"), "7,00");
    }

    #[test]
    fn only_plain_numbers_reach_the_gateway() {
        assert!(super::valid_number("9400206802"));
        assert!(!super::valid_number("../x"));
        assert!(!super::valid_number(&"1".repeat(41)));
        assert!(super::valid_account("900138"));
        assert!(!super::valid_account("90013"));
    }
}
