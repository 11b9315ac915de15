//! Labels (SLS web service): `generateLabel` and `checkGenerateLabel`, versions 2.0 and 3.1.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Timelike};
use serde::Serialize;
use serde_json::{json, Value};

use super::{error_json, expect_kind, ok_json, parse_object, raw_str_at, text_at, Kind};
use crate::model::{Parcel, ParcelStatus};
use crate::pdf::{self, Page, PT_PER_MM};
use crate::state::Simulator;
use crate::synth;

const SUCCESS: &str = "La requête a été traitée avec succès";

/// A refused label request: the carrier's message id and text. The REST service answers it
/// in the multipart envelope ([`refusal`]), the SOAP one inside its operation's answer.
#[derive(Debug)]
pub(crate) struct Refused {
    pub id: &'static str,
    pub message: String,
}

fn error(id: &'static str, message: &str) -> Refused {
    Refused {
        id,
        message: message.to_owned(),
    }
}

impl Refused {
    fn rest(self) -> Response {
        refusal(StatusCode::BAD_REQUEST, self.id, &self.message)
    }
}

/// A refused label as the carrier sends it: its clients read every answer, errors included,
/// from the `jsonInfos` part of a `multipart/mixed` body, so a refusal is that part alone
/// (`labelXmlV2Reponse` spelt as the carrier spells it).
pub(crate) fn refusal(status: StatusCode, id: &str, message: &str) -> Response {
    let info = serde_json::to_string(&RefusalInfo {
        messages: [Message {
            id,
            kind: "ERROR",
            message_content: message,
        }],
        label_xml_v2_reponse: None,
        label_v2_response: None,
    })
    .unwrap_or_default();
    let boundary = format!("uuid:{}", uuid_like(u64::from(status.as_u16()), 0));
    let body = format!(
        "--{boundary}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <jsonInfos>\r\n\r\n{info}\r\n--{boundary}--\r\n"
    );
    multipart(status, &boundary, body.into_bytes())
}

/// A `multipart/mixed` answer in the carrier's header shape.
fn multipart(status: StatusCode, boundary: &str, body: Vec<u8>) -> Response {
    let content_type = format!(
        "multipart/mixed; boundary=\"{boundary}\"; type=\"application/json\"; start=\"<jsonInfos>\""
    );
    let mut resp = (status, body).into_response();
    match HeaderValue::from_str(&content_type) {
        Ok(v) => {
            resp.headers_mut().insert(header::CONTENT_TYPE, v);
            resp
        }
        // Cannot happen (the boundary is hex and dashes); a plain JSON error rather than a
        // body the client cannot split.
        Err(_) => error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"messages": [{"id": "50000", "type": "ERROR", "messageContent": "Erreur interne du simulateur"}]}),
        ),
    }
}

fn bad_credentials() -> Refused {
    error("30000", "Identifiant ou mot de passe incorrect")
}

/// What a valid label request carries.
pub(crate) struct LabelRequest {
    /// `outputFormat.outputPrintingType`: `ZPL_…` and `DPL_…` get printer language, the rest PDF.
    printing: String,
    account: String,
    product: String,
    deposit_date: NaiveDate,
    weight_kg: f64,
    order_number: Option<String>,
    sender_ref: Option<String>,
    sender: Vec<String>,
    addressee_ref: Option<String>,
    last_name: String,
    first_name: Option<String>,
    addressee: Vec<String>,
    zip: String,
    city: String,
    country: String,
    user_key: Option<String>,
    tag: Option<String>,
}

/// Parses and validates a label request.
fn validate(sim: &Simulator, body: &[u8]) -> Result<LabelRequest, Refused> {
    let v = parse_object(body).map_err(|m| error("30001", &format!("Requête invalide : {m}")))?;
    validate_value(sim, &v)
}

