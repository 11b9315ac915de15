//! Deterministic synthetic data: parcels with their timelines, invoices, pickup points and
//! eligibility answers, all derived from (seed, account number, index).
//!
//! Ownership (which user's stamp a parcel or invoice carries) is drawn from a separate value
//! (`owner_draw`) so that changing an account's stamp list only changes ownership, never the
//! parcels themselves.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone};
use serde_json::{json, Value};

use crate::config::Stamp;
use crate::model::{Event, Invoice, Parcel, ParcelStatus};
use crate::rng::{hash, SplitMix64};

const FIRST_NAMES: &[&str] = &[
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Louise", "Jade", "Emma", "Hugo", "Lucas", "Louis",
    "Gabriel", "Arthur", "Jules", "Nathan", "Raphaël", "Théo", "Zoé", "Maël", "Noé",
];
const LAST_NAMES: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier",
];
/// (postal code, city) in France.
const CITIES: &[(&str, &str)] = &[
    ("75001", "Paris"),
    ("75011", "Paris"),
    ("75015", "Paris"),
    ("69003", "Lyon"),
    ("13001", "Marseille"),
    ("31000", "Toulouse"),
    ("06000", "Nice"),
    ("44000", "Nantes"),
    ("67000", "Strasbourg"),
    ("34000", "Montpellier"),
    ("33000", "Bordeaux"),
    ("59000", "Lille"),
    ("35000", "Rennes"),
    ("51100", "Reims"),
    ("42000", "Saint-Étienne"),
    ("83000", "Toulon"),
    ("38000", "Grenoble"),
    ("21000", "Dijon"),
    ("49000", "Angers"),
    ("37000", "Tours"),
    ("63000", "Clermont-Ferrand"),
    ("87000", "Limoges"),
    ("29200", "Brest"),
    ("64000", "Pau"),
];
/// (country code, postal code, city) abroad.
const ABROAD: &[(&str, &str, &str)] = &[
    ("BE", "1000", "Bruxelles"),
    ("DE", "10115", "Berlin"),
    ("ES", "28001", "Madrid"),
    ("IT", "00184", "Roma"),
    ("CH", "1201", "Genève"),
    ("GB", "SW1A 1AA", "London"),
    ("NL", "1012", "Amsterdam"),
    ("US", "10001", "New York"),
];
const HUBS: &[&str] = &[
    "PFC ROISSY CHARLES DE GAULLE",
    "PLATEFORME COLIS WISSOUS",
    "PLATEFORME COLIS SAINT-PRIEST",
    "PLATEFORME COLIS CESTAS",
    "PLATEFORME COLIS LESQUIN",
];
const SHOPS: &[&str] = &[
    "TABAC PRESSE DU MARCHÉ",
    "ÉPICERIE DE LA GARE",
    "PRESSING DES LILAS",
    "LIBRAIRIE DU CENTRE",
    "FLEURISTE LES ROSES",
    "CAVE SAINT-VINCENT",
    "SUPÉRETTE DU PARC",
    "CORDONNERIE MODERNE",
];
const STREETS: &[&str] = &[
    "RUE DE LA RÉPUBLIQUE",
    "AVENUE JEAN JAURÈS",
    "RUE VICTOR HUGO",
    "BOULEVARD GAMBETTA",
    "RUE DU GÉNÉRAL LECLERC",
    "PLACE DE LA MAIRIE",
    "RUE PASTEUR",
    "AVENUE DE LA GARE",
];

/// The five steps of a journey, as shown by both tracking services: (short label, long label).
pub(crate) const STEPS: [(&str, &str); 5] = [
    ("Annoncé", "Votre colis a été annoncé par l'expéditeur"),
    (
        "Pris en charge",
        "Votre colis a été pris en charge par La Poste",
    ),
    (
        "En cours d'acheminement",
        "Votre colis est en cours d'acheminement",
    ),
    (
        "En livraison",
        "Votre colis est en cours de livraison ou prêt à être retiré",
    ),
    ("Livré", "Votre colis a été livré"),
];

/// A known event code: (code, short label, long label, tracking-v2 code, step reached, status).
struct EventKind {
    code: &'static str,
    short: &'static str,
    long: &'static str,
    v2: &'static str,
    step: u8,
    status: ParcelStatus,
}

