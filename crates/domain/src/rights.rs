//! Rights, scopes, and the two rules of SPEC §3.
//!
//! A [`RightSet`] is a `u64`: one bit per plain right, and three bits per scoped right (own,
//! group, all). Intersections and the delegation check are a handful of bit operations, so the
//! gateway can check rights on every call without allocating.
//!
//! Scopes are sets rather than a single value because the seeds' forms are checkboxes: a link may
//! hold "suivi limité à la clé utilisateur" *and* "suivi limité au tag utilisateur". `all`
//! covers everything of the account; own and group are disjoint grants whose union is visible.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

/// Which parcels (or documents) a scoped right lets its holder see.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Scope(u8);

impl Scope {
    /// Right not given ("Aucune pièce visible").
    pub const NONE: Scope = Scope(0);
    /// Parcels bearing the user's key or posted by the user; the contact's own documents.
    pub const OWN: Scope = Scope(0b001);
    /// Parcels bearing the user's tag; the documents of the user's department.
    pub const GROUP: Scope = Scope(0b010);
    /// Every parcel / document of the linked account ("suivi consolidé", "toutes les pièces").
    pub const ALL: Scope = Scope(0b100);

    const MASK: u8 = 0b111;

    pub fn from_bits(bits: u8) -> Scope {
        Scope(bits & Self::MASK).normalised()
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    pub fn is_all(self) -> bool {
        self.0 & Self::ALL.0 != 0
    }
    pub fn has_own(self) -> bool {
        self.is_all() || self.0 & Self::OWN.0 != 0
    }
    pub fn has_group(self) -> bool {
        self.is_all() || self.0 & Self::GROUP.0 != 0
    }
    /// `all` subsumes the others: keep one canonical form so equal sets compare equal.
    fn normalised(self) -> Scope {
        if self.is_all() {
            Self::ALL
        } else {
            self
        }
    }
    /// Union of two grants (both checkboxes ticked).
    pub fn union(self, other: Scope) -> Scope {
        Scope(self.0 | other.0).normalised()
    }
    /// Intersection of what the two scopes let one see. Exact for every pair the model can
    /// express; `own ∩ group` (parcels bearing both the key and the tag) is not expressible and
    /// yields nothing, which errs on the side of showing less.
    pub fn meet(self, other: Scope) -> Scope {
        if self.is_all() {
            other
        } else if other.is_all() {
            self
        } else {
            Scope(self.0 & other.0)
        }
    }
    /// Whether a holder of `self` may grant `other` (every part of `other` is within `self`).
    pub fn covers(self, other: Scope) -> bool {
        self.is_all() || (!other.is_all() && other.0 & !self.0 == 0)
    }
    /// Whether a parcel or document is visible under this scope.
    ///
    /// `own` matches the owner's user key, `group` matches the group (the user's tag for parcels,
    /// the user's department for documents).
    pub fn allows(self, owner_matches: bool, group_matches: bool) -> bool {
        self.is_all()
            || (self.0 & Self::OWN.0 != 0 && owner_matches)
            || (self.0 & Self::GROUP.0 != 0 && group_matches)
    }
    /// The single-value names of SPEC §3; a set of own+group is listed as two grants.
    pub fn parts(self) -> impl Iterator<Item = Scope> {
        [Self::OWN, Self::GROUP, Self::ALL]
            .into_iter()
            .filter(move |s| self.0 & s.0 != 0)
    }
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "none",
            0b001 => "own",
            0b010 => "group",
            0b100 => "all",
            _ => "own+group",
        }
    }
    pub fn parse(s: &str) -> Result<Scope, FieldError> {
        match s {
            "none" => Ok(Self::NONE),
            "own" => Ok(Self::OWN),
            "group" => Ok(Self::GROUP),
            "all" => Ok(Self::ALL),
            _ => Err(FieldError::new(
                "scope",
                format!("unknown scope '{s}' (none, own, group, all)"),
            )),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A right that carries a scope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ScopedRight {
    /// "Outil de suivi colis sans accès au Service Client".
    TrackingTool,
    /// "Outil de suivi colis avec accès au Service Client" (claims).
    TrackingToolCs,
    /// "Consultation des factures" / seed 004 "Visibilité des pièces".
    Invoices,
}

impl ScopedRight {
    pub const ALL: [ScopedRight; 3] = [Self::TrackingTool, Self::TrackingToolCs, Self::Invoices];

    pub fn id(self) -> &'static str {
        match self {
            Self::TrackingTool => "tracking_tool",
            Self::TrackingToolCs => "tracking_tool_cs",
            Self::Invoices => "invoices",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::TrackingTool => "Outil de suivi colis sans accès au Service Client",
            Self::TrackingToolCs => "Outil de suivi colis avec accès au Service Client",
            Self::Invoices => "Consultation des factures",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Self::TrackingTool => "Parcel tracking tool without customer service",
            Self::TrackingToolCs => "Parcel tracking tool with customer service",
            Self::Invoices => "Invoices",
        }
    }
    fn shift(self) -> u32 {
        32 + 3 * (self as u32)
    }
}

/// Label of one scope of a scoped right, as the seed words it.
pub fn scope_label(scope: Scope) -> &'static str {
    match scope {
        Scope::OWN => "Suivi limité à la clé utilisateur",
        Scope::GROUP => "Suivi limité au tag utilisateur",
        Scope::ALL => "Suivi consolidé",
        _ => "Aucun",
    }
}