/// Validates a label request (the REST body, or the SOAP request read into the same shape).
pub(crate) fn validate_value(sim: &Simulator, v: &Value) -> Result<LabelRequest, Refused> {
    let v = v.clone();
    for (p, k) in [
        ("/letter", Kind::Object),
        ("/letter/service", Kind::Object),
        ("/letter/parcel", Kind::Object),
        ("/letter/sender", Kind::Object),
        ("/letter/sender/address", Kind::Object),
        ("/letter/addressee", Kind::Object),
        ("/letter/addressee/address", Kind::Object),
        ("/outputFormat", Kind::Object),
        ("/fields", Kind::Object),
        ("/fields/field", Kind::Array),
        ("/contractNumber", Kind::Scalar),
        ("/password", Kind::Scalar),
    ] {
        expect_kind(&v, p, k).map_err(|m| error("30001", &format!("Requête invalide : {m}")))?;
    }

    let account = sim
        .authenticate(
            text_at(&v, "/contractNumber").as_deref(),
            raw_str_at(&v, "/password"),
        )
        .ok_or_else(bad_credentials)?;

    let missing = |field: &str, label: &str| {
        error(
            "30221",
            &format!("Le champ {field} ({label}) est obligatoire"),
        )
    };
    let product = text_at(&v, "/letter/service/productCode")
        .ok_or_else(|| missing("letter.service.productCode", "code produit"))?;
    let weight_kg = match v.pointer("/letter/parcel/weight") {
        None | Some(Value::Null) => return Err(missing("letter.parcel.weight", "poids du colis")),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().replace(',', ".").parse::<f64>().ok(),
        Some(_) => None,
    };
    let weight_kg = match weight_kg {
        Some(w) if w > 0.0 && w <= 30.0 => w,
        _ => {
            return Err(error(
                "30221",
                "Le poids du colis (letter.parcel.weight) est invalide : il doit être supérieur à 0 et au plus 30 kg",
            ))
        }
    };
    let addr = "/letter/addressee/address";
    let zip = text_at(&v, &format!("{addr}/zipCode")).ok_or_else(|| {
        missing(
            "letter.addressee.address.zipCode",
            "code postal du destinataire",
        )
    })?;
    let city = text_at(&v, &format!("{addr}/city"))
        .ok_or_else(|| missing("letter.addressee.address.city", "commune du destinataire"))?;
    let country = text_at(&v, &format!("{addr}/countryCode"))
        .ok_or_else(|| {
            missing(
                "letter.addressee.address.countryCode",
                "pays du destinataire",
            )
        })?
        .to_uppercase();
    let last_name = text_at(&v, &format!("{addr}/lastName"))
        .ok_or_else(|| missing("letter.addressee.address.lastName", "nom du destinataire"))?;
    let deposit_date = match text_at(&v, "/letter/service/depositDate") {
        None => sim.today(),
        Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(d.get(..10).unwrap_or(""), "%Y-%m-%d"))
            .map_err(|_| {
                error(
                    "30221",
                    "La date de dépôt (letter.service.depositDate) est invalide : format attendu AAAA-MM-JJ",
                )
            })?,
    };

    // Stamps written by the gateway into the free fields.
    let field = |key: &str| -> Option<String> {
        v.pointer("/fields/field")?
            .as_array()?
            .iter()
            .find(|f| f.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|f| text_at(f, "/value"))
    };

    // Printable address lines: name/company, street lines, "zip city", country.
    let lines = |base: &str, keys: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = keys
            .iter()
            .filter_map(|k| text_at(&v, &format!("{base}/{k}")))
            .collect();
        let zip_city = [
            text_at(&v, &format!("{base}/zipCode")),
            text_at(&v, &format!("{base}/city")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        if !zip_city.is_empty() {
            out.push(zip_city);
        }
        out.extend(text_at(&v, &format!("{base}/countryCode")));
        out
    };
    let sender = lines(
        "/letter/sender/address",
        &[
            "companyName",
            "lastName",
            "firstName",
            "line0",
            "line1",
            "line2",
            "line3",
        ],
    );
    let addressee = lines(addr, &["companyName", "line0", "line1", "line2", "line3"]);

    Ok(LabelRequest {
        printing: text_at(&v, "/outputFormat/outputPrintingType").unwrap_or_default(),
        account: account.number,
        product,
        deposit_date,
        weight_kg,
        order_number: text_at(&v, "/letter/service/orderNumber"),
        // Kept as sent (not trimmed), as the carrier does: a reference may start with a tab or
        // a carriage return, and exports must cope with that.
        sender_ref: raw_str_at(&v, "/letter/sender/senderParcelRef")
            .filter(|r| !r.trim().is_empty())
            .map(str::to_owned),
        sender,
        addressee_ref: text_at(&v, "/letter/addressee/addresseeParcelRef"),
        last_name,
        first_name: text_at(&v, &format!("{addr}/firstName")),
        addressee,
        zip,
        city,
        country,
        user_key: field("USER_KEY"),
        tag: field("TAG_USER"),
    })
}

pub(crate) async fn check(State(sim): State<Simulator>, body: Bytes) -> Response {
    match validate(&sim, &body) {
        Ok(_) => {
            ok_json(&json!({"messages": [{"id": "0", "type": "INFOS", "messageContent": SUCCESS}]}))
        }
        Err(r) => r.rest(),
    }
}

/// A label posted: the parcel stored, and the label's bytes in the printing asked for.
pub(crate) struct Posted {
    pub parcel: Parcel,
    pub label: Vec<u8>,
}

pub(crate) const SUCCESS_MESSAGE: &str = SUCCESS;

