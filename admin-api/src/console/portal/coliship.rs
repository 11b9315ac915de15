//! "Coliship" (seed 000 §9): "EXPÉDIER UN COLIS" for the accounts where the user holds the
//! `coliship` right. 1/ EXPÉDITEUR (the "Compte" picker, number and company name as the seed's,
//! and the sender prefilled from the chosen account), 2/ DESTINATAIRE, 3/ CARACTÉRISTIQUES;
//! "Générer l'étiquette" posts the label to the gateway's own label path with the visitor's
//! session, so credential injection, stamping (user key and tag) and the carrier's refusals
//! all apply as for any label; the PDF is offered as a download and the parcel number shown.
//!
//! An account the user does not hold `coliship` on is refused here before anything is sent
//! (and the gateway would refuse it too).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use maud::{html, Markup};
use serde_json::{json, Value};
use sesame_domain::Right;

use super::fail;
use super::my_account::{me, Me};
use crate::console::account::main_contact;
use crate::console::form::{Fields, Form};
use crate::console::layout::{csrf_field, message_page, page_with, OrPage};
use crate::console::session::Visitor;
use crate::console::user_form::{val, Values};
use crate::console::widgets::{Errors, Field};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::me::{my_accounts, MyAccount};
use crate::AppState;

pub const PATH: &str = "/console/coliship";
/// The gateway's label path (REST 2.0), the same as merchant software calls.
const LABEL_PATH: &str = "/sls-ws/SlsServiceWSRest/2.0/generateLabel";

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(show).post(generate))
}

/// The form's fields: name, label (fr, en), required, longest value.
const SENDER: [(&str, &str, &str, bool); 6] = [
    ("senderCompany", "Raison sociale", "Company name", true),
    ("senderLine2", "N° et voie", "Street", true),
    (
        "senderLine3",
        "Lieu dit / complément",
        "Locality / complement",
        false,
    ),
    ("senderZip", "Code postal", "Postal code", true),
    ("senderCity", "Ville", "City", true),
    (
        "senderCountry",
        "Pays (code ISO)",
        "Country (ISO code)",
        true,
    ),
];
const ADDRESSEE: [(&str, &str, &str, bool); 10] = [
    ("lastName", "Nom", "Last name", true),
    ("firstName", "Prénom", "First name", false),
    ("companyName", "Raison sociale", "Company name", false),
    ("line2", "N° et voie", "Street", true),
    (
        "line3",
        "Lieu dit / complément",
        "Locality / complement",
        false,
    ),
    ("zipCode", "Code postal", "Postal code", true),
    ("city", "Ville", "City", true),
    ("countryCode", "Pays (code ISO)", "Country (ISO code)", true),
    ("email", "Email (facultatif)", "E-mail (optional)", false),
    (
        "phone",
        "Téléphone portable (facultatif)",
        "Mobile phone (optional)",
        false,
    ),
];
/// The products offered (the carrier's codes).
const PRODUCTS: [(&str, &str, &str); 5] = [
    (
        "DOM",
        "Colissimo Domicile sans signature",
        "Colissimo Home without signature",
    ),
    (
        "DOS",
        "Colissimo Domicile avec signature",
        "Colissimo Home with signature",
    ),
    (
        "A2P",
        "Colissimo Point Retrait – en relais Pickup",
        "Colissimo pickup point",
    ),
    (
        "BPR",
        "Colissimo Point Retrait – en bureau de poste",
        "Colissimo post office",
    ),
    ("CORE", "Colissimo Retour France", "Colissimo France return"),
];
/// Longest value of any field (a street line is 35 characters at the carrier; a little slack).
const MAX_VALUE: usize = 100;