const EVENT_KINDS: &[EventKind] = &[
    EventKind {
        code: "COMCFM",
        short: "Colis annoncé",
        long: "Votre Colissimo va bientôt nous être confié ! Il est en cours de préparation chez l'expéditeur.",
        v2: "DR1",
        step: 1,
        status: ParcelStatus::Announced,
    },
    EventKind {
        code: "PCHCFM",
        short: "Pris en charge",
        long: "Votre colis est pris en charge par La Poste.",
        v2: "PC1",
        step: 2,
        status: ParcelStatus::InTransit,
    },
    EventKind {
        code: "EXPCFM",
        short: "En cours d'acheminement",
        long: "Votre colis est en cours d'acheminement.",
        v2: "ET1",
        step: 3,
        status: ParcelStatus::InTransit,
    },
    EventKind {
        code: "EXPINT",
        short: "Parti à l'international",
        long: "Votre colis a quitté la France et est en cours d'acheminement vers le pays de destination.",
        v2: "ET3",
        step: 3,
        status: ParcelStatus::InTransit,
    },
    EventKind {
        code: "AARCFM",
        short: "Arrivé sur le site de distribution",
        long: "Votre colis est arrivé sur son site de distribution.",
        v2: "ET2",
        step: 3,
        status: ParcelStatus::InTransit,
    },
    EventKind {
        code: "MLVARS",
        short: "En cours de livraison",
        long: "Votre colis est en cours de livraison.",
        v2: "MD2",
        step: 4,
        status: ParcelStatus::OutForDelivery,
    },
    EventKind {
        code: "RSTBRT",
        short: "Disponible en point de retrait",
        long: "Votre colis est disponible dans votre point de retrait.",
        v2: "AG1",
        step: 4,
        status: ParcelStatus::AvailableAtPickupPoint,
    },
    EventKind {
        code: "RENAVI",
        short: "Destinataire absent",
        long: "Votre colis n'a pas pu être livré, le destinataire était absent. Un avis de passage a été déposé.",
        v2: "ND1",
        step: 4,
        status: ParcelStatus::OutForDelivery,
    },
    EventKind {
        code: "LIVCFM",
        short: "Livré",
        long: "Votre colis est livré.",
        v2: "DI1",
        step: 5,
        status: ParcelStatus::Delivered,
    },
    EventKind {
        code: "RETEXP",
        short: "Retourné à l'expéditeur",
        long: "Votre colis est retourné à l'expéditeur.",
        v2: "RE1",
        step: 4,
        status: ParcelStatus::ReturnedToSender,
    },
    EventKind {
        code: "INCDOM",
        short: "Incident",
        long: "Votre colis a subi un incident lors de son acheminement. Nous mettons tout en œuvre pour le résoudre.",
        v2: "ND2",
        step: 3,
        status: ParcelStatus::Anomaly,
    },
];

fn kind(code: &str) -> Option<&'static EventKind> {
    EVENT_KINDS.iter().find(|k| k.code == code)
}

/// The tracking-v2 short code of an event code (falls back to the code itself).
pub(crate) fn v2_code(code: &str) -> &str {
    kind(code).map_or(code, |k| k.v2)
}

/// How many of the five steps the event sequence has reached (at least 1).
pub(crate) fn steps_reached(events: &[Event]) -> u8 {
    events
        .iter()
        .filter_map(|e| kind(&e.code))
        .map(|k| k.step)
        .max()
        .unwrap_or(1)
}

