//! "Outil de suivi colis", tab "RECHERCHER UN COLIS" (seed 000 §9): the consolidated search
//! over every account where the user holds a tracking-tool right, through the gateway's
//! `GET /sesame/v1/parcels` (its scopes, its fan-out, its CSV).
//!
//! The page is one plain GET form: "Critères de recherche" (the period "entre le … et le …"),
//! the columns of the seed each with its filter in a row under the headers, "N colis trouvés",
//! "Afficher : 25/50/100", "Page : N / M" with previous/next, sorting by a header's link (↕,
//! then ▲/▼) and "Exporter" (the same search as CSV). The URL holds the whole search: it can be
//! bookmarked, and the back button works. No JavaScript needed.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use maud::{html, Markup};
use serde_json::Value;

use super::{download, OrPortal, PortalUser};
use crate::console::layout::{self, page};
use crate::console::session::Visitor;
use crate::console::url_encode;
use crate::error::ApiError;
use crate::extract::Query;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/suivi", get(search))
        .route("/console/suivi/export", get(export))
}

/// The default period: the last 30 days (today included).
const DEFAULT_DAYS: i64 = 30;
/// The longest filter value (a parcel number is 13 to 40 characters; names and references are
/// short): a longer one is refused, not sent.
const MAX_FILTER_CHARS: usize = 100;
/// "Afficher" choices.
pub const PAGE_SIZES: [u32; 3] = [25, 50, 100];

/// The carrier's statuses (codes the gateway's `status` filter takes), as the tool shows them.
pub const STATUSES: [(&str, &str, &str); 7] = [
    ("ANNOUNCED", "Colis annoncé", "Announced"),
    ("IN_TRANSIT", "En cours d'acheminement", "In transit"),
    (
        "OUT_FOR_DELIVERY",
        "En cours de livraison",
        "Out for delivery",
    ),
    (
        "AVAILABLE_AT_PICKUP_POINT",
        "Disponible en point de retrait",
        "At the pickup point",
    ),
    ("DELIVERED", "Livré", "Delivered"),
    (
        "RETURNED_TO_SENDER",
        "Retourné à l'expéditeur",
        "Returned to sender",
    ),
    ("ANOMALY", "Incident en cours", "Incident"),
];

/// How a column's filter is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Text,
    /// "Tous" / "Oui" / "Non".
    YesNo,
    /// "Tous" and the statuses.
    Status,
}

/// One column of the results: French and English headers, the gateway's sort field, the
/// filter's parameter (the gateway's name) and how it is entered, the row's field.
pub struct Column {
    pub fr: &'static str,
    pub en: &'static str,
    pub sort: &'static str,
    pub filter: &'static str,
    input: Input,
    pub field: &'static str,
}

/// The columns of the seed, in its order.
pub const COLUMNS: [Column; 9] = [
    Column {
        fr: "N° compte client",
        en: "Customer account",
        sort: "accountNumber",
        filter: "account",
        input: Input::Text,
        field: "accountNumber",
    },
    Column {
        fr: "N° de colis",
        en: "Parcel number",
        sort: "parcelNumber",
        filter: "parcelNumber",
        input: Input::Text,
        field: "parcelNumber",
    },
    Column {
        fr: "PASS",
        en: "PASS",
        sort: "pass",
        filter: "pass",
        input: Input::YesNo,
        field: "pass",
    },
    Column {
        fr: "Réf. Client",
        en: "Customer ref.",
        sort: "reference",
        filter: "reference",
        input: Input::Text,
        field: "reference",
    },
    Column {
        fr: "Destinataire",
        en: "Recipient",
        sort: "recipientName",
        filter: "recipient",
        input: Input::Text,
        field: "recipientName",
    },
    Column {
        fr: "Code postal",
        en: "Postal code",
        sort: "postalCode",
        filter: "postalCode",
        input: Input::Text,
        field: "postalCode",
    },
    Column {
        fr: "Statut",
        en: "Status",
        sort: "status",
        filter: "status",
        input: Input::Status,
        field: "statusLabel",
    },
    Column {
        fr: "Localisation",
        en: "Location",
        sort: "location",
        filter: "location",
        input: Input::Text,
        field: "location",
    },
    Column {
        fr: "Pays",
        en: "Country",
        sort: "country",
        filter: "country",
        input: Input::Text,
        field: "country",
    },
];