/// Where the carrier's refusal names a field of the label request: the form's field it means.
const CARRIER_FIELDS: [(&str, &str); 14] = [
    ("letter.parcel.weight", "weight"),
    ("letter.service.productCode", "productCode"),
    ("letter.service.depositDate", "depositDate"),
    ("letter.addressee.address.lastName", "lastName"),
    ("letter.addressee.address.zipCode", "zipCode"),
    ("letter.addressee.address.city", "city"),
    ("letter.addressee.address.countryCode", "countryCode"),
    ("letter.addressee.address.line2", "line2"),
    ("letter.addressee.address.email", "email"),
    ("letter.sender.address.companyName", "senderCompany"),
    ("letter.sender.address.line2", "senderLine2"),
    ("letter.sender.address.zipCode", "senderZip"),
    ("letter.sender.address.city", "senderCity"),
    ("letter.sender.address.countryCode", "senderCountry"),
];

/// The accounts of the "Compte" picker: those where the user holds `coliship`.
async fn coliship_accounts(state: &AppState, user_id: i64) -> Result<Vec<MyAccount>, ApiError> {
    Ok(my_accounts(state, user_id)
        .await?
        .into_iter()
        .filter(|a| a.effective_rights.has(Right::Coliship))
        .collect())
}

fn no_account(v: &Visitor) -> Response {
    message_page(
        v,
        StatusCode::FORBIDDEN,
        v.t("Action non autorisée", "Not allowed"),
        v.t(
            "Vous n'avez le droit « Interface d'affranchissement Coliship » sur aucun compte.",
            "You do not hold the \"Coliship labelling interface\" right on any account.",
        ),
    )
}

fn forged(v: &Visitor) -> Response {
    message_page(
        v,
        StatusCode::FORBIDDEN,
        v.t("Action non autorisée", "Not allowed"),
        v.t(
            "Vous n'avez pas le droit Coliship sur ce compte : aucune étiquette n'a été demandée.",
            "You do not hold the Coliship right on this account: no label was requested.",
        ),
    )
}

/// The sender as the store has it for the account: its company name, and its main contact's
/// address (seed 004: the contact created with the account).
async fn sender_of(state: &AppState, number: &str) -> Result<Values, ApiError> {
    let mut values = Values::new();
    let a = state
        .store
        .account_by_number(
            &sesame_domain::AccountNumber::parse(number)
                .map_err(|_| ApiError::NotFound("account"))?,
        )
        .await?;
    values.insert("senderCompany", a.company.clone());
    values.insert("senderCountry", "FR".to_owned());
    if let Some(c) = main_contact(state, a.id).await? {
        let p = c.profile;
        values.insert("senderLine2", p.address);
        values.insert("senderZip", p.postal_code);
        values.insert("senderCity", p.city);
    }
    Ok(values)
}

struct View<'a> {
    accounts: &'a [MyAccount],
    chosen: &'a str,
    values: Values,
    errors: Errors,
    /// The label made: parcel number and PDF.
    made: Option<(String, Vec<u8>)>,
}

