//! Invitations: resending one (account admin), and the public confirmation form the e-mail's
//! link opens (`/admin/v1/invitations/{token}`: the token is the credential).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Millis, User};
use sesame_domain::secrets::check_password_policy;
use sesame_domain::{AccountNumber, Login, RightSet, Tag, UserKey};
use sesame_store::StoreError;

use super::table::Routes;
use crate::auth::{account_for, Caller};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::forms::{check_new_password, lang_of, parse_id, ProfileEdit};
use crate::openapi::{lang, obj, op, profile_props, s, ADMIN, PUBLIC_TOKEN};
use crate::views::{created, ok, rights_detail, ProfileView, Res, RightView, SentView, UserView};
use crate::{html, mail, AppState};

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/accounts/{n}/users/{id}/invitation",
        post(resend_invitation),
        [op("post", "Resend the invitation (new 48 h link; lang)", ADMIN, None, 200)],
    )
    .route(
        "/admin/v1/invitations/{token}",
        get(get_invitation).post(accept_invitation),
        [
            op("get", "The confirmation form, pre-filled with the admin's data", PUBLIC_TOKEN, None, 200),
            op("post", "Complete the invitation: login and password (+ corrections); returns the connection key once", PUBLIC_TOKEN, Some("Accept"), 201),
        ],
    )
    .schemas([(
        "Accept",
        obj(
            &["login", "password", "passwordConfirmation"],
            &profile_props(&[
                ("login", s("string")),
                ("password", s("string")),
                ("passwordConfirmation", s("string")),
                ("lang", lang()),
            ]),
        ),
    )])
}

/// Mails `u` its invitation from `company`: where it went, whether it was queued.
pub async fn send(
    state: &AppState,
    u: &User,
    company: &str,
    token: &str,
    lang: &str,
    expires_at: Millis,
) -> SentView {
    let (sent_to, queued) =
        mail::send_invitation(&state.store, &state.cfg.public_url, u, company, token, lang).await;
    SentView {
        expires_at,
        sent_to,
        queued,
    }
}

async fn resend_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    q: Query,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, q.str("lang"))?;
    let (u, inv, token) = state
        .store
        .resend_invitation(caller.actor(), a.id, parse_id(&id)?)
        .await?;
    ok(send(&state, &u, &a.company, &token, &lang, inv.expires_at).await)
}

/// The invitation's own words for a link that no longer works.
fn invitation_error(e: StoreError) -> ApiError {
    match ApiError::from(e) {
        ApiError::NotFound(_) => ApiError::NotFound("invitation"),
        ApiError::Expired(_) => ApiError::InvitationExpired,
        ApiError::AlreadyUsed(_) => ApiError::InvitationUsed,
        other => other,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvitedUser {
    profile: ProfileView,
    tag: Option<Tag>,
    user_key: Option<UserKey>,
}

#[derive(Serialize)]
struct AccountRef {
    number: AccountNumber,
    company: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvitationView {
    user: InvitedUser,
    account: AccountRef,
    rights: Vec<RightView>,
    expires_at: i64,
}

async fn get_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Res {
    let found = state.store.invitation_by_token(&token).await;
    html::token_page(
        &headers,
        found.map_err(invitation_error),
        |(inv, u), browser| async move {
            let a = state.store.account(inv.account_id).await?;
            if browser {
                let labels: Vec<String> = inv.rights.grants().map(|g| g.label()).collect();
                return Ok(html::invitation_page(&a.company, &u.profile, &labels));
            }
            ok(InvitationView {
                user: InvitedUser {
                    profile: ProfileView::from(&u.profile),
                    tag: state.store.link(u.id, inv.account_id).await?.tag,
                    user_key: u.user_key,
                },
                account: AccountRef {
                    number: a.number,
                    company: a.company,
                },
                rights: rights_detail(inv.rights),
                expires_at: inv.expires_at,
            })
        },
    )
    .await
}

/// The confirmation form: login and password, and corrections to what the admin entered.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AcceptIn {
    login: Login,
    password: String,
    password_confirmation: String,
    #[serde(flatten, deserialize_with = "crate::extract::flattened")]
    profile: ProfileEdit,
    lang: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkedAccount {
    number: AccountNumber,
    company: String,
    rights: RightSet,
    rights_detail: Vec<RightView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    user: UserView,
    user_key: Option<UserKey>,
    connection_key: String,
    connection_key_notice: &'static str,
    accounts: [LinkedAccount; 1],
}

async fn accept_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<AcceptIn>,
) -> Res {
    let lang = lang_of(&state, b.lang.as_deref())?;
    check_new_password(&b.password, &b.password_confirmation)?;
    let (_inv, u) = state
        .store
        .invitation_by_token(&token)
        .await
        .map_err(invitation_error)?;
    let profile = b.profile.apply(&u.profile)?;
    check_password_policy(&b.password)?;
    let act = state
        .store
        .accept_invitation(&token, &b.login, &b.password, Some(profile))
        .await
        .map_err(invitation_error)?;
    let a = state.store.account(act.account_id).await?;
    mail::notify_rights(&state.store, &act.user, &a.company, act.rights, &lang).await;
    created(Accepted {
        user: UserView::new(&act.user, None),
        user_key: act.user.user_key,
        connection_key: act.connection_key.expose().to_owned(),
        connection_key_notice: "Cette clé de connexion n'est affichée qu'une fois : conservez-la. This connection key is shown only once.",
        accounts: [LinkedAccount {
            number: a.number,
            company: a.company,
            rights: act.rights,
            rights_detail: rights_detail(act.rights),
        }],
    })
}
