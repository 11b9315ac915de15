//! The pieces of the console's forms: a labelled field with its error next to it, the rights
//! checkboxes grouped as the seeds group them, and the errors of a refused form.
//!
//! Accessibility: every field has its `<label>`; a field in error says so in words
//! ("Erreur :") next to the field, is marked `aria-invalid` and points at its message with
//! `aria-describedby`; required fields are marked `*` and `required`.

use maud::{html, Markup};
use sesame_domain::rights::{Grant, Right, Scope, ScopedRight};
use sesame_domain::RightSet;

use super::session::Visitor;
use crate::error::ApiError;

/// The errors of a refused form: each next to its field, or at the top when no field of the
/// form is at fault.
#[derive(Default)]
pub struct Errors {
    fields: Vec<(String, String)>,
    pub general: Option<String>,
}

impl Errors {
    pub fn none() -> Errors {
        Errors::default()
    }
    /// Classifies `e` for a form whose fields are `fields` (the API's field names).
    pub fn from_api(v: &Visitor, e: &ApiError, fields: &[&str]) -> Errors {
        let message = v.lang.error(e);
        match e.field() {
            Some(f) if fields.contains(&f) => Errors {
                fields: vec![(f.to_owned(), message)],
                general: None,
            },
            _ => Errors {
                fields: Vec::new(),
                general: Some(message),
            },
        }
    }
    /// `message` next to `field` (a refusal from elsewhere than the API, e.g. the carrier's).
    pub fn on(field: &str, message: &str) -> Errors {
        Errors {
            fields: vec![(field.to_owned(), message.to_owned())],
            general: None,
        }
    }
    /// `message` at the top of the form.
    pub fn general(message: &str) -> Errors {
        Errors {
            fields: Vec::new(),
            general: Some(message.to_owned()),
        }
    }
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
    /// The summary at the top of the form.
    pub fn summary(&self, v: &Visitor) -> Markup {
        html! {
            @if let Some(g) = &self.general {
                (super::layout::form_error(v, g))
            } @else if !self.fields.is_empty() {
                (super::layout::form_error(v, v.t("le formulaire contient une erreur, signalée à côté du champ concerné.", "the form has an error, shown next to its field.")))
            }
        }
    }
}

/// One input with its label; `kind` is the input type (`text`, `email`, `password`, `tel`…).
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub required: bool,
    pub kind: &'a str,
    /// `autocomplete` hint (passwords, e-mail…), if any.
    pub autocomplete: Option<&'a str>,
    /// The page opens with the focus here (the first field of a sign-in form).
    pub autofocus: bool,
}

impl<'a> Field<'a> {
    pub fn text(name: &'a str, label: &'a str, value: &'a str, required: bool) -> Field<'a> {
        Field {
            name,
            label,
            value,
            required,
            kind: "text",
            autocomplete: None,
            autofocus: false,
        }
    }
    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }
    pub fn autocomplete(mut self, a: &'a str) -> Self {
        self.autocomplete = Some(a);
        self
    }
    pub fn autofocus(mut self) -> Self {
        self.autofocus = true;
        self
    }
    pub fn render(&self, v: &Visitor, errors: &Errors) -> Markup {
        let id = format!("f-{}", self.name);
        let err_id = format!("{id}-error");
        let error = errors.of(self.name);
        html! {
            div.field.invalid[error.is_some()] {
                label for=(id) {
                    (self.label)
                    @if self.required { abbr title=(v.t("obligatoire", "required")) { "*" } }
                }
                input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                    required[self.required]
                    autofocus[self.autofocus]
                    autocomplete=[self.autocomplete]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| err_id.as_str())];
                @if let Some(m) = error {
                    p.field-error id=(err_id) { strong { (v.t("Erreur", "Error")) " : " } (m) }
                }
            }
        }
    }
}

/// A group of checkboxes of the rights form, with a subgroup heading where the seed has one.
struct Group {
    fr: &'static str,
    en: &'static str,
    sub: &'static [(&'static str, &'static str, &'static [Grant])],
}