fn fields_of(
    v: &Visitor,
    list: &[(&'static str, &'static str, &'static str, bool)],
    values: &Values,
    errors: &Errors,
) -> Markup {
    html! {
        div.grid {
            @for (name, fr, en, required) in list {
                @let kind = match *name { "email" => "email", "phone" => "tel", _ => "text" };
                (Field::text(name, v.t(fr, en), val(values, name), *required).kind(kind).render(v, errors))
            }
        }
    }
}

fn render(v: &Visitor, status: StatusCode, view: &View<'_>) -> Response {
    let product = val(&view.values, "productCode");
    let product = if product.is_empty() { "DOM" } else { product };
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let deposit = val(&view.values, "depositDate");
    let deposit = if deposit.is_empty() {
        today.as_str()
    } else {
        deposit
    };
    let body = html! {
        @if let Some((parcel, pdf)) = &view.made {
            section.notice.ok role="status" #etiquette {
                p { span aria-hidden="true" { "✔ " } (v.t("Étiquette générée. Numéro de colis :", "Label generated. Parcel number:")) " " strong #numero-colis { (parcel) } }
                p {
                    a.button download={ "etiquette-" (parcel) ".pdf" }
                        href={ "data:application/pdf;base64," (base64::engine::general_purpose::STANDARD.encode(pdf)) } {
                        (v.t("Télécharger l'étiquette (PDF)", "Download the label (PDF)"))
                    }
                }
            }
        }
        (view.errors.summary(v))
        h2 { (v.t("EXPÉDIER UN COLIS", "SHIP A PARCEL")) }
        form.choose method="get" action=(PATH) {
            div.field {
                label for="f-compte" { (v.t("Compte", "Account")) }
                select #f-compte name="compte" {
                    @for a in view.accounts {
                        option value=(a.number) selected[a.number.as_str() == view.chosen] { (a.number) " — " (a.company) }
                    }
                }
                " " button.secondary type="submit" { (v.t("Choisir ce compte", "Choose this account")) }
            }
            p.muted { (view.accounts.len()) " " (v.t("résultats", "results")) }
        }
        form method="post" action=(PATH) novalidate {
            (csrf_field(v))
            input type="hidden" name="contractNumber" value=(view.chosen);
            fieldset {
                legend { "1/ " (v.t("EXPÉDITEUR", "SENDER")) }
                p { (v.t("Compte", "Account")) " : " strong { (view.chosen) } }
                (fields_of(v, &SENDER, &view.values, &view.errors))
            }
            fieldset {
                legend { "2/ " (v.t("DESTINATAIRE", "ADDRESSEE")) }
                (fields_of(v, &ADDRESSEE, &view.values, &view.errors))
            }
            fieldset {
                legend { "3/ " (v.t("CARACTÉRISTIQUES", "CHARACTERISTICS")) }
                div.grid {
                    (Field::text("weight", v.t("Poids (kg)", "Weight (kg)"), val(&view.values, "weight"), true).render(v, &view.errors))
                    div.field.invalid[view.errors.of("productCode").is_some()] {
                        label for="f-productCode" { (v.t("Produit", "Product")) }
                        select #f-productCode name="productCode" {
                            @for (code, fr, en) in PRODUCTS { option value=(code) selected[code == product] { (v.t(fr, en)) " (" (code) ")" } }
                        }
                        @if let Some(m) = view.errors.of("productCode") { p.field-error { strong { (v.t("Erreur", "Error")) " : " } (m) } }
                    }
                    (Field::text("depositDate", v.t("Date de dépôt", "Deposit date"), deposit, true).kind("date").render(v, &view.errors))
                }
            }
            div.actions { button type="submit" { (v.t("Générer l'étiquette", "Generate the label")) } }
            p.muted { abbr title=(v.t("obligatoire", "required")) { "*" } " " (v.t("Information obligatoire", "Required information")) }
        }
    };
    page_with(v, status, "Coliship", body)
}

async fn show(State(state): State<AppState>, v: Visitor, q: Query) -> Result<Response, Response> {
    let m = me(v)?;
    let v = &m.p.v;
    let accounts = coliship_accounts(&state, m.user_id).await.or_page(v)?;
    let Some(first) = accounts.first() else {
        return Err(no_account(v));
    };
    let chosen = match q.str("compte") {
        None => first.number.as_str().to_owned(),
        Some(c) if accounts.iter().any(|a| a.number.as_str() == c) => c.to_owned(),
        Some(_) => return Err(forged(v)),
    };
    let values = sender_of(&state, &chosen).await.or_page(v)?;
    Ok(render(
        v,
        StatusCode::OK,
        &View {
            accounts: &accounts,
            chosen: &chosen,
            values,
            errors: Errors::none(),
            made: None,
        },
    ))
}

