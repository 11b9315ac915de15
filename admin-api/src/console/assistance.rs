//! The banner of an impersonation ("Connexion à l'espace client", seed 004 §4): every page
//! says who is acting, that it is audited, and (for the operator's) offers to end it
//! (`back_office::impersonation`). Rendered by `layout` on every page.

use maud::{html, Markup};

use super::csrf;
use super::session::Visitor;
use crate::auth::Caller;

/// The banner every page shows during an impersonation: who is acting, that it is audited,
/// and (for the operator's) the button that ends it. Said in words, not by colour alone.
pub fn banner(v: &Visitor) -> Markup {
    match v.caller {
        Some(Caller::Impersonating {
            user_id,
            by_operator,
            ..
        }) => html! {
            div.impersonation role="status" {
                strong { "⚠ " (v.t("Session d'assistance", "Assistance session")) } " — "
                (v.t("vous êtes connecté à l'espace client de l'utilisateur", "you are in the customer area of user"))
                " #" (user_id) ", "
                @if by_operator { (v.t("ouverte par l'opérateur", "opened by the operator")) } @else { (v.t("ouverte par l'administrateur du compte", "opened by the account admin")) }
                ". " (v.t("Chaque action est journalisée.", "Every action is audited."))
                @if by_operator {
                    form.inline method="post" action="/console/back-office/impersonation/end" {
                        input type="hidden" name=(csrf::FIELD) value=(v.csrf);
                        " " button type="submit" { (v.t("Terminer la session d'assistance", "End the assistance session")) }
                    }
                }
            }
        },
        _ => html! {},
    }
}
