//! Invoices (private JSON API): listing by period and PDF download.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::tool::{account_and_period, body_and_account};
use super::{error_json, ok_json};
use crate::model::Invoice;
use crate::pdf::{self, Page};
use crate::state::Simulator;

pub(crate) async fn list(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (account, period) = match account_and_period(&sim, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut invoices: Vec<Invoice> = sim
        .invoices(&account.number)
        .into_iter()
        .filter(|i| period.contains(i.date))
        .collect();
    invoices.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.number.cmp(&b.number)));
    let list: Vec<Value> = invoices
        .iter()
        .map(|i| {
            json!({
                "number": i.number,
                "kind": i.kind,
                "date": i.date.format("%Y-%m-%d").to_string(),
                "accountNumber": i.account,
                "company": i.company,
                "amountTtc": euros(i.amount_ttc_cents),
                "pages": i.pages,
                "contactUserKey": i.contact_user_key,
                "department": i.department,
            })
        })
        .collect();
    ok_json(&json!({"invoices": list}))
}

pub(crate) async fn pdf(
    State(sim): State<Simulator>,
    Path(number): Path<String>,
    body: Bytes,
) -> Response {
    let (_, account) = match body_and_account(&sim, &body, &[]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(inv) = sim.invoice_of(&account.number, number.trim()) else {
        return error_json(StatusCode::NOT_FOUND, json!({"error": "unknown_invoice"}));
    };
    let bytes = invoice_pdf(&inv);
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.pdf\"", inv.number)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// "34.98" from 3498 cents.
fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// French display: "1 234,56 €".
fn euros_fr(cents: i64) -> String {
    let plain = euros(cents);
    let (int, dec) = plain.split_once('.').unwrap_or((&plain, "00"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{dec} €")
}

/// An A4 invoice of `inv.pages` pages: summary on page 1, shipment details after.
fn invoice_pdf(inv: &Invoice) -> Vec<u8> {
    let (w, h) = (595.28, 841.89);
    let pages_n = inv.pages.max(1);
    let ht = inv.amount_ttc_cents * 100 / 120;
    let tva = inv.amount_ttc_cents - ht;
    let mut rng = crate::rng::SplitMix64::new(crate::rng::hash(0, &["invoice-lines", &inv.number]));
    let mut pages = Vec::new();
    for n in 1..=pages_n {
        let mut p = Page::default();
        p.text(50.0, h - 60.0, 20.0, true, "La Poste – Colissimo");
        p.text(
            w - 200.0,
            h - 60.0,
            12.0,
            true,
            format!("FACTURE {}", inv.number),
        );
        p.rect(50.0, h - 72.0, w - 100.0, 1.0);
        let mut y = h - 100.0;
        if n == 1 {
            for (label, value) in [
                ("Client", inv.company.clone()),
                ("Numéro de contrat", inv.account.clone()),
                ("Date de facture", inv.date.format("%d/%m/%Y").to_string()),
                ("Type", format!("{} (facture)", inv.kind)),
                (
                    "Service destinataire",
                    inv.department.clone().unwrap_or_else(|| "—".to_owned()),
                ),
            ] {
                p.text(50.0, y, 11.0, true, label);
                p.text(200.0, y, 11.0, false, value);
                y -= 18.0;
            }
            y -= 20.0;
            p.text(50.0, y, 13.0, true, "Récapitulatif");
            y -= 22.0;
            for (label, cents) in [
                ("Montant HT", ht),
                ("TVA 20 %", tva),
                ("Montant TTC", inv.amount_ttc_cents),
            ] {
                p.text(50.0, y, 11.0, label == "Montant TTC", label);
                p.text(300.0, y, 11.0, label == "Montant TTC", euros_fr(cents));
                y -= 18.0;
            }
            y -= 20.0;
        }
        p.text(
            50.0,
            y,
            13.0,
            true,
            if n == 1 {
                "Détail des envois"
            } else {
                "Détail des envois (suite)"
            },
        );
        y -= 20.0;
        while y > 80.0 {
            let line = format!(
                "6A{}   Colissimo {}   {:.2} kg   {}",
                rng.digits(11),
                rng.pick(&["Domicile", "Point Retrait", "Expert International"]),
                (rng.below(2000) + 10) as f64 / 100.0,
                euros_fr(400 + rng.below(3000) as i64)
            );
            p.text(50.0, y, 9.0, false, line);
            y -= 13.0;
        }
        p.text(
            w / 2.0 - 30.0,
            40.0,
            9.0,
            false,
            format!("Page {n} / {pages_n}"),
        );
        pages.push(p);
    }
    pdf::render(w, h, &format!("Facture {}", inv.number), &pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_format() {
        assert_eq!(euros(3498), "34.98");
        assert_eq!(euros(5), "0.05");
        assert_eq!(euros(-150), "-1.50");
        assert_eq!(euros_fr(12_345_678), "123 456,78 €");
        assert_eq!(euros_fr(99), "0,99 €");
    }
}