pub(crate) async fn generate(State(sim): State<Simulator>, body: Bytes) -> Response {
    let req = match validate(&sim, &body) {
        Ok(r) => r,
        Err(r) => return r.rest(),
    };
    let Posted { parcel, label } = post(&sim, &req);
    let pdf = label;

    answer(&sim, &parcel, &pdf)
}

/// Stores the parcel of a valid request and draws its label.
pub(crate) fn post(sim: &Simulator, req: &LabelRequest) -> Posted {
    // France and Monaco get domestic numbers; everything else an international one.
    let international = !matches!(req.country.as_str(), "FR" | "MC");
    let now = chrono::Utc::now().with_timezone(&synth::paris());
    let recipient_name = match &req.first_name {
        Some(f) => format!("{f} {}", req.last_name),
        None => req.last_name.clone(),
    };
    let parcel = Parcel {
        number: String::new(),
        account: req.account.clone(),
        user_key: req.user_key.clone(),
        tag: req.tag.clone(),
        reference: req
            .sender_ref
            .clone()
            .or_else(|| req.order_number.clone())
            .unwrap_or_default(),
        recipient_name,
        postal_code: req.zip.clone(),
        city: req.city.clone(),
        country: req.country.clone(),
        product: req.product.clone(),
        status: ParcelStatus::Announced,
        deposit_date: req.deposit_date,
        events: vec![synth::event(
            "COMCFM",
            now.date_naive(),
            0,
            now.hour(),
            now.minute(),
            "",
        )],
        weight_kg: req.weight_kg,
        pass: false,
    };
    let parcel = sim.post_parcel(parcel, international);
    let label = match req.printing.get(..3) {
        Some("ZPL") => label_zpl(req, &parcel),
        Some("DPL") => label_dpl(req, &parcel),
        _ => label_pdf(req, &parcel),
    };
    Posted { parcel, label }
}

