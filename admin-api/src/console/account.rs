//! Screen 2: "Mon compte" (seed 000 §3): for the account admin, "Vos informations" (company,
//! account number, user), "Votre contrat", "Vos préférences" (language) and the "Gestion des
//! utilisateurs" entry; for the operator, the way to the back office. A user is sent to its own
//! page, "Editer mon compte" (`portal::my_account`).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use sesame_domain::model::UserKind;
use sesame_store::UserFilter;

use super::layout::{page, OrPage};
use super::session::SignedIn;
use crate::auth::Caller;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/account", get(account))
}

/// The account's main contact (seed 004: created with the account, its details are the
/// company's), if it has one.
pub(crate) async fn main_contact(
    state: &AppState,
    account_id: i64,
) -> crate::error::ApiResult<Option<sesame_domain::model::User>> {
    let (users, _) = state
        .store
        .list_account_users(
            account_id,
            &UserFilter {
                kind: Some(UserKind::Standard),
                q: None,
                offset: 0,
                limit: 200,
                segment_id: None,
            },
        )
        .await?;
    Ok(users
        .into_iter()
        .find(|u| u.user.main_contact)
        .map(|u| u.user))
}

async fn account(
    State(state): State<AppState>,
    SignedIn { v, caller }: SignedIn,
) -> Result<Response, Response> {
    let title = v.t("Mon compte", "My account");
    let body = match caller {
        Caller::Operator => html! {
            p { (v.t("Vous êtes connecté en tant qu'opérateur.", "You are signed in as the operator.")) }
            p { a.button href="/console/back-office" { (v.t("Ouvrir le back office", "Open the back office")) } }
        },
        Caller::Admin { account_id } => {
            let a = state.store.account(account_id).await.or_page(&v)?;
            let contact = main_contact(&state, a.id)
                .await
                .or_page(&v)?
                .map(|u| format!("{} {}", u.profile.first_name, u.profile.last_name));
            html! {
                div.tiles {
                    section.tile {
                        h2 { (v.t("Vos informations", "Your details")) }
                        dl.facts {
                            dt { (v.t("Société", "Company")) } dd { (a.company) }
                            dt { (v.t("Compte client", "Customer account")) } dd { (a.number) }
                            dt { (v.t("Utilisateur", "User")) } dd { (contact.unwrap_or_else(|| v.t("Administrateur", "Administrator").to_owned())) }
                        }
                    }
                    section.tile {
                        h2 { (v.t("Votre contrat", "Your contract")) }
                        dl.facts {
                            dt { (v.t("Contrat", "Contract")) } dd { (a.contract_type) }
                            dt { (v.t("Services du contrat", "Contract services")) }
                            dd { ul { @for g in a.entitlements.grants() { li { (v.lang.grant(g)) } } } }
                        }
                    }
                    section.tile {
                        (super::widgets::preferences(&v))
                    }
                    section.tile.primary {
                        h2 { a href="/console/users" { (v.t("Gestion des utilisateurs", "User management")) } }
                        p { (v.t("Les utilisateurs standards et avancés de votre compte : ajout, import, association, droits, export.", "Your account's standard and advanced users: add, import, associate, rights, export.")) }
                    }
                }
            }
        }
        // A user's own page is "Editer mon compte" (the portal).
        Caller::User { .. } | Caller::Impersonating { .. } => {
            return Ok(Redirect::to(super::portal::my_account::PATH).into_response())
        }
    };
    Ok(page(&v, title, body))
}