/// A criterion the page refuses (400), naming it in both languages.
pub struct Bad {
    pub field: &'static str,
    pub fr: String,
    pub en: String,
}

impl Bad {
    fn page(&self, v: &Visitor) -> Response {
        layout::message_page(
            v,
            StatusCode::BAD_REQUEST,
            v.t("Critères de recherche invalides", "Invalid search criteria"),
            &format!("{} ({})", v.t(&self.fr, &self.en), self.field),
        )
    }
}

/// The search as the URL holds it (the gateway's parameter names).
#[derive(Clone)]
pub struct Criteria {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The non-empty filters, in the columns' order.
    pub filters: Vec<(&'static str, String)>,
    pub page: u32,
    pub page_size: u32,
    /// `field` or `-field`.
    pub sort: Option<String>,
}

impl Criteria {
    /// Reads and checks the page's query; every refusal names its parameter.
    pub fn parse(q: &HashMap<String, String>, today: NaiveDate) -> Result<Criteria, Bad> {
        let get = |k: &str| q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        for (k, v) in q {
            if v.chars().count() > MAX_FILTER_CHARS {
                // The key is echoed only if it is one of ours (a stranger's name is not shown).
                let field = COLUMNS
                    .iter()
                    .map(|c| c.filter)
                    .chain(["from", "to", "page", "pageSize", "sort"])
                    .find(|f| f == k)
                    .unwrap_or("?");
                return Err(Bad {
                    field,
                    fr: format!("Critère trop long : {MAX_FILTER_CHARS} caractères au plus"),
                    en: format!("Criterion too long: at most {MAX_FILTER_CHARS} characters"),
                });
            }
        }
        let date = |k: &'static str, default: NaiveDate| match get(k) {
            None => Ok(default),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| Bad {
                field: k,
                fr: "Date attendue au format AAAA-MM-JJ".into(),
                en: "Expected a date as YYYY-MM-DD".into(),
            }),
        };
        let from = date("from", today - chrono::Duration::days(DEFAULT_DAYS - 1))?;
        let to = date("to", today)?;
        if to < from {
            return Err(Bad {
                field: "to",
                fr: "La date de fin précède la date de début".into(),
                en: "The end date is before the start date".into(),
            });
        }
        let mut filters = Vec::new();
        for c in &COLUMNS {
            let Some(v) = get(c.filter) else { continue };
            let ok = match c.input {
                Input::Text => true,
                Input::YesNo => v == "true" || v == "false",
                Input::Status => STATUSES.iter().any(|s| s.0 == v),
            };
            if !ok {
                return Err(Bad {
                    field: c.filter,
                    fr: "Valeur inconnue".into(),
                    en: "Unknown value".into(),
                });
            }
            filters.push((c.filter, v.to_owned()));
        }
        let page = match get("page") {
            None => 1,
            Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or(Bad {
                field: "page",
                fr: "Numéro de page attendu (1 ou plus)".into(),
                en: "Expected a page number (1 or more)".into(),
            })?,
        };
        let page_size = match get("pageSize") {
            None => PAGE_SIZES[0],
            Some(p) => p
                .parse()
                .ok()
                .filter(|n| PAGE_SIZES.contains(n))
                .ok_or(Bad {
                    field: "pageSize",
                    fr: "Afficher : 25, 50 ou 100".into(),
                    en: "Show: 25, 50 or 100".into(),
                })?,
        };
        let sort = match get("sort") {
            None => None,
            Some(s) if COLUMNS.iter().any(|c| c.sort == s.trim_start_matches('-')) => {
                Some(s.to_owned())
            }
            Some(_) => {
                return Err(Bad {
                    field: "sort",
                    fr: "Colonne de tri inconnue".into(),
                    en: "Unknown sort column".into(),
                })
            }
        };
        Ok(Criteria {
            from,
            to,
            filters,
            page,
            page_size,
            sort,
        })
    }

    /// The query string of this search (the page's and the gateway's: same names).
    pub fn query(&self) -> String {
        let mut q = format!(
            "from={}&to={}",
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d")
        );
        for (k, v) in &self.filters {
            q.push_str(&format!("&{k}={}", url_encode(v)));
        }
        if let Some(s) = &self.sort {
            q.push_str(&format!("&sort={}", url_encode(s)));
        }
        q.push_str(&format!("&pageSize={}", self.page_size));
        if self.page > 1 {
            q.push_str(&format!("&page={}", self.page));
        }
        q
    }

    fn filter(&self, name: &str) -> &str {
        self.filters
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// This search's page `page`.
    fn at_page(&self, page: u32) -> String {
        let c = Criteria {
            page,
            ..self.clone()
        };
        format!("/console/suivi?{}", c.query())
    }

    /// This search sorted on `field` (ascending; descending when it already is ascending),
    /// from page 1.
    fn sorted_on(&self, field: &str) -> String {
        let sort = if self.sort.as_deref() == Some(field) {
            format!("-{field}")
        } else {
            field.to_owned()
        };
        let c = Criteria {
            sort: Some(sort),
            page: 1,
            ..self.clone()
        };
        format!("/console/suivi?{}", c.query())
    }
}