const fn p(r: Right) -> Grant {
    Grant::Plain(r)
}
const fn sc(r: ScopedRight, s: Scope) -> Grant {
    Grant::Scoped(r, s)
}

/// The "Langue" preference: the switch's two links, as a tile.
pub fn preferences(v: &Visitor) -> Markup {
    let back = super::url_encode(&v.here);
    html! {
        h2 { (v.t("Vos préférences", "Your preferences")) }
        p {
            (v.t("Langue", "Language")) " : "
            @for (l, name) in [(super::i18n::Lang::Fr, "Français"), (super::i18n::Lang::En, "English")] {
                @if l == v.lang { strong { (name) } } @else { a href={ "/console/lang/" (l.code()) "?back=" (back) } lang=(l.code()) { (name) } }
                " "
            }
        }
    }
}

use Right as R;
use ScopedRight as S;

/// The advanced-user form's groups (seed 000 §5.1): Livraison, Suivi (without and with the
/// customer service), Eligibilité, Affranchissement, then the other rights an advanced user may
/// hold (invoices, technical support). Every advanced grant appears once (tested).
const ADVANCED: &[Group] = &[
    Group {
        fr: "Livraison",
        en: "Delivery",
        sub: &[("", "", &[p(R::WsPickupPoint)])],
    },
    Group {
        fr: "Suivi",
        en: "Tracking",
        sub: &[
            (
                "Outil de suivi colis sans accès au Service Client",
                "Parcel tracking tool without customer service",
                &[
                    sc(S::TrackingTool, Scope::OWN),
                    sc(S::TrackingTool, Scope::GROUP),
                    sc(S::TrackingTool, Scope::ALL),
                    p(R::WsTracking),
                ],
            ),
            (
                "Outil de suivi colis avec accès au Service Client",
                "Parcel tracking tool with customer service",
                &[
                    sc(S::TrackingToolCs, Scope::OWN),
                    sc(S::TrackingToolCs, Scope::GROUP),
                    sc(S::TrackingToolCs, Scope::ALL),
                ],
            ),
        ],
    },
    Group {
        fr: "Eligibilité",
        en: "Eligibility",
        sub: &[("", "", &[p(R::WsEligibility)])],
    },
    Group {
        fr: "Affranchissement",
        en: "Postage",
        sub: &[("", "", &[p(R::WsPostage), p(R::Coliship)])],
    },
    Group {
        fr: "Factures et support",
        en: "Invoices and support",
        sub: &[(
            "",
            "",
            &[
                sc(S::Invoices, Scope::OWN),
                sc(S::Invoices, Scope::GROUP),
                sc(S::Invoices, Scope::ALL),
                p(R::TechSupport),
            ],
        )],
    },
];

/// The standard-user form's groups (seed 000 §4), then the rights seed 004 adds.
const STANDARD: &[Group] = &[
    Group {
        fr: "Affranchissement et Retour",
        en: "Postage and returns",
        sub: &[("", "", &[p(R::Coliship), p(R::Consumables)])],
    },
    Group {
        fr: "Suivi",
        en: "Tracking",
        sub: &[(
            "",
            "",
            &[
                p(R::TrackingInterface),
                sc(S::TrackingToolCs, Scope::OWN),
                sc(S::TrackingToolCs, Scope::GROUP),
                sc(S::TrackingToolCs, Scope::ALL),
                p(R::WsTracking),
                p(R::Dashboard),
            ],
        )],
    },
    Group {
        fr: "Livraison",
        en: "Delivery",
        sub: &[(
            "",
            "",
            &[
                p(R::PassPartner),
                p(R::DeliverySimplicite),
                p(R::DeliveryFlexibilite),
                p(R::RecipientNotifications),
            ],
        )],
    },
    Group {
        fr: "Mon compte",
        en: "My account",
        sub: &[(
            "",
            "",
            &[
                p(R::TariffConditions),
                sc(S::Invoices, Scope::OWN),
                sc(S::Invoices, Scope::GROUP),
                sc(S::Invoices, Scope::ALL),
                p(R::CustomerServiceChat),
                p(R::AccountGroups),
            ],
        )],
    },
    Group {
        fr: "Collecte",
        en: "Collection",
        sub: &[("", "", &[p(R::Collection)])],
    },
    Group {
        fr: "Autres droits",
        en: "Other rights",
        sub: &[(
            "",
            "",
            &[
                p(R::TechSupport),
                p(R::SiteAccess),
                p(R::OrderCreate),
                p(R::OrderValidate),
                p(R::AddressManage),
            ],
        )],
    },
];