/// A plain (unscoped) right. The first group is granted per link to advanced users (seed 000
/// §1); the rest is the standard-user catalogue (seed 000 §4, seed 004 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum Right {
    WsPostage = 0,
    Coliship = 1,
    WsPickupPoint = 2,
    WsTracking = 3,
    WsEligibility = 4,
    TechSupport = 5,
    Consumables = 6,
    TrackingInterface = 7,
    Dashboard = 8,
    PassPartner = 9,
    DeliverySimplicite = 10,
    DeliveryFlexibilite = 11,
    RecipientNotifications = 12,
    TariffConditions = 13,
    CustomerServiceChat = 14,
    AccountGroups = 15,
    Collection = 16,
    SiteAccess = 17,
    OrderCreate = 18,
    OrderValidate = 19,
    AddressManage = 20,
}

impl Right {
    pub const ALL: [Right; 21] = [
        Self::WsPostage,
        Self::Coliship,
        Self::WsPickupPoint,
        Self::WsTracking,
        Self::WsEligibility,
        Self::TechSupport,
        Self::Consumables,
        Self::TrackingInterface,
        Self::Dashboard,
        Self::PassPartner,
        Self::DeliverySimplicite,
        Self::DeliveryFlexibilite,
        Self::RecipientNotifications,
        Self::TariffConditions,
        Self::CustomerServiceChat,
        Self::AccountGroups,
        Self::Collection,
        Self::SiteAccess,
        Self::OrderCreate,
        Self::OrderValidate,
        Self::AddressManage,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::WsPostage => "ws_postage",
            Self::Coliship => "coliship",
            Self::WsPickupPoint => "ws_pickup_point",
            Self::WsTracking => "ws_tracking",
            Self::WsEligibility => "ws_eligibility",
            Self::TechSupport => "tech_support",
            Self::Consumables => "consumables",
            Self::TrackingInterface => "tracking_interface",
            Self::Dashboard => "dashboard",
            Self::PassPartner => "pass_partner",
            Self::DeliverySimplicite => "delivery_simplicite",
            Self::DeliveryFlexibilite => "delivery_flexibilite",
            Self::RecipientNotifications => "recipient_notifications",
            Self::TariffConditions => "tariff_conditions",
            Self::CustomerServiceChat => "customer_service_chat",
            Self::AccountGroups => "account_groups",
            Self::Collection => "collection",
            Self::SiteAccess => "site_access",
            Self::OrderCreate => "order_create",
            Self::OrderValidate => "order_validate",
            Self::AddressManage => "address_manage",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::WsPostage => "Web Service Affranchissement",
            Self::Coliship => "Interface d'affranchissement Coliship",
            Self::WsPickupPoint => "Web Service choix du point de livraison",
            Self::WsTracking => "Web Service suivi",
            Self::WsEligibility => "Web Service Eligibilité",
            Self::TechSupport => "Interface de gestion pour les demandes au Support Technique",
            Self::Consumables => "Interface de commande de consommables",
            Self::TrackingInterface => "Interface de suivi et de réclamation",
            Self::Dashboard => "Tableau de bord",
            Self::PassPartner => "Renseigner mes informations partenaires Colissimo Pass",
            Self::DeliverySimplicite => "Solution de livraison \"Simplicité\" version mobile",
            Self::DeliveryFlexibilite => "Solution de livraison \"Flexibilité\"",
            Self::RecipientNotifications => "Paramétrage des notifications aux destinataires",
            Self::TariffConditions => "Consultation de mes conditions tarifaires",
            Self::CustomerServiceChat => "Contacter le Service Clients Colissimo par Chat",
            Self::AccountGroups => "Accès aux groupes de comptes",
            Self::Collection => "Interface de gestion pour la Collecte de vos colis",
            Self::SiteAccess => "Accès au site",
            Self::OrderCreate => "Création de commande",
            Self::OrderValidate => "Validation de commande",
            Self::AddressManage => "Création / modification des adresses",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Self::WsPostage => "Postage web service",
            Self::Coliship => "Coliship labelling interface",
            Self::WsPickupPoint => "Pickup point web service",
            Self::WsTracking => "Tracking web service",
            Self::WsEligibility => "Eligibility web service",
            Self::TechSupport => "Technical support requests",
            Self::Consumables => "Consumables ordering",
            Self::TrackingInterface => "Tracking and claims interface",
            Self::Dashboard => "Dashboard",
            Self::PassPartner => "Colissimo Pass partner information",
            Self::DeliverySimplicite => "\"Simplicité\" mobile delivery solution",
            Self::DeliveryFlexibilite => "\"Flexibilité\" delivery solution",
            Self::RecipientNotifications => "Recipient notification settings",
            Self::TariffConditions => "Tariff conditions",
            Self::CustomerServiceChat => "Customer service chat",
            Self::AccountGroups => "Account groups",
            Self::Collection => "Collection management",
            Self::SiteAccess => "Site access",
            Self::OrderCreate => "Order creation",
            Self::OrderValidate => "Order validation",
            Self::AddressManage => "Address management",
        }
    }
    /// Rights an advanced user may hold on a link (seed 000 §1, §5.1, §9).
    pub fn for_advanced(self) -> bool {
        matches!(
            self,
            Self::WsPostage
                | Self::Coliship
                | Self::WsPickupPoint
                | Self::WsTracking
                | Self::WsEligibility
                | Self::TechSupport
        )
    }
    /// Rights of the standard catalogue (seed 000 §4, seed 004 §3).
    pub fn for_standard(self) -> bool {
        !matches!(
            self,
            Self::WsPostage | Self::WsPickupPoint | Self::WsEligibility
        )
    }
    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
    pub fn from_id(id: &str) -> Option<Right> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }
}