/// A cell of a parcel row: text as it is, PASS as "Oui"/"Non", nothing as "-" (the seed's).
pub fn cell(v: &Visitor, p: &Value, field: &str) -> String {
    match p.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Bool(b)) => v
            .t(
                if *b { "Oui" } else { "Non" },
                if *b { "Yes" } else { "No" },
            )
            .to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".to_owned(),
    }
}

/// The two tabs of the tool.
pub fn tabs(v: &Visitor, pins: bool) -> Markup {
    html! {
        nav.tabs aria-label=(v.t("Outil de suivi colis", "Parcel tracking tool")) {
            a href="/console/suivi" aria-current=[(!pins).then_some("page")] { (v.t("RECHERCHER UN COLIS", "SEARCH FOR A PARCEL")) }
            " "
            a href="/console/suivi/epingles" aria-current=[pins.then_some("page")] { (v.t("COLIS ÉPINGLÉS", "PINNED PARCELS")) }
        }
    }
}

/// The table of parcels (search results or pins): the seed's columns, each number linking to
/// its sheet; `head` is the header rows.
pub fn parcel_table(
    v: &Visitor,
    head: Markup,
    parcels: &[Value],
    extra: impl Fn(&Value) -> Markup,
) -> Markup {
    html! {
        table.parcels {
            thead { (head) }
            tbody {
                @for p in parcels {
                    @let number = p.get("parcelNumber").and_then(Value::as_str).unwrap_or("");
                    tr {
                        @for c in &COLUMNS {
                            @if c.field == "parcelNumber" {
                                td { a href={ "/console/suivi/colis/" (url_encode(number)) } { (number) } }
                            } @else {
                                td { (cell(v, p, c.field)) }
                            }
                        }
                        (extra(p))
                    }
                }
                @if parcels.is_empty() {
                    tr { td colspan=(COLUMNS.len() + 1) { (v.t("Aucun colis.", "No parcel.")) } }
                }
            }
        }
    }
}

/// The plain header row (no sorting: the pins' tab), with a last column `extra`.
pub fn plain_head(v: &Visitor, extra: &str) -> Markup {
    html! { tr { @for c in &COLUMNS { th scope="col" { (v.t(c.fr, c.en)) } } th scope="col" { (extra) } } }
}

