//! Sesame's own invoice endpoints: `GET /sesame/v1/invoices` (list across accounts),
//! `GET /sesame/v1/invoices/{account}/{number}/pdf`, `POST /sesame/v1/invoices/zip`. An invoice
//! outside the caller's `invoices:<scope>` answers exactly like an unknown one.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;
use sesame_domain::{Scope, ScopedRight};

use super::fanout::fan_all;
use super::kind::Service;
use super::paging::{
    contains_ci, fan_private, page_answer, page_param, period, scoped_links, sort_by, sort_param,
    sort_recent_first, SortField, PAGE_SIZE,
};
use super::parcels::own_auth;
use super::phases::{forward_private, pass, private_creds};
use super::request::{parse_object, percent_decode, query_param, read_body, text, Req};
use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::error::R;
use crate::response::{bytes_resp, json_resp, Resp};
use crate::state::Inner;
use crate::upstream::UpResp;

pub(crate) const LIST: &str = "/sesame/v1/invoices";
const PREFIX: &str = "/sesame/v1/invoices/";
/// Largest `pageSize` of the invoice list.
const MAX_INVOICE_PAGE: usize = 200;
/// Most invoices in one zip download.
const MAX_ZIP: usize = 100;

/// Whether the path is the archive route.
pub(crate) fn is_zip(path: &str) -> bool {
    path.strip_prefix(PREFIX) == Some("zip")
}

/// Account and number of a PDF path (`/sesame/v1/invoices/{account}/{number}/pdf`).
pub(crate) fn pdf_params(path: &str) -> Option<(&str, &str)> {
    let (acc, num) = path
        .strip_prefix(PREFIX)?
        .strip_suffix("/pdf")?
        .split_once('/')?;
    (!acc.is_empty() && !num.is_empty() && !num.contains('/')).then_some((acc, num))
}

/// The list's sortable columns (`sort=<name>`, `-<name>` descending), as "Mes factures" shows
/// them, mapped onto the carrier's field names; the amount is decimal text, sorted as a number.
static SORT_FIELDS: [SortField; 7] = [
    SortField {
        name: "number",
        key: "number",
        numeric: false,
    },
    SortField {
        name: "type",
        key: "kind",
        numeric: false,
    },
    SortField {
        name: "date",
        key: "date",
        numeric: false,
    },
    SortField {
        name: "accountNumber",
        key: "accountNumber",
        numeric: false,
    },
    SortField {
        name: "company",
        key: "company",
        numeric: false,
    },
    SortField {
        name: "amount",
        key: "amountTtc",
        numeric: true,
    },
    SortField {
        name: "pages",
        key: "pages",
        numeric: true,
    },
];

fn invoice_scope(l: &Link) -> Scope {
    l.rights.scope(ScopedRight::Invoices)
}

fn invoice_visible(p: &Principal, l: &Link, inv: &Value) -> bool {
    let contact = inv.get("contactUserKey").and_then(Value::as_str);
    inv.get("accountNumber").and_then(Value::as_str) == Some(l.number.as_str())
        && (p.doc_in_scope(
            invoice_scope(l),
            contact,
            inv.get("department").and_then(Value::as_str),
        ) || (keyless_contact(p, contact) && invoice_scope(l).allows(true, false)))
}

/// Whether a user without a user key (a standard user, a collaborator of seed 004) is the
/// document's contact: the back office names such contacts by their Sesame user id (as the
/// declared routes' `owner_is = "user_id"`). A user key is 32 hex characters, never an id, so
/// an advanced user's documents are never matched this way.
fn keyless_contact(p: &Principal, contact: Option<&str>) -> bool {
    p.user_key.is_none()
        && contact.is_some_and(|c| {
            // Digits only, compared exactly: "+7" or "007" is nobody's id.
            !c.starts_with('0')
                && c.bytes().all(|b| b.is_ascii_digit())
                && c.parse() == Ok(p.user_id)
        })
}