/// The France offset the simulator uses everywhere (daylight saving is ignored).
pub(crate) fn paris() -> FixedOffset {
    // 3600 s is always a valid offset; the UTC fallback only keeps this total.
    FixedOffset::east_opt(3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// Builds an event of a known code at `date` + `day` days, `hour`:`minute`.
pub(crate) fn event(
    code: &str,
    date: NaiveDate,
    day: i64,
    hour: u32,
    minute: u32,
    site: &str,
) -> Event {
    let (short, long) = kind(code).map_or((code, code), |k| (k.short, k.long));
    let day = date + Duration::days(day);
    let naive = day
        .and_hms_opt(hour.min(23), minute.min(59), 0)
        .unwrap_or_else(|| day.and_time(chrono::NaiveTime::MIN));
    let date = paris()
        .from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| paris().from_utc_datetime(&naive));
    Event {
        code: code.to_owned(),
        date,
        site_name: site.to_owned(),
        label_long: long.to_owned(),
        label_short: short.to_owned(),
    }
}

/// The status implied by the latest event.
pub(crate) fn status_of(events: &[Event]) -> ParcelStatus {
    events
        .last()
        .and_then(|e| kind(&e.code))
        .map_or(ParcelStatus::Announced, |k| k.status)
}

/// A fresh parcel number: "6A" + 11 digits in France, "CF" + 9 digits + "FR" abroad.
pub(crate) fn parcel_number(rng: &mut SplitMix64, international: bool) -> String {
    if international {
        format!("CF{}FR", rng.digits(9))
    } else {
        format!("6A{}", rng.digits(11))
    }
}

/// Is `s` shaped like a parcel number (8 to 20 ASCII letters or digits)? Same rule as the
/// domain crate's `ParcelNumber`.
pub(crate) fn is_parcel_number(s: &str) -> bool {
    (8..=20).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Synthetic parcel `index` of `account`. `taken` says whether a number is already used (the
/// number is re-drawn on the astronomically rare collision). Returns the parcel, unstamped, and
/// its owner draw.
pub(crate) fn parcel(
    seed: u64,
    account: &str,
    index: usize,
    today: NaiveDate,
    history_days: u32,
    taken: &dyn Fn(&str) -> bool,
) -> (Parcel, u64) {
    let idx = index.to_string();
    let mut rng = SplitMix64::new(hash(seed, &["parcel", account, &idx]));
    let owner_draw = rng.next_u64();
    let international = rng.chance(0.1);

    let mut attempt = 0u32;
    let number = loop {
        let mut nr = SplitMix64::new(hash(seed, &["number", account, &idx, &attempt.to_string()]));
        let n = parcel_number(&mut nr, international);
        if !taken(&n) || attempt > 1000 {
            break n;
        }
        attempt += 1;
    };

    let age = rng.below(u64::from(history_days.max(1))) as i64;
    let deposit_date = today - Duration::days(age);
    let (country, postal_code, city) = if international {
        let (c, z, city) = *rng.pick(ABROAD);
        (c, z, city)
    } else {
        let (z, city) = *rng.pick(CITIES);
        ("FR", z, city)
    };
    let recipient_name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
    let product = if international {
        "COLI"
    } else {
        match rng.below(100) {
            0..=44 => "DOM",
            45..=64 => "DOS",
            65..=84 => "A2P",
            _ => "BPR",
        }
    };
    let weight_kg = (rng.below(1991) + 10) as f64 / 100.0;
    let pass = rng.chance(0.1);
    let reference = format!("CMD-{}", rng.digits(6));

    let journey = journey(
        &mut rng,
        product,
        international,
        deposit_date,
        &city.to_uppercase(),
    );
    // Only what has happened by today: an event `d` days after deposit exists if d <= age.
    let events: Vec<Event> = journey
        .into_iter()
        .filter(|(day, _)| *day <= age)
        .map(|(_, e)| e)
        .collect();
    let status = status_of(&events);

    let parcel = Parcel {
        number,
        account: account.to_owned(),
        user_key: None,
        tag: None,
        reference,
        recipient_name,
        postal_code: postal_code.to_owned(),
        city: city.to_owned(),
        country: country.to_owned(),
        product: product.to_owned(),
        status,
        deposit_date,
        events,
        weight_kg,
        pass,
    };
    (parcel, owner_draw)
}

/// The full planned journey (day offset from deposit, event); the caller cuts it at today.
fn journey(
    rng: &mut SplitMix64,
    product: &str,
    international: bool,
    d0: NaiveDate,
    city: &str,
) -> Vec<(i64, Event)> {
    let hub = *rng.pick(HUBS);
    let local = format!("{city} PPDC");
    let mut plan: Vec<(i64, Event)> = Vec::new();
    // An event `day` days after deposit, between `hour` and `hour + span - 1` o'clock.
    let mut push =
        |rng: &mut SplitMix64, code: &str, day: i64, hour: u64, span: u64, site: &str| {
            let h = (hour + rng.below(span.max(1))) as u32;
            let min = rng.below(60) as u32;
            plan.push((day, event(code, d0, day, h, min, site)));
        };

    push(rng, "COMCFM", 0, 8, 3, "");
    let fate = rng.below(100);
    if fate < 3 {
        // Label printed, parcel never handed over.
        return plan;
    }
    push(rng, "PCHCFM", 0, 17, 3, hub);
    push(rng, "EXPCFM", 1, 2, 3, hub);
    if fate < 7 {
        push(rng, "INCDOM", 2, 9, 6, hub);
        return plan;
    }
    if international {
        let extra = 1 + rng.below(3) as i64;
        push(rng, "EXPINT", 2, 6, 1, "PFC ROISSY CHARLES DE GAULLE");
        push(rng, "AARCFM", 2 + extra, 6, 3, city);
        push(rng, "MLVARS", 3 + extra, 8, 1, city);
        push(rng, "LIVCFM", 3 + extra, 11, 6, city);
        return plan;
    }
    push(rng, "AARCFM", 1, 6, 3, &local);
    if product == "A2P" || product == "BPR" {
        push(rng, "RSTBRT", 2, 10, 4, &local);
        let wait = 1 + rng.below(7) as i64;
        if fate < 10 {
            // Never collected: back to the sender after the keeping period.
            push(rng, "RETEXP", 2 + 10, 9, 1, &local);
        } else {
            push(rng, "LIVCFM", 2 + wait, 10, 9, &local);
        }
        return plan;
    }
    push(rng, "MLVARS", 2, 8, 1, &local);
    if fate < 10 {
        push(rng, "RENAVI", 2, 11, 5, &local);
        push(rng, "RETEXP", 12, 9, 1, &local);
    } else {
        push(rng, "LIVCFM", 2, 10, 8, &local);
    }
    plan
}

/// The stamp an owner draw selects: about one parcel in three is unstamped, the others spread
/// over the stamps.
pub(crate) fn owner(draw: u64, stamps: &[Stamp]) -> Option<&Stamp> {
    if stamps.is_empty() || draw.is_multiple_of(3) {
        return None;
    }
    stamps.get(((draw / 3) % stamps.len() as u64) as usize)
}

/// Applies an owner draw to a parcel.
pub(crate) fn stamp_parcel(p: &mut Parcel, draw: u64, stamps: &[Stamp]) {
    let s = owner(draw, stamps);
    p.user_key = s.map(|s| s.user_key.clone());
    p.tag = s.and_then(|s| s.tag.clone());
}

/// Synthetic invoice `index` (0 = last month) of an account; returns it unattributed and its
/// owner draw.
pub(crate) fn invoice(
    seed: u64,
    account: &str,
    company: &str,
    index: usize,
    today: NaiveDate,
) -> (Invoice, u64) {
    let mut rng = SplitMix64::new(hash(seed, &["invoice", account, &index.to_string()]));
    let owner_draw = rng.next_u64();
    // The last day of the month `index + 1` months before today's.
    let months_back = i64::try_from(index)
        .unwrap_or(i64::MAX / 24)
        .saturating_add(1);
    let total = i64::from(today.year()) * 12 + i64::from(today.month0()) - months_back;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).unwrap_or(1970), month0 as u32 + 1, 1)
        .unwrap_or(today);
    let next_first = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let date = next_first.pred_opt().unwrap_or(first);
    let invoice = Invoice {
        // One invoice per account and month, so (account, month) is unique.
        number: format!("F{account}{}", date.format("%Y%m")),
        account: account.to_owned(),
        company: company.to_owned(),
        date,
        kind: "F".to_owned(),
        amount_ttc_cents: 1_500 + rng.below(250_000) as i64,
        pages: 1 + rng.below(4) as u32,
        contact_user_key: None,
        department: None,
    };
    (invoice, owner_draw)
}

/// Attributes an invoice: a third to a user (contact), a third to a department, a third to
/// nobody.
pub(crate) fn attribute_invoice(
    inv: &mut Invoice,
    draw: u64,
    stamps: &[Stamp],
    departments: &[String],
) {
    let pick = (draw / 3) as usize;
    inv.contact_user_key = None;
    inv.department = None;
    match draw % 3 {
        0 if !stamps.is_empty() => {
            inv.contact_user_key = stamps.get(pick % stamps.len()).map(|s| s.user_key.clone());
        }
        1 if !departments.is_empty() => {
            inv.department = departments.get(pick % departments.len()).cloned();
        }
        _ => {}
    }
}

/// Ten pickup points near a postal code, nearest first. `relays` false keeps only post offices
/// and lockers (the service's `filterRelay=0`).
pub(crate) fn pickup_points(zip: &str, city: &str, country: &str, relays: bool) -> Vec<Value> {
    let mut rng = SplitMix64::new(hash(0, &["pickup", zip, country]));
    let (base_lat, base_lon) = if zip.starts_with("75") {
        (48.8600, 2.3400)
    } else {
        (43.0 + rng.unit() * 7.5, -1.5 + rng.unit() * 9.0)
    };
    let locality = if city.trim().is_empty() {
        CITIES
            .iter()
            .find(|(z, _)| *z == zip)
            .map_or("VILLE", |(_, c)| c)
            .to_uppercase()
    } else {
        city.trim().to_uppercase()
    };
    let country_label = match country {
        "FR" => "FRANCE",
        "BE" => "BELGIQUE",
        "DE" => "ALLEMAGNE",
        "ES" => "ESPAGNE",
        "NL" => "PAYS-BAS",
        "LU" => "LUXEMBOURG",
        _ => "FRANCE",
    };
    let mut distance = 0u64;
    (0..10)
        .map(|_| {
            distance += 80 + rng.below(400);
            let kind = match (relays, rng.below(10)) {
                (true, 0..=5) => "A2P",
                (_, 6 | 7) | (false, 0..=3) => "BPR",
                _ => "CIT",
            };
            let (name, hours, saturday, reseau, max) = match kind {
                "A2P" => (
                    rng.pick(SHOPS).to_string(),
                    "09:00-12:00 14:00-19:00",
                    "09:00-12:30 00:00-00:00",
                    "R03",
                    20_000,
                ),
                "BPR" => (
                    format!(
                        "BUREAU DE POSTE {locality} {}",
                        rng.pick(&["CENTRE", "GARE", "MAIRIE", "NORD", "SUD"])
                    ),
                    "09:00-12:00 13:30-18:00",
                    "09:00-12:00 00:00-00:00",
                    "R01",
                    30_000,
                ),
                _ => (
                    format!("CONSIGNE PICKUP STATION {locality}"),
                    "00:00-23:59 00:00-00:00",
                    "00:00-23:59 00:00-00:00",
                    "X00",
                    20_000,
                ),
            };
            let lat = base_lat + (rng.unit() - 0.5) * 0.02;
            let lon = base_lon + (rng.unit() - 0.5) * 0.02;
            json!({
                "identifiant": format!("{:06}", rng.below(1_000_000)),
                "nom": name,
                "adresse1": format!("{} {}", 1 + rng.below(120), rng.pick(STREETS)),
                "adresse2": "",
                "adresse3": "",
                "codePostal": zip,
                "localite": locality,
                "codePays": country,
                "langue": "FR",
                "libellePays": country_label,
                "coordGeolocalisationLatitude": format!("{lat:.6}"),
                "coordGeolocalisationLongitude": format!("{lon:.6}"),
                "distanceEnMetre": distance,
                "horairesOuvertureLundi": hours,
                "horairesOuvertureMardi": hours,
                "horairesOuvertureMercredi": hours,
                "horairesOuvertureJeudi": hours,
                "horairesOuvertureVendredi": hours,
                "horairesOuvertureSamedi": saturday,
                "horairesOuvertureDimanche": "00:00-00:00 00:00-00:00",
                "indiceDeLocalisation": "",
                "periodeActiviteHoraireDeb": "",
                "periodeActiviteHoraireFin": "",
                "typeDePoint": kind,
                "reseau": reseau,
                "poidsMaxi": max,
                "accesPersonneMobiliteReduite": rng.chance(0.6),
                "parking": rng.chance(0.4),
                "congesPartiel": false,
                "congesTotal": false,
            })
        })
        .collect()
}

/// The products the eligibility service reports: (code, label).
pub(crate) const PRODUCTS: &[(&str, &str)] = &[
    ("DOM", "Colissimo Domicile sans signature"),
    ("DOS", "Colissimo Domicile avec signature"),
    ("A2P", "Colissimo Point Retrait – en relais Pickup"),
    ("BPR", "Colissimo Point Retrait – en bureau de poste"),
    ("CORE", "Colissimo Retour France"),
];

/// Is the account eligible to a product? DOM always; the others three times in four.
pub(crate) fn eligible(seed: u64, account: &str, code: &str) -> bool {
    code == "DOM" || !hash(seed, &["eligibility", account, code]).is_multiple_of(4)
}

#[cfg(test)]
mod tests;