/// The header rows of the search: sortable headers, then the filters.
fn search_head(v: &Visitor, c: &Criteria) -> Markup {
    html! {
        tr {
            @for col in &COLUMNS {
                @let (mark, aria) = match c.sort.as_deref() {
                    Some(s) if s == col.sort => ("▲", "ascending"),
                    Some(s) if s.strip_prefix('-') == Some(col.sort) => ("▼", "descending"),
                    _ => ("↕", "none"),
                };
                th scope="col" aria-sort=(aria) {
                    a href=(c.sorted_on(col.sort)) title=(v.t("Trier sur cette colonne", "Sort on this column")) {
                        span aria-hidden="true" { (mark) " " } (v.t(col.fr, col.en))
                    }
                }
            }
        }
        tr.filters {
            @for col in &COLUMNS {
                @let id = format!("f-{}", col.filter);
                @let value = c.filter(col.filter);
                td {
                    label.sr-only for=(id) { (v.t("Filtre", "Filter")) " " (v.t(col.fr, col.en)) }
                    @match col.input {
                        Input::Text => {
                            input id=(id) type="text" name=(col.filter) value=(value) placeholder=(v.t(col.fr, col.en)) maxlength=(MAX_FILTER_CHARS);
                        }
                        Input::YesNo => {
                            select id=(id) name=(col.filter) {
                                option value="" selected[value.is_empty()] { (v.t("Tous", "All")) }
                                option value="true" selected[value == "true"] { (v.t("Oui", "Yes")) }
                                option value="false" selected[value == "false"] { (v.t("Non", "No")) }
                            }
                        }
                        Input::Status => {
                            select id=(id) name=(col.filter) {
                                option value="" selected[value.is_empty()] { (v.t("Tous", "All")) }
                                @for (code, fr, en) in &STATUSES {
                                    option value=(code) selected[value == *code] { (v.t(fr, en)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The accounts that did not answer (the gateway's `accounts` entries in error): their
/// parcels are missing from the results, said plainly.
pub fn failed_accounts(v: &Visitor, answer: &Value) -> Markup {
    let failed: Vec<&str> = answer
        .get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("error"))
        .filter_map(|a| a.get("accountNumber").and_then(Value::as_str))
        .collect();
    html! {
        @if !failed.is_empty() {
            p.notice.error role="alert" {
                strong { (v.t("Attention", "Warning")) " : " }
                (v.t("ces comptes n'ont pas répondu, leurs colis manquent : ", "these accounts did not answer, their parcels are missing: "))
                (failed.join(", "))
            }
        }
    }
}

/// The page's criteria, or the page refusing them (400, naming the parameter).
#[allow(clippy::result_large_err)] // the refusal is the page returned at once
fn criteria(v: &Visitor, q: Result<Query, ApiError>) -> Result<Criteria, Response> {
    let q = q.map_err(|e| layout::fail(v, &e))?;
    Criteria::parse(&q.0, chrono::Utc::now().date_naive()).map_err(|bad| bad.page(v))
}

async fn search(
    State(state): State<AppState>,
    u: PortalUser,
    q: Result<Query, ApiError>,
) -> Response {
    let v = &u.v;
    let c = match criteria(v, q) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let answer = match u
        .get_json(&state, &format!("/sesame/v1/parcels?{}", c.query()))
        .await
        .or_portal(v)
    {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let parcels: &[Value] = answer
        .get("parcels")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let num = |k: &str| answer.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (total, page_no, pages) = (num("total"), num("page").max(1), num("pages").max(1));
    let body = html! {
        (tabs(v, false))
        form #search method="get" action="/console/suivi" {
            fieldset.criteria {
                legend { (v.t("Critères de recherche", "Search criteria")) }
                label for="f-from" { (v.t("Période de recherche : entre le", "Search period: between")) }
                " " input #f-from type="date" name="from" value=(c.from.format("%Y-%m-%d")) required;
                " " label for="f-to" { (v.t("et le", "and")) }
                " " input #f-to type="date" name="to" value=(c.to.format("%Y-%m-%d")) required;
                @if let Some(s) = &c.sort { input type="hidden" name="sort" value=(s); }
                " " button type="submit" { (v.t("Rechercher", "Search")) }
            }
            (failed_accounts(v, &answer))
            div.results-bar {
                strong #found { (total) " " (v.t("colis trouvés", "parcels found")) }
                " "
                label for="f-pageSize" { (v.t("Afficher :", "Show:")) }
                " " select #f-pageSize name="pageSize" {
                    @for n in PAGE_SIZES { option value=(n) selected[n == c.page_size] { (n) } }
                }
                " "
                span #pages { (v.t("Page :", "Page:")) " " (page_no) " / " (pages) }
                " "
                @if page_no > 1 {
                    a rel="prev" href=(c.at_page(page_no as u32 - 1)) { "‹ " (v.t("Précédente", "Previous")) }
                }
                " "
                @if page_no < pages {
                    a rel="next" href=(c.at_page(page_no as u32 + 1)) { (v.t("Suivante", "Next")) " ›" }
                }
                " "
                a.button #export href={ "/console/suivi/export?" (c.query()) } { (v.t("Exporter", "Export")) }
            }
            (parcel_table(v, search_head(v, &c), parcels, |_| html! {}))
        }
    };
    page(v, v.t("Outil de suivi colis", "Parcel tracking tool"), body)
}

/// "Exporter": the same search (filters, sort) as the gateway's CSV, as a download.
async fn export(
    State(state): State<AppState>,
    u: PortalUser,
    q: Result<Query, ApiError>,
) -> Response {
    let v = &u.v;
    let c = match criteria(v, q) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match u
        .call(
            &state,
            http::Method::GET,
            &format!("/sesame/v1/parcels?{}&format=csv", c.query()),
            None,
        )
        .await
        .or_portal(v)
    {
        Ok(a) => download(a, "colis.csv"),
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn criteria_round_trip_and_refusals_name_the_parameter() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let c = Criteria::parse(&q(&[]), today).ok().unwrap();
        assert_eq!(c.query(), "from=2026-11-06&to=2026-12-05&pageSize=25");
        let c = Criteria::parse(
            &q(&[
                ("reference", "a&b=c"),
                ("pass", "true"),
                ("sort", "-postalCode"),
                ("pageSize", "50"),
                ("page", "2"),
                ("from", "2026-10-01"),
            ]),
            today,
        )
        .ok()
        .unwrap();
        assert_eq!(
            c.query(),
            "from=2026-10-01&to=2026-12-05&pass=true&reference=a%26b%3Dc&sort=-postalCode&pageSize=50&page=2"
        );
        assert!(c.sorted_on("postalCode").contains("sort=postalCode&"));
        assert!(c.sorted_on("country").contains("sort=country&"));
        assert!(!c.sorted_on("country").contains("page=2"));
        for (bad, field) in [
            (vec![("pageSize", "30")], "pageSize"),
            (vec![("sort", "userKey")], "sort"),
            (vec![("pass", "maybe")], "pass"),
            (vec![("status", "LOST")], "status"),
            (vec![("from", "05/12/2026")], "from"),
            (vec![("from", "2026-12-06")], "to"),
            (vec![("page", "0")], "page"),
        ] {
            match Criteria::parse(&q(&bad), today) {
                Err(b) => assert_eq!(b.field, field),
                Ok(_) => panic!("{bad:?} accepted"),
            }
        }
        let huge = "x".repeat(MAX_FILTER_CHARS + 1);
        match Criteria::parse(&q(&[("recipient", &huge)]), today) {
            Err(b) => assert_eq!(b.field, "recipient"),
            Ok(_) => panic!("huge accepted"),
        }
    }
}
