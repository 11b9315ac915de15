//! What the portal offers a user: the tools it holds on its links, the navigation entries they
//! give, and where it lands after signing in. Read by the session (every page's frame), so it
//! depends on no screen's types.

use maud::{html, Markup};
use sesame_domain::{Right, ScopedRight};

use crate::auth::Caller;
use crate::console::i18n::Lang;
use crate::error::ApiResult;
use crate::AppState;

/// The tools a user holds on at least one of its links (effective rights: link ∩ the
/// account's entitlements, the gateway's own view): what the navigation offers.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Tools {
    /// `tracking_tool` or `tracking_tool_cs` on some link: "Suivi colis".
    pub tracking: bool,
    /// `tracking_tool_cs` on some link: the customer-service claim on a parcel's sheet.
    pub claims: bool,
    /// `invoices` on some link: "Mes factures".
    pub invoices: bool,
    /// `coliship` on some link: "Coliship".
    pub coliship: bool,
}

impl Tools {
    /// The tools of the user behind `caller` (none for the operator or an account admin).
    pub async fn of(state: &AppState, caller: &Caller) -> ApiResult<Tools> {
        let user_id = match *caller {
            Caller::User { user_id } | Caller::Impersonating { user_id, .. } => user_id,
            Caller::Operator | Caller::Admin { .. } => return Ok(Tools::default()),
        };
        let Some(p) = state.store.principal_by_user(user_id).await? else {
            return Ok(Tools::default());
        };
        let mut t = Tools::default();
        for l in &p.links {
            let cs = !l.rights.scope(ScopedRight::TrackingToolCs).is_none();
            t.tracking |= cs || !l.rights.scope(ScopedRight::TrackingTool).is_none();
            t.claims |= cs;
            t.invoices |= !l.rights.scope(ScopedRight::Invoices).is_none();
            t.coliship |= l.rights.has(Right::Coliship);
        }
        Ok(t)
    }
}

/// A portal entry of the navigation: its path, French and English names, and whether a user
/// with these tools gets it. A screen adds its line when it lands (no entry without a screen).
type Entry = (&'static str, &'static str, &'static str, fn(&Tools) -> bool);

const ENTRIES: &[Entry] = &[
    ("/console/suivi", "Suivi colis", "Parcel tracking", |t| {
        t.tracking
    }),
    ("/console/factures", "Mes factures", "My invoices", |t| {
        t.invoices
    }),
    ("/console/coliship", "Coliship", "Coliship", |t| t.coliship),
];

/// The portal's entries of the navigation, for a signed-in user with `tools`.
pub fn nav(tools: &Tools, lang: Lang) -> Markup {
    html! {
        @for (href, fr, en, shown) in ENTRIES {
            @if shown(tools) {
                a href=(href) { (lang.t(fr, en)) }
            }
        }
        // Every user has its account page; not a landing (an account admin has no tool either,
        // and lands on its own "Mon compte").
        a href=(super::my_account::PATH) { (lang.t("Editer mon compte", "Edit my account")) }
    }
}

/// Where a user lands after signing in: its first tool ("Suivi colis"), else its account page.
pub fn landing(tools: &Tools) -> &'static str {
    ENTRIES
        .iter()
        .find(|(_, _, _, shown)| shown(tools))
        .map_or("/console/account", |e| e.0)
}