/// Which user the rights form is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Standard,
    Advanced,
}

/// The rights checkboxes ("Droits du compte utilisateur"): `checked` ticked; a right the
/// account does not hold (`grantable`) is shown disabled with a note, never offered.
pub fn rights(
    v: &Visitor,
    audience: Audience,
    checked: RightSet,
    grantable: RightSet,
    errors: &Errors,
) -> Markup {
    let groups = match audience {
        Audience::Standard => STANDARD,
        Audience::Advanced => ADVANCED,
    };
    let error = errors.of("rights");
    html! {
        fieldset.rights aria-describedby=[error.map(|_| "f-rights-error")] {
            legend { (v.t("Droits du compte utilisateur", "User account rights")) }
            @if let Some(m) = error {
                p.field-error #f-rights-error { strong { (v.t("Erreur", "Error")) " : " } (m) }
            }
            @for g in groups {
                fieldset.group {
                    legend { (v.t(g.fr, g.en)) }
                    @for (fr, en, grants) in g.sub {
                        @if !fr.is_empty() { p.sub { (v.t(fr, en)) } }
                        ul.checks {
                            @for grant in *grants {
                                @let id = format!("r-{}", grant.id().replace(':', "-"));
                                @let allowed = grantable.has_grant(*grant);
                                li {
                                    input type="checkbox" id=(id) name="rights" value=(grant.id())
                                        checked[checked.has_grant(*grant)]
                                        disabled[!allowed && !checked.has_grant(*grant)];
                                    label for=(id) {
                                        (checkbox_label(v, *grant))
                                        @if !allowed { " " em { (v.t("(non disponible sur ce compte)", "(not available on this account)")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A checkbox's label: under a subgroup heading, a scoped right shows its scope only (as the
/// seed's form does).
fn checkbox_label(v: &Visitor, g: Grant) -> String {
    match g {
        Grant::Scoped(S::Invoices, _) => v.lang.grant(g),
        Grant::Scoped(_, s) => match v.lang {
            super::i18n::Lang::Fr => sesame_domain::rights::scope_label(s).to_owned(),
            super::i18n::Lang::En => match s {
                Scope::OWN => "Limited to the user key".to_owned(),
                Scope::GROUP => "Limited to the user tag".to_owned(),
                _ => "Consolidated".to_owned(),
            },
        },
        Grant::Plain(_) => v.lang.grant(g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(groups: &[Group]) -> Vec<Grant> {
        groups
            .iter()
            .flat_map(|g| g.sub.iter().flat_map(|(_, _, gs)| gs.iter().copied()))
            .collect()
    }

    #[test]
    fn every_grant_of_each_form_appears_once() {
        let mut adv = all(ADVANCED);
        adv.sort();
        let mut expected: Vec<Grant> = sesame_domain::rights::ADVANCED_GRANTS
            .iter()
            .map(|(g, _)| *g)
            .collect();
        expected.sort();
        assert_eq!(adv, expected);
        let std = all(STANDARD);
        assert!(std.iter().all(|g| g.for_standard()));
        for r in Right::ALL.into_iter().filter(|r| r.for_standard()) {
            assert_eq!(
                std.iter().filter(|g| **g == Grant::Plain(r)).count(),
                1,
                "{r:?}"
            );
        }
    }
}
