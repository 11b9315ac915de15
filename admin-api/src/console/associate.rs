//! Screen 4 (continued): "Associer un utilisateur avancé" (seed 000 §6): search by user key
//! only, the identity shown read-only to make sure it is the right person, then the rights
//! form. The key travels in posted forms, never in a URL (URLs end up in logs and history).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use sesame_domain::model::{Account, User, UserKind};
use sesame_domain::{RightSet, UserKey};

use super::form::{through_api, Fields, Form};
use super::layout::{csrf_field, page_with, see_other, OrPage};
use super::session::{SignedIn, Visitor};
use super::widgets::{rights, Audience, Errors, Field};
use crate::error::ApiError;
use crate::routes::links::{associate_user, AssociateIn};
use crate::AppState;

pub fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(
        "/console/advanced-users/associate",
        get(search_page).post(associate),
    )
    .route("/console/advanced-users/associate/search", post(search))
}

fn page(
    v: &Visitor,
    status: StatusCode,
    key: &str,
    found: Option<(&User, RightSet)>,
    a: &Account,
    errors: &Errors,
) -> Response {
    let body = html! {
        p { (v.t("Renseignez la clé utilisateur fournie par votre utilisateur afin de lui donner les droits souhaités. La recherche se fait uniquement par clé utilisateur ; les utilisateurs standards ne peuvent pas être associés.", "Enter the user key your user gave you to grant them rights. The search is by user key only; standard users cannot be associated.")) }
        (errors.summary(v))
        form method="post" action="/console/advanced-users/associate/search" novalidate {
            (csrf_field(v))
            (Field::text("userKey", v.t("Clé utilisateur", "User key"), key, true).autocomplete("off").render(v, errors))
            div.actions { button type="submit" { (v.t("Rechercher", "Search")) } }
        }
        @if let Some((u, checked)) = found {
            @let p = &u.profile;
            section {
                h2 { (v.t("Informations du compte utilisateur & droits du compte", "User account details & rights")) }
                dl.facts {
                    dt { (v.t("Nom", "Last name")) } dd { (p.last_name) }
                    dt { (v.t("Prénom", "First name")) } dd { (p.first_name) }
                    dt { (v.t("Fonction", "Job title")) } dd { (p.function) }
                    dt { (v.t("Email", "E-mail")) } dd { (p.email.as_ref().map(|e| e.as_str()).unwrap_or("")) }
                    dt { (v.t("Téléphone", "Phone")) } dd { (p.phone) }
                    dt { (v.t("Adresse géographique", "Street address")) } dd { (p.address) }
                    dt { (v.t("Code postal", "Postal code")) } dd { (p.postal_code) }
                    dt { (v.t("Ville", "City")) } dd { (p.city) }
                }
                form method="post" action="/console/advanced-users/associate" novalidate {
                    (csrf_field(v))
                    input type="hidden" name="userKey" value=(key);
                    // Tags are per link: this account's admin gives its own (seed 000 §7).
                    (Field::text("tag", v.t("Tag utilisateur", "User tag"), "", false).render(v, errors))
                    (rights(v, Audience::Advanced, checked, a.entitlements, errors))
                    p { (v.t("En finalisant cette étape, l'utilisateur recevra un e-mail lui signifiant les droits dont il bénéficie.", "Once done, the user receives an e-mail listing their rights.")) }
                    div.actions {
                        button type="submit" { (v.t("Enregistrer", "Save")) }
                        a.button.secondary href="/console/users" { (v.t("Retour à la liste sans sauvegarde", "Back to the list without saving")) }
                    }
                }
            }
        }
    };
    page_with(
        v,
        status,
        v.t(
            "Associer un utilisateur avancé",
            "Associate an advanced user",
        ),
        body,
    )
}

async fn search_page(State(state): State<AppState>, s: SignedIn) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    Ok(page(&s.v, StatusCode::OK, "", None, &a, &Errors::none()))
}

/// The advanced user of `key`: unknown, malformed and standard alike are "not found".
async fn find(state: &AppState, key: &str) -> Result<User, ApiError> {
    let not_found = || ApiError::invalid("userKey", "userKey: no advanced user has this key");
    let key = UserKey::parse(key).map_err(|_| not_found())?;
    match state.store.find_advanced_by_user_key(&key).await {
        Ok(u) if u.kind == UserKind::Advanced => Ok(u),
        Ok(_) | Err(sesame_store::StoreError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn search(
    State(state): State<AppState>,
    s: SignedIn,
    Form { fields, .. }: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let key = fields.get("userKey").unwrap_or("");
    match find(&state, key).await {
        Ok(u) => Ok(page(
            &s.v,
            StatusCode::OK,
            key,
            Some((&u, RightSet::EMPTY)),
            &a,
            &Errors::none(),
        )),
        Err(e) => Ok(page(
            &s.v,
            e.status(),
            key,
            None,
            &a,
            &Errors::from_api(&s.v, &e, &["userKey"]),
        )),
    }
}

async fn associate(
    State(state): State<AppState>,
    s: SignedIn,
    Form { fields, .. }: Form,
) -> Result<Response, Response> {
    let a = s.account(&state).await.or_page(&s.v)?;
    let v = &s.v;
    let mut json = fields.to_json(&["userKey", "tag"], &["rights"]);
    // No tag typed: the link has none (an empty one is not a tag).
    if let Some(o) = json.as_object_mut() {
        if o.get("tag")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.trim().is_empty())
        {
            o.remove("tag");
        }
    }
    Fields::set(&mut json, "lang", v.lang.code());
    let result = through_api(&json, |input: AssociateIn| {
        associate_user(&state, &s.caller, &a, input)
    })
    .await;
    match result {
        Ok(_) => Ok(see_other("/console/users?done=associated")),
        Err(e) => {
            let key = fields.get("userKey").unwrap_or("");
            let found = find(&state, key).await.ok();
            let checked = super::user_form::ticked(&fields);
            Ok(page(
                v,
                e.status(),
                key,
                found.as_ref().map(|u| (u, checked)),
                &a,
                &Errors::from_api(v, &e, &["userKey", "rights"]),
            ))
        }
    }
}