/// Every field of the form as posted, bounded (the first too long is named).
#[allow(clippy::result_large_err)]
fn read(fields: &Fields) -> Result<Values, ApiError> {
    let names = SENDER
        .iter()
        .chain(ADDRESSEE.iter())
        .map(|(n, ..)| *n)
        .chain(["weight", "productCode", "depositDate"]);
    let mut values = Values::new();
    for n in names {
        let x = fields.get(n).unwrap_or("");
        if x.chars().count() > MAX_VALUE {
            return Err(ApiError::invalid(
                n,
                format!("{n}: must be at most {MAX_VALUE} characters"),
            ));
        }
        values.insert(n, x.to_owned());
    }
    Ok(values)
}

/// The label request the carrier's clients send, for `account` (credentials are the
/// gateway's to inject; stamps are the gateway's to add).
#[allow(clippy::result_large_err)]
fn label_request(account: &str, x: &Values) -> Result<Value, ApiError> {
    let weight = val(x, "weight").replace(',', ".");
    let weight: f64 = weight.parse().map_err(|_| {
        ApiError::invalid("weight", "weight: must be a number of kilograms (e.g. 1,2)")
    })?;
    let opt = |n: &str| Some(val(x, n)).filter(|s| !s.is_empty());
    let mut addressee = json!({
        "lastName": val(x, "lastName"),
        "line2": val(x, "line2"),
        "zipCode": val(x, "zipCode"),
        "city": val(x, "city"),
        "countryCode": val(x, "countryCode").to_uppercase(),
    });
    for (form, carrier) in [
        ("firstName", "firstName"),
        ("companyName", "companyName"),
        ("line3", "line3"),
        ("email", "email"),
        ("phone", "mobileNumber"),
    ] {
        if let Some(value) = opt(form) {
            addressee[carrier] = json!(value);
        }
    }
    let mut sender = json!({
        "companyName": val(x, "senderCompany"),
        "line2": val(x, "senderLine2"),
        "zipCode": val(x, "senderZip"),
        "city": val(x, "senderCity"),
        "countryCode": val(x, "senderCountry").to_uppercase(),
    });
    if let Some(l3) = opt("senderLine3") {
        sender["line3"] = json!(l3);
    }
    let mut service = json!({"productCode": val(x, "productCode")});
    if let Some(d) = opt("depositDate") {
        service["depositDate"] = json!(d);
    }
    Ok(json!({
        "contractNumber": account,
        "outputFormat": {"x": 0, "y": 0, "outputPrintingType": "PDF_10x15_300dpi"},
        "letter": {
            "service": service,
            "parcel": {"weight": weight},
            "sender": {"address": sender},
            "addressee": {"address": addressee},
        },
    }))
}

/// The label answer (`multipart/mixed`: `jsonInfos`, then the label), split: the JSON and the
/// label's bytes, if any.
async fn split(content_type: &str, body: bytes::Bytes) -> Option<(Value, Option<Vec<u8>>)> {
    // `multer::parse_boundary` reads `multipart/form-data` only: the boundary parameter of
    // this `multipart/mixed` is read here.
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, b)| b.trim_matches('"').to_owned())
        .filter(|b| !b.is_empty())?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut info = None;
    let mut label = None;
    while let Ok(Some(part)) = parts.next_field().await {
        let id = part
            .headers()
            .get("content-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .trim_matches(['<', '>'])
            .to_owned();
        let bytes = part.bytes().await.ok()?;
        match id.as_str() {
            "jsonInfos" => info = serde_json::from_slice(&bytes).ok(),
            "label" => label = Some(bytes.to_vec()),
            _ => {}
        }
    }
    Some((info?, label))
}

/// The carrier's refusal as the form shows it: next to the field its message names, else at
/// the top.
fn refusal(message: &str) -> Errors {
    match CARRIER_FIELDS
        .iter()
        .find(|(path, _)| message.contains(path))
    {
        Some((_, field)) => Errors::on(field, message),
        None => Errors::general(message),
    }
}

