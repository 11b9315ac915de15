//! Tests of the parent module (kept apart so the module itself stays short).

use super::*;
use proptest::prelude::*;

fn scope_strategy() -> impl Strategy<Value = Scope> {
    (0u8..8).prop_map(Scope::from_bits)
}
fn set_strategy() -> impl Strategy<Value = RightSet> {
    any::<u64>().prop_map(RightSet::from_bits)
}

/// The reference model: a scope is the set of parcels it shows among a universe that covers
/// every case (owner match × group match × account match).
fn visible(s: Scope) -> Vec<(bool, bool)> {
    let mut v = vec![];
    for owner in [false, true] {
        for group in [false, true] {
            if s.allows(owner, group) {
                v.push((owner, group));
            }
        }
    }
    v
}

#[test]
fn scope_basics() {
    assert!(Scope::ALL.covers(Scope::OWN));
    assert!(Scope::ALL.covers(Scope::GROUP.union(Scope::OWN)));
    assert!(!Scope::OWN.covers(Scope::GROUP));
    assert!(!Scope::OWN.covers(Scope::ALL));
    assert!(Scope::OWN.covers(Scope::NONE));
    assert!(Scope::NONE.covers(Scope::NONE));
    assert_eq!(Scope::OWN.union(Scope::ALL), Scope::ALL);
    assert_eq!(Scope::ALL.meet(Scope::GROUP), Scope::GROUP);
    assert_eq!(Scope::OWN.meet(Scope::GROUP), Scope::NONE);
    assert!(!Scope::NONE.allows(true, true));
    assert!(Scope::ALL.allows(false, false));
    assert!(Scope::OWN.allows(true, false) && !Scope::OWN.allows(false, true));
    assert!(Scope::GROUP.allows(false, true) && !Scope::GROUP.allows(true, false));
}