/// One grantable item: a checkbox of the seeds' forms, a CSV column, an entry in a rights list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Grant {
    Plain(Right),
    /// Never holds `Scope::NONE` and never a union: one grant per checkbox.
    Scoped(ScopedRight, Scope),
}

impl Grant {
    /// The stable identifier: `ws_postage`, `tracking_tool:own`, …
    pub fn id(self) -> String {
        match self {
            Grant::Plain(r) => r.id().to_owned(),
            Grant::Scoped(r, s) => format!("{}:{}", r.id(), s.name()),
        }
    }
    /// The French label, as the seed words it.
    pub fn label(self) -> String {
        match self {
            Grant::Plain(r) => r.label().to_owned(),
            Grant::Scoped(ScopedRight::Invoices, s) => {
                let what = match s {
                    Scope::OWN => "les pièces du contact",
                    Scope::GROUP => "les pièces du service",
                    _ => "toutes les pièces",
                };
                format!("{} ({what})", ScopedRight::Invoices.label())
            }
            Grant::Scoped(r, s) => format!("{} : {}", r.label(), scope_label(s)),
        }
    }
    pub fn label_en(self) -> String {
        match self {
            Grant::Plain(r) => r.label_en().to_owned(),
            Grant::Scoped(r, s) => format!("{} ({})", r.label_en(), s.name()),
        }
    }
    pub fn parse(s: &str) -> Result<Grant, FieldError> {
        let s = s.trim();
        if let Some((right, scope)) = s.split_once(':') {
            let r = ScopedRight::ALL
                .into_iter()
                .find(|r| r.id() == right)
                .ok_or_else(|| FieldError::new("rights", format!("unknown right '{right}'")))?;
            let sc = Scope::parse(scope).map_err(|e| FieldError::new("rights", e.reason))?;
            if sc.is_none() {
                return Err(FieldError::new(
                    "rights",
                    format!("'{s}': omit a right to not give it"),
                ));
            }
            Ok(Grant::Scoped(r, sc))
        } else if let Some(r) = Right::from_id(s) {
            Ok(Grant::Plain(r))
        } else if ScopedRight::ALL.iter().any(|r| r.id() == s) {
            Err(FieldError::new(
                "rights",
                format!("'{s}' needs a scope: {s}:own, {s}:group or {s}:all"),
            ))
        } else {
            Err(FieldError::new("rights", format!("unknown right '{s}'")))
        }
    }
    pub fn for_advanced(self) -> bool {
        match self {
            Grant::Plain(r) => r.for_advanced(),
            Grant::Scoped(..) => true,
        }
    }
    pub fn for_standard(self) -> bool {
        match self {
            Grant::Plain(r) => r.for_standard(),
            // Standard users get the tool with customer service through the tracking and claims
            // interface, and invoices/documents through the visibility setting.
            Grant::Scoped(r, _) => r != ScopedRight::TrackingTool,
        }
    }
}