/// The REST answer: `jsonInfos`, then the label.
fn answer(sim: &Simulator, parcel: &Parcel, pdf: &[u8]) -> Response {
    // A struct rather than `json!` so the keys keep the carrier's order (messages first).
    let info = match serde_json::to_string(&LabelInfo {
        messages: [Message {
            id: "0",
            kind: "INFOS",
            message_content: SUCCESS,
        }],
        label_v2_response: LabelV2Response {
            parcel_number: &parcel.number,
            parcel_number_partner: None,
            pdf_url: None,
            fields: None,
        },
    }) {
        Ok(s) => s,
        // Serialising plain strings cannot fail; answer cleanly rather than panic anyway.
        Err(_) => return error("50000", "Erreur interne du simulateur").rest(),
    };
    let seq = sim.next_seq();
    let boundary = format!("uuid:{}", uuid_like(sim.seed(), seq));
    let mut body: Vec<u8> = Vec::with_capacity(pdf.len() + 1024);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <jsonInfos>\r\n\r\n{info}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <label>\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(pdf);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    multipart(StatusCode::OK, &boundary, body)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LabelInfo<'a> {
    messages: [Message<'a>; 1],
    label_v2_response: LabelV2Response<'a>,
}

/// A refusal's `jsonInfos`, keys in the carrier's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefusalInfo<'a> {
    messages: [Message<'a>; 1],
    label_xml_v2_reponse: Option<()>,
    label_v2_response: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    message_content: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LabelV2Response<'a> {
    parcel_number: &'a str,
    parcel_number_partner: Option<&'a str>,
    pdf_url: Option<&'a str>,
    fields: Option<()>,
}

/// A UUID-shaped identifier (8-4-4-4-12 hex) derived from the seed and a sequence number.
pub(crate) fn uuid_like(seed: u64, seq: u64) -> String {
    let a = crate::rng::hash(seed, &["uuid", &seq.to_string()]);
    let b = crate::rng::mix(a ^ seq);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0x0FFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

/// The 10×15 cm label.
fn label_pdf(req: &LabelRequest, parcel: &Parcel) -> Vec<u8> {
    let (w, h) = (100.0 * PT_PER_MM, 150.0 * PT_PER_MM);
    let mut p = Page::default();
    let x = 14.0;
    let mut y = h - 30.0;
    p.text(x, y, 18.0, true, "COLISSIMO");
    p.text(w - 90.0, y, 14.0, true, req.product.as_str());
    y -= 14.0;
    p.text(
        x,
        y,
        7.0,
        false,
        format!(
            "Contrat {}   Dépôt le {}",
            req.account,
            req.deposit_date.format("%d/%m/%Y")
        ),
    );
    y -= 6.0;
    p.rect(x, y, w - 2.0 * x, 0.8);

    y -= 14.0;
    p.text(x, y, 8.0, true, "EXPÉDITEUR");
    for line in req.sender.iter().take(6) {
        y -= 10.0;
        p.text(x, y, 8.0, false, line.as_str());
    }
    if let Some(r) = &req.sender_ref {
        y -= 10.0;
        p.text(x, y, 8.0, false, format!("Réf. : {r}"));
    }
    y -= 8.0;
    p.rect(x, y, w - 2.0 * x, 0.8);

    y -= 16.0;
    p.text(x, y, 10.0, true, "DESTINATAIRE");
    y -= 14.0;
    p.text(x, y, 12.0, true, parcel.recipient_name.to_uppercase());
    for line in req.addressee.iter().take(6) {
        y -= 13.0;
        p.text(x, y, 11.0, false, line.to_uppercase());
    }
    if let Some(r) = &req.addressee_ref {
        y -= 12.0;
        p.text(x, y, 8.0, false, format!("Réf. destinataire : {r}"));
    }

    y -= 22.0;
    p.text(x, y, 9.0, false, format!("Poids : {:.2} kg", req.weight_kg));
    if let Some(o) = &req.order_number {
        p.text(w / 2.0, y, 9.0, false, format!("Commande : {o}"));
    }

    // A fake barcode: bar widths derived from the parcel number's characters.
    let mut bx = x;
    let (bar_y, bar_h) = (46.0, 60.0);
    for (i, c) in parcel.number.bytes().cycle().take(48).enumerate() {
        let width = 0.8 + f32::from((c.wrapping_add(i as u8)) % 3) * 0.8;
        if i % 2 == 0 {
            p.rect(bx, bar_y, width, bar_h);
        }
        bx += width + 0.8;
        if bx > w - x - 3.0 {
            break;
        }
    }
    p.text(x, 30.0, 14.0, true, spaced(&parcel.number));
    p.text(
        x,
        16.0,
        6.0,
        false,
        "Simulateur Sesame : étiquette factice, non valable pour l'envoi.",
    );
    pdf::render(w, h, &format!("Etiquette {}", parcel.number), &[p])
}

/// The label in ZPL II (Zebra printers, 203 dpi, 10×15 cm: 812×1218 dots), as the carrier
/// sends it for `ZPL_*` printing types: printer commands, not a PDF.
fn label_zpl(req: &LabelRequest, parcel: &Parcel) -> Vec<u8> {
    let clean = |s: &str| s.replace(['^', '~'], " ");
    let mut z = String::from("^XA^CI28^PW812^LL1218\n");
    z.push_str(&format!(
        "^FO40,40^A0N,50,50^FDCOLISSIMO^FS^FO560,40^A0N,40,40^FD{}^FS\n",
        clean(&req.product)
    ));
    let mut y = 130;
    z.push_str(&format!("^FO40,{y}^A0N,24,24^FDEXPEDITEUR^FS\n"));
    for line in req.sender.iter().take(6) {
        y += 30;
        z.push_str(&format!("^FO40,{y}^A0N,24,24^FD{}^FS\n", clean(line)));
    }
    y += 60;
    z.push_str(&format!("^FO40,{y}^A0N,30,30^FDDESTINATAIRE^FS\n"));
    y += 40;
    z.push_str(&format!(
        "^FO40,{y}^A0N,36,36^FD{}^FS\n",
        clean(&parcel.recipient_name.to_uppercase())
    ));
    for line in req.addressee.iter().take(6) {
        y += 40;
        z.push_str(&format!(
            "^FO40,{y}^A0N,32,32^FD{}^FS\n",
            clean(&line.to_uppercase())
        ));
    }
    z.push_str(&format!(
        "^FO40,900^A0N,26,26^FDPoids : {:.2} kg^FS\n^FO60,960^BY3^BCN,160,Y,N,N^FD{}^FS\n^XZ\n",
        req.weight_kg, parcel.number
    ));
    z.into_bytes()
}

/// The label in Datamax DPL (203 dpi), for `DPL_*` printing types.
fn label_dpl(req: &LabelRequest, parcel: &Parcel) -> Vec<u8> {
    let mut d = String::from("\u{2}L\nD11\nH14\n");
    d.push_str("1911A1801100040COLISSIMO\n");
    let mut row = 1000;
    for line in std::iter::once(&parcel.recipient_name).chain(req.addressee.iter().take(5)) {
        row -= 40;
        d.push_str(&format!("1911A14{row:04}0040{}\n", line.to_uppercase()));
    }
    d.push_str(&format!("1e6210000200060{}\n", parcel.number));
    d.push_str("E\n");
    d.into_bytes()
}

/// "6A12345678901" → "6A 1234 5678 901", as printed under barcodes.
fn spaced(number: &str) -> String {
    let (head, tail) = number.split_at(number.len().min(2));
    let mut out = head.to_owned();
    for (i, c) in tail.chars().enumerate() {
        if i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
