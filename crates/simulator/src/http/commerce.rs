//! The commerce back-end (a B2B shop, seed 004) as a JSON API, per account, authenticated with
//! the account's own credentials (`Authorization: Basic number:password`):
//! orders (create a cart, validate it, list), delivery addresses (list, create, replace) and
//! commercial documents (list, one, PDF).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::tool::{invalid, unauthorized};
use super::{basic_auth, error_json, json_response, ok_json, parse_object, text_at};
use crate::commerce::{self, Address, Document, OrderLine, Refused};
use crate::config::SimAccount;
use crate::pdf::{self, Page};
use crate::state::Simulator;

/// Most lines in one order.
const MAX_LINES: usize = 100;
/// Longest text field accepted.
const MAX_TEXT: usize = 200;

fn account(sim: &Simulator, headers: &HeaderMap) -> Result<SimAccount, Response> {
    let (user, password) = basic_auth(headers).ok_or_else(unauthorized)?;
    sim.authenticate(Some(&user), Some(&password))
        .ok_or_else(unauthorized)
}

fn not_found() -> Response {
    error_json(StatusCode::NOT_FOUND, json!({"error": "not_found"}))
}

fn refused(r: Refused) -> Response {
    match r {
        Refused::Unknown => not_found(),
        Refused::AlreadyValidated => error_json(
            StatusCode::CONFLICT,
            json!({"error": "already_validated", "message": "Commande déjà validée"}),
        ),
        Refused::Full => error_json(
            StatusCode::CONFLICT,
            json!({"error": "limit_reached", "message": "Nombre maximal atteint pour ce compte"}),
        ),
    }
}

/// A required text field of at most [`MAX_TEXT`] characters.
fn field(v: &Value, name: &str) -> Result<String, Response> {
    let t = text_at(v, &format!("/{name}"))
        .ok_or_else(|| invalid(&format!("le champ {name} est obligatoire")))?;
    if t.chars().count() > MAX_TEXT {
        return Err(invalid(&format!(
            "le champ {name} dépasse {MAX_TEXT} caractères"
        )));
    }
    Ok(t)
}

fn optional(v: &Value, name: &str) -> Result<Option<String>, Response> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => field(v, name).map(Some),
    }
}

pub(crate) async fn create_order(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let parsed = (|| {
        let v = parse_object(&body).map_err(|m| invalid(&m))?;
        let lines = v
            .get("lines")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty() && l.len() <= MAX_LINES)
            .ok_or_else(|| {
                invalid(&format!(
                    "le champ lines doit être un tableau de 1 à {MAX_LINES} lignes"
                ))
            })?;
        let lines = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let sku = field(l, "sku")
                    .map_err(|_| invalid(&format!("lines[{i}].sku est obligatoire")))?;
                let quantity = l
                    .get("quantity")
                    .and_then(Value::as_u64)
                    .filter(|q| (1..=9_999).contains(q))
                    .ok_or_else(|| {
                        invalid(&format!("lines[{i}].quantity : entier de 1 à 9999 attendu"))
                    })?;
                Ok(OrderLine {
                    sku,
                    quantity: quantity as u32,
                })
            })
            .collect::<Result<Vec<_>, Response>>()?;
        Ok::<_, Response>((
            optional(&v, "reference")?,
            optional(&v, "addressId")?,
            lines,
        ))
    })();
    let (reference, address, lines) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    match sim
        .inner
        .commerce
        .create_order(&acc.number, reference, address, lines)
    {
        Ok(o) => json_response(StatusCode::CREATED, &json!(o)),
        Err(Refused::Unknown) => invalid("addressId : adresse inconnue"),
        Err(e) => refused(e),
    }
}

pub(crate) async fn validate_order(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match sim.inner.commerce.validate_order(&acc.number, &id) {
        Ok(o) => ok_json(&json!(o)),
        Err(e) => refused(e),
    }
}

pub(crate) async fn orders(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    match account(&sim, &headers) {
        Ok(acc) => ok_json(&json!({"orders": sim.inner.commerce.orders(&acc.number)})),
        Err(r) => r,
    }
}

pub(crate) async fn addresses(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    match account(&sim, &headers) {
        Ok(acc) => ok_json(&json!({"addresses": sim.inner.commerce.addresses(&acc.number)})),
        Err(r) => r,
    }
}

fn address_body(body: &[u8]) -> Result<Address, Response> {
    let v = parse_object(body).map_err(|m| invalid(&m))?;
    let country = field(&v, "countryCode")?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "countryCode : code pays ISO à deux lettres attendu",
        ));
    }
    Ok(Address {
        id: String::new(),
        label: field(&v, "label")?,
        street: field(&v, "street")?,
        zip_code: field(&v, "zipCode")?,
        city: field(&v, "city")?,
        country_code: country,
    })
}

pub(crate) async fn create_address(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match address_body(&body).map(|a| sim.inner.commerce.put_address(&acc.number, None, a)) {
        Ok(Ok(a)) => json_response(StatusCode::CREATED, &json!(a)),
        Ok(Err(e)) => refused(e),
        Err(r) => r,
    }
}

pub(crate) async fn replace_address(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match address_body(&body).map(|a| sim.inner.commerce.put_address(&acc.number, Some(&id), a)) {
        Ok(Ok(a)) => ok_json(&json!(a)),
        Ok(Err(e)) => refused(e),
        Err(r) => r,
    }
}

fn documents_of(sim: &Simulator, acc: &SimAccount) -> Vec<Document> {
    commerce::documents(sim.inner.seed, acc, sim.inner.today)
}

// Here rather than in `commerce.rs`, so the state never imports what imports it.
impl Simulator {
    /// The commerce documents of `account` as the service lists them (empty if unknown): what
    /// tests compare the gateway's filtered answers with.
    pub fn documents(&self, account: &str) -> Vec<Document> {
        self.account(account)
            .map(|a| documents_of(self, &a))
            .unwrap_or_default()
    }
}

pub(crate) async fn documents(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    match account(&sim, &headers) {
        Ok(acc) => ok_json(&json!({"documents": documents_of(&sim, &acc)})),
        Err(r) => r,
    }
}

pub(crate) async fn document(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match documents_of(&sim, &acc).into_iter().find(|d| d.id == id) {
        Some(d) => ok_json(&json!(d)),
        None => not_found(),
    }
}

pub(crate) async fn document_pdf(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let acc = match account(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(d) = documents_of(&sim, &acc).into_iter().find(|d| d.id == id) else {
        return not_found();
    };
    let (w, h) = (595.28, 841.89);
    let mut p = Page::default();
    p.text(50.0, h - 60.0, 20.0, true, acc.company.clone());
    p.text(50.0, h - 100.0, 12.0, true, format!("{} {}", d.kind, d.id));
    p.text(50.0, h - 120.0, 11.0, false, format!("Date : {}", d.date));
    p.text(
        50.0,
        h - 140.0,
        11.0,
        false,
        format!("Montant TTC : {} EUR", d.amount_ttc),
    );
    p.text(
        50.0,
        h - 160.0,
        11.0,
        false,
        format!("Service : {}", d.department.as_deref().unwrap_or("—")),
    );
    let bytes = pdf::render(w, h, &d.id, &[p]);
    let mut resp = (StatusCode::OK, bytes).into_response();
    let hs = resp.headers_mut();
    hs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.pdf\"", d.id)) {
        hs.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