/// Every web-service right and every tool on the `all` scope, by id: what the demo's trusted
/// advanced user gets, and what the test kit's fixture accounts are entitled to.
pub const EVERY_SERVICE_AND_TOOL: [&str; 7] = [
    "ws_postage",
    "ws_tracking",
    "ws_pickup_point",
    "ws_eligibility",
    "tracking_tool:all",
    "tracking_tool_cs:all",
    "invoices:all",
];

/// The checkboxes of the advanced-user form (seed 000 §5.1), in the form's order, with the CSV
/// column header each one has in the import template.
pub const ADVANCED_GRANTS: [(Grant, &str); 15] = [
    (
        Grant::Plain(Right::WsPostage),
        "WEB SERVICE AFFRANCHISSEMENT",
    ),
    (Grant::Plain(Right::Coliship), "INTERFACE COLISHIP"),
    (
        Grant::Plain(Right::WsPickupPoint),
        "WEB SERVICE POINT DE LIVRAISON",
    ),
    (Grant::Plain(Right::WsTracking), "WEB SERVICE SUIVI"),
    (
        Grant::Scoped(ScopedRight::TrackingTool, Scope::OWN),
        "SUIVI CLE UTILISATEUR",
    ),
    (
        Grant::Scoped(ScopedRight::TrackingTool, Scope::GROUP),
        "SUIVI TAG UTILISATEUR",
    ),
    (
        Grant::Scoped(ScopedRight::TrackingTool, Scope::ALL),
        "SUIVI CONSOLIDE",
    ),
    (
        Grant::Scoped(ScopedRight::TrackingToolCs, Scope::OWN),
        "SUIVI SC CLE UTILISATEUR",
    ),
    (
        Grant::Scoped(ScopedRight::TrackingToolCs, Scope::GROUP),
        "SUIVI SC TAG UTILISATEUR",
    ),
    (
        Grant::Scoped(ScopedRight::TrackingToolCs, Scope::ALL),
        "SUIVI SC CONSOLIDE",
    ),
    (
        Grant::Plain(Right::WsEligibility),
        "WEB SERVICE ELIGIBILITE",
    ),
    (
        Grant::Scoped(ScopedRight::Invoices, Scope::OWN),
        "FACTURES CONTACT",
    ),
    (
        Grant::Scoped(ScopedRight::Invoices, Scope::GROUP),
        "FACTURES SERVICE",
    ),
    (
        Grant::Scoped(ScopedRight::Invoices, Scope::ALL),
        "FACTURES TOUTES",
    ),
    (Grant::Plain(Right::TechSupport), "SUPPORT TECHNIQUE"),
];

/// A set of rights: plain rights as bits 0–31, scoped rights as three bits each from bit 32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RightSet(u64);

/// The delegation rule refused a grant; names the right (seed 000 §5.2: "le droit concerné est
/// précisé").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Vous ne pouvez pas donner le droit {label} ({id})")]
pub struct DelegationError {
    pub id: String,
    pub label: String,
}

impl RightSet {
    pub const EMPTY: RightSet = RightSet(0);