#[test]
fn grants_round_trip_and_name_errors() {
    let s = RightSet::parse_ids([
        "ws_postage",
        "tracking_tool:own",
        "tracking_tool:group",
        "invoices:all",
    ])
    .unwrap();
    assert_eq!(
        s.ids(),
        [
            "ws_postage",
            "tracking_tool:own",
            "tracking_tool:group",
            "invoices:all"
        ]
    );
    assert_eq!(RightSet::from_db(&s.to_db()).unwrap(), s);
    assert_eq!(RightSet::from_db("").unwrap(), RightSet::EMPTY);
    let e = RightSet::parse_ids(["ws_postage", "teleport"]).unwrap_err();
    assert!(e.reason.contains("teleport"));
    let e = RightSet::parse_ids(["tracking_tool"]).unwrap_err();
    assert!(e.reason.contains("tracking_tool:own"));
    let e = RightSet::parse_ids(["tracking_tool:none"]).unwrap_err();
    assert_eq!(e.field, "rights");
    let json: RightSet = serde_json::from_str(r#"["ws_tracking","invoices:group"]"#).unwrap();
    assert_eq!(
        serde_json::to_string(&json).unwrap(),
        r#"["ws_tracking","invoices:group"]"#
    );
}

#[test]
fn delegation_names_the_right() {
    let holder = RightSet::parse_ids(["ws_tracking", "tracking_tool:all"]).unwrap();
    let ok =
        RightSet::parse_ids(["tracking_tool:own", "tracking_tool:group", "ws_tracking"]).unwrap();
    assert_eq!(RightSet::check_delegation(ok, holder), Ok(()));
    let bad = RightSet::parse_ids(["ws_tracking", "ws_postage"]).unwrap();
    let e = RightSet::check_delegation(bad, holder).unwrap_err();
    assert_eq!(e.id, "ws_postage");
    assert_eq!(
        e.to_string(),
        "Vous ne pouvez pas donner le droit Web Service Affranchissement (ws_postage)"
    );
    let own_only = RightSet::parse_ids(["tracking_tool:own"]).unwrap();
    let e = RightSet::check_delegation(
        RightSet::parse_ids(["tracking_tool:all"]).unwrap(),
        own_only,
    )
    .unwrap_err();
    assert_eq!(e.id, "tracking_tool:all");
}

#[test]
fn withdrawn_entitlement_withdraws_from_link() {
    let link = RightSet::parse_ids(["ws_postage", "ws_tracking", "tracking_tool:all"]).unwrap();
    let ent = RightSet::parse_ids(["ws_tracking", "tracking_tool:own"]).unwrap();
    let eff = RightSet::effective(link, ent);
    assert_eq!(eff.ids(), ["ws_tracking", "tracking_tool:own"]);
}

#[test]
fn catalogues() {
    let adv = ADVANCED_GRANTS
        .iter()
        .fold(RightSet::EMPTY, |s, (g, _)| s.grant(*g));
    assert!(adv.check_advanced().is_ok());
    assert!(RightSet::EMPTY
        .with(Right::Dashboard)
        .check_advanced()
        .is_err());
    assert!(RightSet::EMPTY
        .with(Right::WsPostage)
        .check_standard()
        .is_err());
    assert!(RightSet::EMPTY
        .with(Right::Dashboard)
        .with(Right::WsTracking)
        .check_standard()
        .is_ok());
    // Every column header is distinct and every grant is distinct.
    let mut headers: Vec<_> = ADVANCED_GRANTS.iter().map(|(_, h)| *h).collect();
    headers.sort_unstable();
    headers.dedup();
    assert_eq!(headers.len(), ADVANCED_GRANTS.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn meet_is_exact_intersection_of_visible_sets(a in scope_strategy(), b in scope_strategy()) {
        let m = visible(a.meet(b));
        let inter: Vec<_> = visible(a).into_iter().filter(|x| visible(b).contains(x)).collect();
        // Every parcel visible through the meet is visible through both (never shows more)…
        for x in &m { prop_assert!(inter.contains(x)); }
        // …and only the inexpressible own∩group corner (both matches at once) may be dropped.
        for x in &inter { prop_assert!(m.contains(x) || *x == (true, true)); }
    }

    #[test]
    fn covers_is_visible_superset(a in scope_strategy(), b in scope_strategy()) {
        // covers ⇒ everything b shows, a shows (over the whole universe).
        if a.covers(b) {
            for x in visible(b) { prop_assert!(visible(a).contains(&x)); }
        }
        // and a scope always covers itself and its meet with anything.
        prop_assert!(a.covers(a));
        prop_assert!(a.covers(a.meet(b)));
    }

    #[test]
    fn effective_never_exceeds_either_side(link in set_strategy(), ent in set_strategy()) {
        let eff = RightSet::effective(link, ent);
        prop_assert!(link.covers(eff));
        prop_assert!(ent.covers(eff));
        // Commutative, idempotent.
        prop_assert_eq!(eff, RightSet::effective(ent, link));
        prop_assert_eq!(RightSet::effective(eff, eff), eff);
        // Whatever the account holds in full, the link keeps.
        prop_assert_eq!(RightSet::effective(link, RightSet::everything()), link);
        prop_assert_eq!(RightSet::effective(link, RightSet::EMPTY), RightSet::EMPTY);
    }

    #[test]
    fn delegation_accepts_exactly_covered_sets(granted in set_strategy(), holder in set_strategy()) {
        let res = RightSet::check_delegation(granted, holder);
        prop_assert_eq!(res.is_ok(), holder.covers(granted));
        if let Err(e) = res {
            let g = Grant::parse(&e.id).unwrap();
            prop_assert!(granted.has_grant(g));
            prop_assert!(!holder.has_grant(g));
        }
        // A delegated set is never changed by the effective rule with the holder's rights.
        if holder.covers(granted) {
            prop_assert_eq!(RightSet::effective(granted, holder), granted);
        }
    }

    #[test]
    fn text_and_bits_round_trip(set in set_strategy()) {
        prop_assert_eq!(RightSet::from_db(&set.to_db()).unwrap(), set);
        prop_assert_eq!(RightSet::from_bits(set.bits()), set);
    }
}