pub(crate) async fn list(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let q = r.query();
    let account = query_param(q, "account");
    let company = query_param(q, "company");
    let number = query_param(q, "number");
    let extra = period(q)?;
    let page = page_param(q)?;
    let size = match query_param(q, "pageSize") {
        None => PAGE_SIZE,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=MAX_INVOICE_PAGE).contains(n))
            .ok_or_else(|| GatewayError::InvalidField {
                field: "pageSize",
                message: format!("entier de 1 à {MAX_INVOICE_PAGE} attendu"),
            })?,
    };
    let sort = sort_param(q, &SORT_FIELDS)?;
    let links = scoped_links(&p, account.as_deref(), ScopedRight::Invoices.id(), |l| {
        !invoice_scope(l).is_none()
    })?;
    let fanned = fan_private(
        gw,
        Service::Invoices,
        &links,
        "/invoices/v1/list",
        &extra,
        "invoices",
        |l, inv| {
            invoice_visible(&p, l, inv)
                && company
                    .as_deref()
                    .is_none_or(|c| contains_ci(inv.get("company").and_then(Value::as_str), c))
                && number
                    .as_deref()
                    .is_none_or(|n| contains_ci(inv.get("number").and_then(Value::as_str), n))
        },
    )
    .await;
    let mut list = fanned.items;
    match &sort {
        Some(by) => sort_by(&mut list, by, &["number", "accountNumber"]),
        None => sort_recent_first(&mut list, "date", "number"),
    }
    Ok(json_resp(
        StatusCode::OK,
        &page_answer(list, "invoices", page, size, fanned.accounts),
    ))
}

/// Checks that `number` of account `l` is visible to the caller (listing it upstream), then
/// downloads its PDF.
async fn fetch_visible_pdf(gw: &Inner, p: &Principal, l: &Link, number: &str) -> R<UpResp> {
    gw.limits.check_account(l.account_id)?;
    let up = forward_private(
        gw,
        Service::Invoices,
        "/invoices/v1/list",
        private_creds(l),
        false,
    )
    .await?;
    let v = up
        .json()
        .ok_or_else(|| GatewayError::UpstreamUnavailable("unreadable answer".into()))?;
    let visible = v
        .get("invoices")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|i| {
                i.get("number").and_then(Value::as_str) == Some(number) && invoice_visible(p, l, i)
            })
        });
    if !visible {
        return Err(GatewayError::UnknownInvoice);
    }
    let path = format!("/invoices/v1/{number}/pdf");
    let up = forward_private(gw, Service::Invoices, &path, private_creds(l), false).await?;
    if !up.status.is_success() {
        return Err(GatewayError::UnknownInvoice);
    }
    Ok(up)
}

fn invoice_link<'p>(p: &'p Principal, account: &str) -> R<&'p Link> {
    p.link(account)
        .filter(|l| !invoice_scope(l).is_none())
        .ok_or(GatewayError::Forbidden(ScopedRight::Invoices.id()))
}

fn valid_invoice_number(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) async fn pdf(gw: &Inner, r: Req) -> R<Resp> {
    let p = own_auth(gw, &r).await?;
    let (account, number) = pdf_params(r.path()).ok_or(GatewayError::NotFound)?;
    let number = percent_decode(number);
    if !valid_invoice_number(&number) {
        return Err(GatewayError::UnknownInvoice);
    }
    let l = invoice_link(&p, account)?;
    let up = fetch_visible_pdf(gw, &p, l, &number).await?;
    Ok(pass(up))
}

pub(crate) async fn zip(gw: &Inner, r: Req) -> R<Resp> {
    // Authenticated before the body is read: a bad key costs no body.
    let p = own_auth(gw, &r).await?;
    let body = read_body(r.body, &r.headers, gw.cfg.max_body_bytes).await?;
    let m = parse_object(&body)?;
    let list = m.get("invoices").and_then(Value::as_array).ok_or_else(|| {
        GatewayError::BadRequest(
            "le champ invoices (tableau de {accountNumber, number}) est obligatoire".into(),
        )
    })?;
    if list.is_empty() || list.len() > MAX_ZIP {
        return Err(GatewayError::BadRequest(format!(
            "de 1 à {MAX_ZIP} factures par archive"
        )));
    }
    let mut wanted = Vec::with_capacity(list.len());
    for item in list {
        let acc = text(item.get("accountNumber")).ok_or_else(|| {
            GatewayError::BadRequest("invoices[].accountNumber est obligatoire".into())
        })?;
        let num = text(item.get("number"))
            .ok_or_else(|| GatewayError::BadRequest("invoices[].number est obligatoire".into()))?;
        if !valid_invoice_number(&num) {
            return Err(GatewayError::UnknownInvoice);
        }
        let l = invoice_link(&p, &acc)?;
        wanted.push((l, num));
    }
    let pdfs = fan_all(gw, Service::InvoiceZip, &wanted, |(l, n)| {
        fetch_visible_pdf(gw, &p, l, n)
    })
    .await;
    let mut entries = Vec::with_capacity(pdfs.len());
    for ((l, n), res) in wanted.iter().zip(pdfs) {
        entries.push((format!("{}_{}.pdf", l.number.as_str(), n), res?.body));
    }
    let mut resp = bytes_resp(
        StatusCode::OK,
        "application/zip",
        Bytes::from(crate::zip::build(&entries)),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"factures.zip\""),
    );
    Ok(resp)
}
