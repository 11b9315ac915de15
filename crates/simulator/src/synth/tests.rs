//! Tests of the parent module (kept apart so the module itself stays short).

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default()
}

#[test]
fn parcels_are_deterministic_and_well_formed() {
    let none = |_: &str| false;
    for i in 0..300 {
        let (a, da) = parcel(1, "123456", i, today(), 60, &none);
        let (b, db) = parcel(1, "123456", i, today(), 60, &none);
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert!(is_parcel_number(&a.number));
        assert!(
            (a.number.starts_with("6A") && a.number.len() == 13)
                || (a.number.starts_with("CF") && a.number.ends_with("FR") && a.number.len() == 13)
        );
        assert!(!a.events.is_empty());
        assert!(a.deposit_date <= today());
        assert!(a.deposit_date > today() - Duration::days(60));
        assert!(a.events.windows(2).all(|w| w[0].date <= w[1].date));
        assert!(a.events.iter().all(|e| e.date.date_naive() <= today()));
        assert!(a.weight_kg > 0.0 && a.weight_kg <= 30.0);
    }
    let (x, _) = parcel(2, "123456", 0, today(), 60, &none);
    let (y, _) = parcel(1, "123456", 0, today(), 60, &none);
    assert_ne!(x.number, y.number);
}

#[test]
fn collisions_are_redrawn() {
    let (a, _) = parcel(1, "123456", 0, today(), 60, &|_| false);
    let first = a.number.clone();
    let (b, _) = parcel(1, "123456", 0, today(), 60, &|n| n == first);
    assert_ne!(b.number, first);
}

#[test]
fn ownership_spreads_with_a_third_unstamped() {
    let stamps = vec![
        Stamp::new("a".repeat(32), Some("t1")),
        Stamp::new("b".repeat(32), None),
    ];
    let mut unstamped = 0;
    for i in 0..300 {
        let (mut p, d) = parcel(3, "654321", i, today(), 60, &|_| false);
        stamp_parcel(&mut p, d, &stamps);
        if p.user_key.is_none() {
            unstamped += 1;
        }
    }
    assert!((70..=130).contains(&unstamped), "{unstamped}");
}

#[test]
fn invoices_are_month_ends_and_unique() {
    let mut numbers = std::collections::HashSet::new();
    for i in 0..24 {
        let (inv, _) = invoice(1, "123456", "ACME", i, today());
        assert!(inv.date < today());
        assert_eq!((inv.date + Duration::days(1)).day(), 1);
        assert!(numbers.insert(inv.number.clone()));
        assert!((1..=4).contains(&inv.pages));
    }
    let (first, _) = invoice(1, "123456", "ACME", 0, today());
    assert_eq!(
        first.date,
        NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default()
    );
}

#[test]
fn pickup_points_are_ten_sorted_and_deterministic() {
    let a = pickup_points("75001", "Paris", "FR", true);
    assert_eq!(a, pickup_points("75001", "Paris", "FR", true));
    assert_eq!(a.len(), 10);
    let d: Vec<u64> = a
        .iter()
        .filter_map(|p| p["distanceEnMetre"].as_u64())
        .collect();
    assert!(d.windows(2).all(|w| w[0] < w[1]));
    let offices = pickup_points("75001", "Paris", "FR", false);
    assert!(offices.iter().all(|p| p["typeDePoint"] != "A2P"));
}
