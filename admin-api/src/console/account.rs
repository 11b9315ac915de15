//! Screen 2: "Mon compte" (seed 000 §3): for the account admin, "Vos informations" (company,
//! account number, user), "Votre contrat", "Vos préférences" (language) and the "Gestion des
//! utilisateurs" entry; for a user, its details, its user key and its rights per account; for
//! the operator, the way to the back office.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use sesame_domain::model::UserKind;
use sesame_domain::RightSet;
use sesame_store::UserFilter;

use super::i18n::Lang;
use super::layout::{page, OrPage};
use super::session::{SignedIn, Visitor};
use crate::auth::Caller;
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/console/account", get(account))
}

/// The "Langue" preference: the switch's two links, as a tile.
fn preferences(v: &Visitor) -> Markup {
    let back = super::url_encode(&v.here);
    html! {
        h2 { (v.t("Vos préférences", "Your preferences")) }
        p {
            (v.t("Langue", "Language")) " : "
            @for (l, name) in [(Lang::Fr, "Français"), (Lang::En, "English")] {
                @if l == v.lang { strong { (name) } } @else { a href={ "/console/lang/" (l.code()) "?back=" (back) } lang=(l.code()) { (name) } }
                " "
            }
        }
    }
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
            let (main, _) = state
                .store
                .list_account_users(
                    a.id,
                    &UserFilter {
                        kind: Some(UserKind::Standard),
                        q: None,
                        offset: 0,
                        limit: 200,
                    },
                )
                .await
                .or_page(&v)?;
            let contact = main
                .iter()
                .find(|u| u.user.main_contact)
                .map(|u| format!("{} {}", u.user.profile.first_name, u.user.profile.last_name));
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
                        (preferences(&v))
                    }
                    section.tile.primary {
                        h2 { a href="/console/users" { (v.t("Gestion des utilisateurs", "User management")) } }
                        p { (v.t("Les utilisateurs standards et avancés de votre compte : ajout, import, association, droits, export.", "Your account's standard and advanced users: add, import, associate, rights, export.")) }
                    }
                }
            }
        }
        Caller::User { user_id } | Caller::Impersonating { user_id, .. } => {
            let u = state.store.user(user_id).await.or_page(&v)?;
            let mut accounts = Vec::new();
            for l in state.store.links_of_user(user_id).await.or_page(&v)? {
                let a = state.store.account(l.account_id).await.or_page(&v)?;
                accounts.push((
                    a.number,
                    a.company,
                    RightSet::effective(l.rights, a.entitlements),
                ));
            }
            let p = &u.profile;
            html! {
                section {
                    h2 { (v.t("Informations du compte utilisateur", "User account details")) }
                    dl.facts {
                        dt { (v.t("Nom", "Last name")) } dd { (p.last_name) }
                        dt { (v.t("Prénom", "First name")) } dd { (p.first_name) }
                        dt { (v.t("Email", "E-mail")) } dd { (p.email.as_ref().map(|e| e.as_str()).unwrap_or("")) }
                        dt { (v.t("Identifiant", "Login")) } dd { (u.login.as_ref().map(|l| l.as_str()).unwrap_or("")) }
                        @if let Some(k) = u.user_key {
                            dt { (v.t("Clé utilisateur", "User key")) } dd { code.key { (k) } }
                        }
                    }
                    @if u.user_key.is_some() {
                        p.muted { (v.t("La clé utilisateur est à communiquer à un administrateur de compte pour qu'il vous associe à son compte.", "Give your user key to an account admin so they can associate you with their account.")) }
                    }
                }
                section {
                    h2 { (v.t("Droits sur les comptes", "Rights per account")) }
                    table {
                        thead { tr { th scope="col" { (v.t("Compte", "Account")) } th scope="col" { (v.t("Société", "Company")) } th scope="col" { (v.t("Droits", "Rights")) } } }
                        tbody {
                            @for (n, c, r) in &accounts {
                                tr { td { (n) } td { (c) } td { ul { @for g in r.grants() { li { (v.lang.grant(g)) } } } } }
                            }
                        }
                    }
                }
                (preferences(&v))
            }
        }
    };
    Ok(page(&v, title, body))
}