    pub fn from_bits(bits: u64) -> RightSet {
        let mut out = RightSet(bits & Self::plain_mask());
        for r in ScopedRight::ALL {
            out = out.with_scope(r, Scope::from_bits(((bits >> r.shift()) & 0b111) as u8));
        }
        out
    }
    pub fn bits(self) -> u64 {
        self.0
    }
    fn plain_mask() -> u64 {
        Right::ALL.iter().fold(0, |m, r| m | r.bit())
    }
    /// Everything: what an account can be entitled to at most.
    pub fn everything() -> RightSet {
        let mut s = RightSet(Self::plain_mask());
        for r in ScopedRight::ALL {
            s = s.with_scope(r, Scope::ALL);
        }
        s
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn has(self, r: Right) -> bool {
        self.0 & r.bit() != 0
    }
    pub fn scope(self, r: ScopedRight) -> Scope {
        Scope(((self.0 >> r.shift()) & 0b111) as u8)
    }
    pub fn with(self, r: Right) -> RightSet {
        RightSet(self.0 | r.bit())
    }
    pub fn without(self, r: Right) -> RightSet {
        RightSet(self.0 & !r.bit())
    }
    /// Replaces the scope of `r`.
    pub fn with_scope(self, r: ScopedRight, s: Scope) -> RightSet {
        let cleared = self.0 & !(0b111u64 << r.shift());
        RightSet(cleared | (u64::from(s.normalised().0) << r.shift()))
    }
    pub fn grant(self, g: Grant) -> RightSet {
        match g {
            Grant::Plain(r) => self.with(r),
            Grant::Scoped(r, s) => self.with_scope(r, self.scope(r).union(s)),
        }
    }
    pub fn has_grant(self, g: Grant) -> bool {
        match g {
            Grant::Plain(r) => self.has(r),
            Grant::Scoped(r, s) => self.scope(r).covers(s),
        }
    }

    /// **The effective-rights rule** (SPEC §3): a user's rights on an account are the link's
    /// rights intersected with the account's current entitlements.
    pub fn effective(link: RightSet, entitlements: RightSet) -> RightSet {
        let mut out = RightSet(link.0 & entitlements.0 & Self::plain_mask());
        for r in ScopedRight::ALL {
            out = out.with_scope(r, link.scope(r).meet(entitlements.scope(r)));
        }
        out
    }

    /// Whether `self` holds everything in `other`.
    pub fn covers(self, other: RightSet) -> bool {
        other.0 & Self::plain_mask() & !self.0 == 0
            && ScopedRight::ALL
                .into_iter()
                .all(|r| self.scope(r).covers(other.scope(r)))
    }

    /// **The delegation rule** (seed 000 §5.2): an admin can grant only rights its own account
    /// holds. Returns the first right in `granted` (in catalogue order) that `holder` lacks.
    pub fn check_delegation(granted: RightSet, holder: RightSet) -> Result<(), DelegationError> {
        match granted.grants().find(|g| !holder.has_grant(*g)) {
            None => Ok(()),
            Some(g) => Err(DelegationError {
                id: g.id(),
                label: g.label(),
            }),
        }
    }

    /// The grants of this set, in catalogue order (plain rights, then each scoped right).
    pub fn grants(self) -> impl Iterator<Item = Grant> {
        let plain = Right::ALL
            .into_iter()
            .filter(move |r| self.has(*r))
            .map(Grant::Plain);
        let scoped = ScopedRight::ALL
            .into_iter()
            .flat_map(move |r| self.scope(r).parts().map(move |s| Grant::Scoped(r, s)));
        plain.chain(scoped)
    }

    pub fn ids(self) -> Vec<String> {
        self.grants().map(Grant::id).collect()
    }

    /// Parses a list of right identifiers; the error names the bad entry.
    pub fn parse_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<RightSet, FieldError> {
        ids.into_iter().try_fold(RightSet::EMPTY, |set, id| {
            Grant::parse(id).map(|g| set.grant(g))
        })
    }

    /// Canonical text form for storage: comma-separated ids.
    pub fn to_db(self) -> String {
        self.ids().join(",")
    }
    pub fn from_db(s: &str) -> Result<RightSet, FieldError> {
        Self::parse_ids(s.split(',').filter(|p| !p.trim().is_empty()))
    }

    /// Only the rights an advanced user may hold; the first other one is named in the error.
    pub fn check_advanced(self) -> Result<(), FieldError> {
        match self.grants().find(|g| !g.for_advanced()) {
            None => Ok(()),
            Some(g) => Err(FieldError::new(
                "rights",
                format!(
                    "'{}' is a standard-user right and cannot be given to an advanced user",
                    g.id()
                ),
            )),
        }
    }
    /// Only the rights of the standard catalogue.
    pub fn check_standard(self) -> Result<(), FieldError> {
        match self.grants().find(|g| !g.for_standard()) {
            None => Ok(()),
            Some(g) => Err(FieldError::new(
                "rights",
                format!(
                    "'{}' is an advanced-user right and cannot be given to a standard user",
                    g.id()
                ),
            )),
        }
    }
}

impl fmt::Debug for RightSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.grants().map(Grant::id)).finish()
    }
}

impl Serialize for RightSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.grants().map(Grant::id))
    }
}

impl<'de> Deserialize<'de> for RightSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ids = Vec::<String>::deserialize(d)?;
        RightSet::parse_ids(ids.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