async fn generate(
    State(state): State<AppState>,
    Form { v, fields }: Form,
) -> Result<Response, Response> {
    let Me { p, user_id, .. } = me(v)?;
    let v = &p.v;
    let accounts = coliship_accounts(&state, user_id).await.or_page(v)?;
    if accounts.is_empty() {
        return Err(no_account(v));
    }
    // The account must be one of the picker's: a forged one is refused, nothing sent.
    let chosen = fields.get("contractNumber").unwrap_or("");
    if !accounts.iter().any(|a| a.number.as_str() == chosen) {
        return Err(forged(v));
    }
    let names: Vec<&str> = SENDER
        .iter()
        .chain(ADDRESSEE.iter())
        .map(|(n, ..)| *n)
        .chain(["weight", "productCode", "depositDate"])
        .collect();
    let shown = |values: Values, errors: Errors, status: StatusCode| {
        render(
            v,
            status,
            &View {
                accounts: &accounts,
                chosen,
                values,
                errors,
                made: None,
            },
        )
    };
    let values = match read(&fields) {
        Ok(x) => x,
        Err(e) => {
            let mut values = Values::new();
            for n in &names {
                if let Some(x) = fields.get(n).filter(|x| x.chars().count() <= MAX_VALUE) {
                    values.insert(n, x.to_owned());
                }
            }
            return Ok(shown(values, Errors::from_api(v, &e, &names), e.status()));
        }
    };
    let request = match label_request(chosen, &values) {
        Ok(r) => r,
        Err(e) => {
            let errors = Errors::from_api(v, &e, &names);
            return Ok(shown(values, errors, e.status()));
        }
    };
    // The answer as it is (a refusal is the carrier's, read below), not `PortalUser::call`'s.
    let answer = state
        .gateway
        .call(Method::POST, LABEL_PATH, &p.token, Some(&request))
        .await
        .map_err(|e| fail(v, &e))?;
    if answer.status == StatusCode::UNAUTHORIZED {
        return Err(fail(v, &ApiError::Unauthorized));
    }
    let parsed = match answer.content_type.as_deref() {
        Some(ct) if ct.starts_with("multipart/") => split(ct, answer.body.clone()).await,
        _ => serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .map(|j| (j, None)),
    };
    let Some((info, label)) = parsed else {
        return Err(fail(
            v,
            &ApiError::Unavailable("the label service's answer could not be read".into()),
        ));
    };
    let parcel = info
        .pointer("/labelV2Response/parcelNumber")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    match (answer.status.is_success(), parcel, label) {
        (true, Some(parcel), Some(pdf)) => {
            let mut values = values;
            // A new parcel next: the addressee and the characteristics are cleared.
            for (n, ..) in ADDRESSEE {
                values.remove(n);
            }
            values.remove("weight");
            Ok(render(
                v,
                StatusCode::OK,
                &View {
                    accounts: &accounts,
                    chosen,
                    values,
                    errors: Errors::none(),
                    made: Some((parcel.to_owned(), pdf)),
                },
            ))
        }
        _ => {
            let message = info
                .pointer("/messages/0/messageContent")
                .and_then(Value::as_str)
                .or_else(|| info.pointer("/error/message").and_then(Value::as_str))
                .unwrap_or("Le service d'étiquettes a refusé la demande.");
            let status = if answer.status.is_success() {
                StatusCode::BAD_GATEWAY
            } else {
                answer.status
            };
            Ok(shown(values, refusal(message), status))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_refusal_lands_next_to_the_field_it_names() {
        let e = super::refusal("Le poids du colis (letter.parcel.weight) est invalide");
        assert!(e.of("weight").is_some());
        let e = super::refusal("Le champ letter.addressee.address.zipCode (code postal du destinataire) est obligatoire");
        assert!(e.of("zipCode").is_some());
        let e = super::refusal("Identifiant ou mot de passe incorrect");
        assert!(e.general.is_some());
    }
}
