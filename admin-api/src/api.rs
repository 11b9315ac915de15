//! The handlers of SPEC §5.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sesame_domain::model::{
    now_millis, Account, AccountStatus, ImportJob, ImportStatus, User, UserKind, UserStatus,
};
use sesame_domain::rights::{Grant, Right, ADVANCED_GRANTS};
use sesame_domain::secrets::check_password_policy;
use sesame_domain::{AccountNumber, Civility, Email, Login, Profile, RightSet, Tag, UserKey};
use sesame_store::{
    AuditFilter, NewAccount, NewAdvancedUser, NewSession, NewStandardUser, SessionKind, UserFilter,
    UserUpdate,
};

use crate::auth::{account_for, Caller, OperatorOnly};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::{csvio, mail, AppState};

type Res = ApiResult<Response>;

fn ok(v: Value) -> Res {
    Ok(axum::Json(v).into_response())
}
fn created(v: Value) -> Res {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn fmt_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

pub fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id, "number": a.number, "company": a.company, "contractType": a.contract_type,
        "entitlements": a.entitlements, "status": a.status.as_str(), "upstreamLogin": a.upstream_login,
        "createdAt": a.created_at, "updatedAt": a.updated_at,
    })
}

fn profile_json(p: &Profile) -> Value {
    json!({
        "civility": p.civility.map(|c| c.as_str()), "lastName": p.last_name, "firstName": p.first_name,
        "function": p.function, "phone": p.phone, "email": p.email, "fax": p.fax, "address": p.address,
        "postalCode": p.postal_code, "city": p.city, "country": p.country,
    })
}

pub fn user_json(u: &User, rights: Option<RightSet>) -> Value {
    let mut v = profile_json(&u.profile);
    v["id"] = json!(u.id);
    v["kind"] = json!(u.kind.as_str());
    v["status"] = json!(u.status.as_str());
    v["login"] = json!(u.login);
    v["tag"] = json!(u.tag);
    v["departmentId"] = json!(u.department_id);
    v["userKey"] = json!(u.user_key);
    v["mainContact"] = json!(u.main_contact);
    v["createdAt"] = json!(u.created_at);
    v["updatedAt"] = json!(u.updated_at);
    if let Some(r) = rights {
        v["rights"] = json!(r);
    }
    v
}

fn rights_detail(r: RightSet) -> Value {
    Value::Array(
        r.grants()
            .map(|g| json!({"id": g.id(), "label": g.label(), "labelEn": g.label_en()}))
            .collect(),
    )
}

fn job_json(j: &ImportJob) -> Value {
    json!({
        "id": j.id, "status": j.status.as_str(), "fileName": j.file_name, "totalLines": j.total_lines,
        "processedLines": j.processed_lines, "okLines": j.ok_lines,
        "errorLines": j.processed_lines - j.ok_lines,
        "progress": if j.total_lines > 0 { (j.processed_lines * 100) / j.total_lines } else { 100 },
        "createdAt": j.created_at, "finishedAt": j.finished_at,
        "resultAvailableUntil": j.finished_at.map(|_| j.expires_at),
    })
}

fn lang_of(state: &AppState, lang: Option<&str>) -> ApiResult<String> {
    match lang {
        None => Ok(state.cfg.default_lang.clone()),
        Some(l) if l == "fr" || l == "en" => Ok(l.to_owned()),
        Some(_) => Err(ApiError::invalid("lang", "lang: must be 'fr' or 'en'")),
    }
}

fn parse_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>().map_err(|_| ApiError::not_found("user"))
}

fn check_text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field}: must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_same(field: &str, a: &str, b: &str) -> ApiResult<()> {
    if a.trim() != b.trim() {
        return Err(ApiError::invalid(field, format!("{field}: does not match")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    account_number: Option<String>,
    login: Option<String>,
    password: String,
}

/// A sign-in. Each password check is reserved with the throttle first (counted as a failure
/// until it succeeds), so parallel guesses cannot all be verified. A disabled account or user
/// answers exactly like a wrong password: the answer is no oracle for the password.
pub async fn sign_in(
    State(state): State<AppState>,
    peer: crate::throttle::Peer,
    Json(body): Json<SignIn>,
) -> Res {
    check_text("password", &body.password, 128)?;
    let ip = crate::throttle::peer_ip(&peer);
    let ttl = (state.cfg.session_ttl_secs as i64).saturating_mul(1000);
    let (actor, new, permit) = match (&body.account_number, &body.login) {
        (Some(n), None) => {
            let number = AccountNumber::parse(n)?;
            let permit = state
                .throttle
                .reserve(&format!("account:{number}"), ip)
                .await?;
            let account = state
                .store
                .verify_account_admin(&number, &body.password)
                .await?
                .filter(|a| a.status == AccountStatus::Active)
                .ok_or_else(ApiError::bad_credentials)?;
            (
                sesame_domain::Actor::AccountAdmin {
                    account_id: account.id,
                },
                NewSession {
                    kind: SessionKind::Admin,
                    account_id: Some(account.id),
                    user_id: None,
                    impersonator_account_id: None,
                    ttl_millis: ttl,
                },
                permit,
            )
        }
        (None, Some(login)) => {
            check_text("login", login, 64)?;
            if login.trim().is_empty() {
                return Err(ApiError::invalid("login", "login: must not be empty"));
            }
            let permit = state
                .throttle
                .reserve(&format!("login:{}", login.trim()), ip)
                .await?;
            let user = state
                .store
                .verify_user_login(login, &body.password)
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(ApiError::bad_credentials)?;
            (
                sesame_domain::Actor::User { user_id: user.id },
                NewSession {
                    kind: SessionKind::User,
                    account_id: None,
                    user_id: Some(user.id),
                    impersonator_account_id: None,
                    ttl_millis: ttl,
                },
                permit,
            )
        }
        _ => {
            return Err(ApiError::invalid(
                "accountNumber",
                "give either accountNumber or login, with password",
            ))
        }
    };
    permit.succeeded().await;
    let kind = new.kind;
    let (token, session) = state.store.create_session(actor, new, None).await?;
    created(
        json!({"token": token, "tokenType": "Bearer", "kind": kind.as_str(), "expiresAt": session.expires_at}),
    )
}

pub async fn sign_out(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Res {
    if caller == Caller::Operator {
        return Err(ApiError::bad_request("the operator token is not a session"));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .ok_or_else(ApiError::unauthorized)?;
    state.store.revoke_session(caller.actor(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Accounts (operator)

pub async fn create_account(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Json(body): Json<NewAccount>,
) -> Res {
    let a = state
        .store
        .create_account(sesame_domain::Actor::Operator, body)
        .await?;
    let deps = state.store.departments(a.id).await?;
    let mut v = account_json(&a);
    v["departments"] = json!(deps);
    created(v)
}

pub async fn list_accounts(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let (page, per, offset) = q.page(50, 500)?;
    let items = state.store.list_accounts(offset, per).await?;
    ok(
        json!({"items": items.iter().map(account_json).collect::<Vec<_>>(), "page": page, "perPage": per}),
    )
}

pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let mut v = account_json(&a);
    v["departments"] = json!(state.store.departments(a.id).await?);
    v["entitlementsDetail"] = rights_detail(a.entitlements);
    ok(v)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitlementsIn {
    entitlements: RightSet,
}

pub async fn set_entitlements(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<EntitlementsIn>,
) -> Res {
    let a = account_for(&state, &Caller::Operator, &n).await?;
    let a = state
        .store
        .set_entitlements(sesame_domain::Actor::Operator, a.id, body.entitlements)
        .await?;
    ok(account_json(&a))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusIn {
    enabled: bool,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn set_account_status(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<StatusIn>,
) -> Res {
    check_text("comment", body.comment.as_deref().unwrap_or(""), 500)?;
    let a = account_for(&state, &Caller::Operator, &n).await?;
    let status = if body.enabled {
        AccountStatus::Active
    } else {
        AccountStatus::Disabled
    };
    let a = state
        .store
        .set_account_status(
            sesame_domain::Actor::Operator,
            a.id,
            status,
            body.comment.as_deref(),
        )
        .await?;
    ok(account_json(&a))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamIn {
    upstream_login: String,
    upstream_password: String,
}

pub async fn set_upstream(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<UpstreamIn>,
) -> Res {
    let a = account_for(&state, &Caller::Operator, &n).await?;
    state
        .store
        .set_upstream_credentials(
            sesame_domain::Actor::Operator,
            a.id,
            &body.upstream_login,
            &body.upstream_password,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_departments(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    ok(json!({"items": state.store.departments(a.id).await?}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepartmentIn {
    name: String,
}

pub async fn add_department(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Json(body): Json<DepartmentIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let d = state
        .store
        .add_department(caller.actor(), a.id, &body.name)
        .await
        .map_err(|e| {
            let e = ApiError::from(e);
            if e.status == StatusCode::CONFLICT {
                ApiError::conflict("name", "a department with this name exists")
            } else {
                e
            }
        })?;
    created(json!(d))
}

// ---------------------------------------------------------------------------------------------
// Users table and users

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    q: Query,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let kind = q.str("kind").map(|k| {
        UserKind::parse(k).map_err(|_| ApiError::invalid("kind", "kind: standard or advanced"))
    });
    let kind = kind.transpose()?;
    let search = q.str("q").map(str::to_owned);
    if let Some(s) = &search {
        check_text("q", s, 100)?;
    }
    let (page, per, offset) = q.page(25, 200)?;
    let (items, total) = state
        .store
        .list_account_users(
            a.id,
            &UserFilter {
                kind,
                q: search,
                offset,
                limit: per,
            },
        )
        .await?;
    ok(json!({
        "items": items.iter().map(|u| user_json(&u.user, Some(u.rights))).collect::<Vec<_>>(),
        "page": page, "perPage": per, "total": total,
    }))
}

/// The identity fields of the seeds' forms, flat, with the e-mail confirmation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandardUserIn {
    #[serde(default)]
    civility: Option<Civility>,
    last_name: String,
    first_name: String,
    function: String,
    phone: String,
    email: Email,
    email_confirmation: String,
    #[serde(default)]
    fax: Option<String>,
    address: String,
    postal_code: String,
    city: String,
    #[serde(default)]
    country: Option<String>,
    login: Login,
    password: String,
    password_confirmation: String,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    department_id: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
fn profile_of(
    civility: Option<Civility>,
    last_name: String,
    first_name: String,
    function: String,
    phone: String,
    email: Email,
    fax: Option<String>,
    address: String,
    postal_code: String,
    city: String,
    country: Option<String>,
) -> Profile {
    Profile {
        civility,
        last_name,
        first_name,
        function,
        phone,
        email: Some(email),
        fax: fax.filter(|f| !f.trim().is_empty()),
        address,
        postal_code,
        city,
        country: country.unwrap_or_else(|| "France".into()),
    }
}

pub async fn create_standard_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Json(b): Json<StandardUserIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    check_same(
        "emailConfirmation",
        b.email.as_str(),
        &Email::parse(&b.email_confirmation)
            .map(|e| e.as_str().to_owned())
            .unwrap_or(b.email_confirmation.clone()),
    )?;
    check_text("password", &b.password, 128)?;
    if b.password != b.password_confirmation {
        return Err(ApiError::invalid(
            "passwordConfirmation",
            "passwordConfirmation: does not match",
        ));
    }
    let profile = profile_of(
        b.civility,
        b.last_name,
        b.first_name,
        b.function,
        b.phone,
        b.email,
        b.fax,
        b.address,
        b.postal_code,
        b.city,
        b.country,
    );
    let u = state
        .store
        .create_standard_user(
            caller.actor(),
            a.id,
            NewStandardUser {
                profile,
                login: b.login,
                password: b.password,
                rights: b.rights,
                department_id: b.department_id,
            },
        )
        .await?;
    created(user_json(&u, Some(b.rights)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvancedUserIn {
    #[serde(default)]
    civility: Option<Civility>,
    last_name: String,
    first_name: String,
    function: String,
    phone: String,
    email: Email,
    email_confirmation: String,
    #[serde(default)]
    fax: Option<String>,
    address: String,
    postal_code: String,
    city: String,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    tag: Option<Tag>,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    department_id: Option<i64>,
    #[serde(default)]
    lang: Option<String>,
}

fn invitation_link(state: &AppState, token: &str) -> String {
    format!(
        "{}/admin/v1/invitations/{token}",
        state.cfg.public_url.trim_end_matches('/')
    )
}

pub async fn create_advanced_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Json(b): Json<AdvancedUserIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, b.lang.as_deref())?;
    let confirm = Email::parse(&b.email_confirmation)
        .map(|e| e.as_str().to_owned())
        .unwrap_or(b.email_confirmation.clone());
    check_same("emailConfirmation", b.email.as_str(), &confirm)?;
    let profile = profile_of(
        b.civility,
        b.last_name,
        b.first_name,
        b.function,
        b.phone,
        b.email,
        b.fax,
        b.address,
        b.postal_code,
        b.city,
        b.country,
    );
    let (u, inv, token) = state
        .store
        .create_advanced_user(
            caller.actor(),
            a.id,
            NewAdvancedUser {
                profile,
                tag: b.tag,
                rights: b.rights,
                department_id: b.department_id,
            },
        )
        .await?;
    let to = u
        .profile
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    let sent = mail::send(
        &state.store,
        &to,
        &mail::invitation(&lang, &a.company, &invitation_link(&state, &token)),
        &lang,
    )
    .await;
    let mut v = user_json(&u, Some(b.rights));
    v["invitation"] = json!({"expiresAt": inv.expires_at, "sentTo": to, "queued": sent});
    created(v)
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    let link = state.store.link(u.id, a.id).await?;
    let mut v = user_json(&u, Some(link.rights));
    v["rightsDetail"] = rights_detail(link.rights);
    v["effectiveRights"] = json!(RightSet::effective(link.rights, a.entitlements));
    ok(v)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserEditIn {
    civility: Option<Civility>,
    last_name: Option<String>,
    first_name: Option<String>,
    function: Option<String>,
    phone: Option<String>,
    email: Option<Email>,
    email_confirmation: Option<String>,
    fax: Option<String>,
    address: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    country: Option<String>,
    /// An empty string removes the tag.
    tag: Option<String>,
    rights: Option<RightSet>,
    department_id: Option<i64>,
}

/// Applies the edited fields over the current profile; a new e-mail needs its confirmation.
fn merged_profile(current: &Profile, b: &UserEditIn) -> ApiResult<Profile> {
    let mut p = current.clone();
    if let Some(c) = b.civility {
        p.civility = Some(c);
    }
    let set = |dst: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            *dst = v.clone();
        }
    };
    set(&mut p.last_name, &b.last_name);
    set(&mut p.first_name, &b.first_name);
    set(&mut p.function, &b.function);
    set(&mut p.phone, &b.phone);
    set(&mut p.address, &b.address);
    set(&mut p.postal_code, &b.postal_code);
    set(&mut p.city, &b.city);
    set(&mut p.country, &b.country);
    if let Some(f) = &b.fax {
        p.fax = Some(f.clone()).filter(|f| !f.trim().is_empty());
    }
    if let Some(e) = &b.email {
        if current.email.as_ref() != Some(e) {
            let conf = b.email_confirmation.as_deref().ok_or_else(|| {
                ApiError::invalid(
                    "emailConfirmation",
                    "emailConfirmation: required when the e-mail changes",
                )
            })?;
            let conf = Email::parse(conf)
                .map(|c| c.as_str().to_owned())
                .unwrap_or(conf.to_owned());
            check_same("emailConfirmation", e.as_str(), &conf)?;
        }
        p.email = Some(e.clone());
    }
    Ok(p)
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<UserEditIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    let profile = merged_profile(&u.profile, &b)?;
    let tag = match &b.tag {
        None => u.tag.clone(),
        Some(t) if t.trim().is_empty() => None,
        Some(t) => Some(Tag::parse(t)?),
    };
    let department_id = b.department_id.or(u.department_id);
    let old_rights = state.store.link(u.id, a.id).await?.rights;
    let after = state
        .store
        .update_user(
            caller.actor(),
            a.id,
            u.id,
            UserUpdate {
                profile,
                tag,
                department_id,
                rights: b.rights,
            },
        )
        .await?;
    let link = state.store.link(u.id, a.id).await?;
    if u.kind == UserKind::Advanced
        && link.rights != old_rights
        && after.status == UserStatus::Active
    {
        let lang = &state.cfg.default_lang;
        mail::notify_rights(&state.store, &after, &a.company, link.rights, lang).await;
    }
    ok(user_json(&after, Some(link.rights)))
}

/// Deleting a standard user deletes it; for an advanced user it removes the link only (seed 000 §7).
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    match u.kind {
        UserKind::Standard => {
            state
                .store
                .delete_standard_user(caller.actor(), a.id, u.id)
                .await?
        }
        UserKind::Advanced => state.store.unlink(caller.actor(), a.id, u.id).await?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn resend_invitation(
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
    let to = u
        .profile
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    let sent = mail::send(
        &state.store,
        &to,
        &mail::invitation(&lang, &a.company, &invitation_link(&state, &token)),
        &lang,
    )
    .await;
    ok(json!({"expiresAt": inv.expires_at, "sentTo": to, "queued": sent}))
}

// ---------------------------------------------------------------------------------------------
// Invitations (public: the token is the credential)

pub async fn get_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Res {
    let html = crate::html::wants_html(&headers);
    let found = state
        .store
        .invitation_by_token(&token)
        .await
        .map_err(invitation_error);
    let (inv, u) = match found {
        Ok(x) => x,
        Err(e) if html => {
            return Ok((e.status, crate::html::error_page(&e.message)).into_response())
        }
        Err(e) => return Err(e),
    };
    let a = state.store.account(inv.account_id).await?;
    if html {
        let labels: Vec<String> = inv.rights.grants().map(|g| g.label()).collect();
        return Ok(crate::html::invitation_page(
            &a.company, &u.profile, &labels,
        ));
    }
    ok(json!({
        "user": { "profile": profile_json(&u.profile), "tag": u.tag, "userKey": u.user_key },
        "account": {"number": a.number, "company": a.company},
        "rights": rights_detail(inv.rights),
        "expiresAt": inv.expires_at,
    }))
}

fn invitation_error(e: sesame_store::StoreError) -> ApiError {
    match e {
        sesame_store::StoreError::NotFound(_) => ApiError::not_found("invitation"),
        other => {
            let mut err = ApiError::from(other);
            if err.code == "expired" {
                err.code = "invitation_expired";
                err.message = "Ce lien d'invitation a expiré (valable 48h) : demandez à votre administrateur de le renvoyer. \
                               This invitation link has expired (valid 48 hours): ask your administrator to resend it."
                    .into();
            } else if err.code == "already_used" {
                err.code = "invitation_used";
                err.message = "Ce lien d'invitation n'est plus valable : il a déjà été utilisé ou remplacé par un nouvel envoi. \
                               This invitation link is no longer valid: it was already used or replaced by a new one."
                    .into();
            }
            err
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptIn {
    login: Login,
    password: String,
    password_confirmation: String,
    civility: Option<Civility>,
    last_name: Option<String>,
    first_name: Option<String>,
    function: Option<String>,
    phone: Option<String>,
    email: Option<Email>,
    email_confirmation: Option<String>,
    fax: Option<String>,
    address: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    country: Option<String>,
    lang: Option<String>,
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<AcceptIn>,
) -> Res {
    let lang = lang_of(&state, b.lang.as_deref())?;
    check_text("password", &b.password, 128)?;
    if b.password != b.password_confirmation {
        return Err(ApiError::invalid(
            "passwordConfirmation",
            "passwordConfirmation: does not match",
        ));
    }
    let (_inv, u) = state
        .store
        .invitation_by_token(&token)
        .await
        .map_err(invitation_error)?;
    let edit = UserEditIn {
        civility: b.civility,
        last_name: b.last_name,
        first_name: b.first_name,
        function: b.function,
        phone: b.phone,
        email: b.email,
        email_confirmation: b.email_confirmation,
        fax: b.fax,
        address: b.address,
        postal_code: b.postal_code,
        city: b.city,
        country: b.country,
        tag: None,
        rights: None,
        department_id: None,
    };
    let profile = merged_profile(&u.profile, &edit)?;
    check_password_policy(&b.password)?;
    let act = state
        .store
        .accept_invitation(&token, &b.login, &b.password, Some(profile))
        .await
        .map_err(invitation_error)?;
    let a = state.store.account(act.account_id).await?;
    mail::notify_rights(&state.store, &act.user, &a.company, act.rights, &lang).await;
    created(json!({
        "user": user_json(&act.user, None),
        "userKey": act.user.user_key,
        "connectionKey": act.connection_key.expose(),
        "connectionKeyNotice": "Cette clé de connexion n'est affichée qu'une fois : conservez-la. This connection key is shown only once.",
        "accounts": [{"number": a.number, "company": a.company, "rights": act.rights, "rightsDetail": rights_detail(act.rights)}],
    }))
}

// ---------------------------------------------------------------------------------------------
// Association by user key (seed 000 §6) and links

pub async fn find_advanced(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Res {
    if !matches!(caller, Caller::Operator | Caller::Admin { .. }) {
        return Err(ApiError::forbidden(
            "this action needs the account admin or the operator",
        ));
    }
    let key = UserKey::parse(&key).map_err(|_| ApiError::not_found("user"))?;
    let u = state.store.find_advanced_by_user_key(&key).await?;
    let p = &u.profile;
    ok(json!({
        "userKey": u.user_key, "lastName": p.last_name, "firstName": p.first_name, "function": p.function,
        "email": p.email, "phone": p.phone, "address": p.address, "postalCode": p.postal_code, "city": p.city,
        "country": p.country, "tag": u.tag, "status": u.status.as_str(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssociateIn {
    user_key: UserKey,
    #[serde(default)]
    rights: RightSet,
    #[serde(default)]
    lang: Option<String>,
}

pub async fn associate(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Json(b): Json<AssociateIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, b.lang.as_deref())?;
    let u = state
        .store
        .associate(caller.actor(), a.id, &b.user_key, b.rights)
        .await
        .map_err(|e| match e {
            sesame_store::StoreError::Rule(rule @ sesame_store::RuleViolation::AlreadyLinked) => {
                ApiError::conflict("userKey", rule.to_string())
            }
            sesame_store::StoreError::NotFound(_) => ApiError::not_found("advanced user"),
            other => other.into(),
        })?;
    mail::notify_rights(&state.store, &u, &a.company, b.rights, &lang).await;
    created(user_json(&u, Some(b.rights)))
}

pub async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    state
        .store
        .unlink(caller.actor(), a.id, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Self-service ("Mon compte > Editer mon compte")

pub async fn me(State(state): State<AppState>, caller: Caller) -> Res {
    match caller {
        Caller::Operator => ok(json!({"kind": "operator"})),
        Caller::Admin { account_id } => {
            let a = state.store.account(account_id).await?;
            ok(
                json!({"kind": "account_admin", "account": account_json(&a), "entitlementsDetail": rights_detail(a.entitlements)}),
            )
        }
        Caller::User { user_id } | Caller::Impersonating { user_id, .. } => {
            let u = state.store.user(user_id).await?;
            let mut accounts = Vec::new();
            for l in state.store.links_of_user(user_id).await? {
                let a = state.store.account(l.account_id).await?;
                let eff = RightSet::effective(l.rights, a.entitlements);
                accounts.push(json!({
                    "number": a.number, "company": a.company, "rights": l.rights, "effectiveRights": eff,
                    "rightsDetail": rights_detail(eff), "accountStatus": a.status.as_str(),
                }));
            }
            let mut v = user_json(&u, None);
            v["accounts"] = json!(accounts);
            v["impersonated"] = json!(matches!(caller, Caller::Impersonating { .. }));
            ok(v)
        }
    }
}

pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<UserEditIn>,
) -> Res {
    let user_id = caller
        .self_user()
        .ok_or_else(|| ApiError::forbidden("only users edit their own details here"))?;
    if b.rights.is_some() || b.tag.is_some() || b.department_id.is_some() {
        let f = if b.rights.is_some() {
            "rights"
        } else if b.tag.is_some() {
            "tag"
        } else {
            "departmentId"
        };
        return Err(ApiError::forbidden(format!("{f} is set by the account admin")).with_field(f));
    }
    let u = state.store.user(user_id).await?;
    let profile = merged_profile(&u.profile, &b)?;
    let after = state
        .store
        .update_own_profile(caller.actor(), user_id, profile)
        .await?;
    ok(user_json(&after, None))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegenerateIn {
    #[serde(default)]
    grace_seconds: Option<u32>,
}

pub async fn regenerate_key(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Res {
    let user_id = match caller {
        Caller::User { user_id } => user_id,
        Caller::Impersonating { .. } => {
            return Err(ApiError::forbidden(
                "an impersonation session cannot regenerate the key",
            ))
        }
        _ => return Err(ApiError::forbidden("only the key's holder regenerates it")),
    };
    let b: RegenerateIn = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateIn {
            grace_seconds: None,
        }
    } else {
        crate::extract::parse_json(&body)?
    };
    let grace = b.grace_seconds.map(|s| i64::from(s) * 1000);
    let key = state
        .store
        .regenerate_connection_key(caller.actor(), user_id, grace)
        .await?;
    let old_valid_until = grace.filter(|g| *g > 0).map(|g| now_millis() + g);
    ok(json!({
        "connectionKey": key.expose(),
        "previousKeyValidUntil": old_valid_until,
        "notice": "Cette clé de connexion n'est affichée qu'une fois. This connection key is shown only once.",
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordIn {
    current_password: String,
    password: String,
    password_confirmation: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(b): Json<PasswordIn>,
) -> Res {
    check_text("currentPassword", &b.current_password, 128)?;
    check_text("password", &b.password, 128)?;
    if b.password != b.password_confirmation {
        return Err(ApiError::invalid(
            "passwordConfirmation",
            "passwordConfirmation: does not match",
        ));
    }
    match caller {
        Caller::User { user_id } => {
            state
                .store
                .change_password(caller.actor(), user_id, &b.current_password, &b.password)
                .await?
        }
        Caller::Admin { account_id } => {
            state
                .store
                .change_admin_password(caller.actor(), account_id, &b.current_password, &b.password)
                .await?
        }
        _ => return Err(ApiError::forbidden("only the holder changes its password")),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Back office (seed 004 §4)

/// Actions that reach beyond the account (disabling, impersonating, resetting the password of an
/// advanced user shared with other accounts) are the operator's.
async fn check_exclusive(
    state: &AppState,
    caller: &Caller,
    account_id: i64,
    u: &User,
) -> ApiResult<()> {
    if u.kind == UserKind::Advanced && *caller != Caller::Operator {
        let links = state.store.links_of_user(u.id).await?;
        if links.iter().any(|l| l.account_id != account_id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "shared_user",
                "this advanced user is linked to other accounts: remove the link instead, or ask the operator",
            ));
        }
    }
    Ok(())
}

pub async fn set_user_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<StatusIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    check_text("comment", b.comment.as_deref().unwrap_or(""), 500)?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    if u.main_contact {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rule",
            "the main contact follows its account",
        ));
    }
    check_exclusive(&state, &caller, a.id, &u).await?;
    let after = state
        .store
        .set_user_status(
            caller.actor(),
            Some(a.id),
            u.id,
            b.enabled,
            b.comment.as_deref(),
        )
        .await?;
    ok(user_json(&after, None))
}

pub async fn send_password_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    q: Query,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, q.str("lang"))?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    check_exclusive(&state, &caller, a.id, &u).await?;
    let (u, token, expires) = state
        .store
        .create_password_reset(caller.actor(), Some(a.id), u.id)
        .await?;
    let link = format!(
        "{}/admin/v1/password-resets/{token}",
        state.cfg.public_url.trim_end_matches('/')
    );
    let to = u
        .profile
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    let sent = mail::send(
        &state.store,
        &to,
        &mail::password_reset(&lang, &link),
        &lang,
    )
    .await;
    ok(json!({"sentTo": to, "expiresAt": expires, "queued": sent}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgotIn {
    login: String,
    email: String,
    #[serde(default)]
    lang: Option<String>,
}

/// "Mot de passe oublié ?" (seed 000 §3): the login and the e-mail address on file. The answer is
/// the same whether or not they match, so nobody can probe logins, and it takes as long: the
/// lookup, the reset and the mail are done after the answer (on bounded slots).
pub async fn forgot_password(State(state): State<AppState>, Json(b): Json<ForgotIn>) -> Res {
    let lang = lang_of(&state, b.lang.as_deref())?;
    check_text("login", &b.login, 64)?;
    check_text("email", &b.email, 254)?;
    let st = state.clone();
    state.throttle.off_request(async move {
        if let Err(e) = send_forgotten_reset(&st, &b.login, &b.email, &lang).await {
            tracing::warn!(error = %e, "forgotten password: could not send the reset");
        }
    })?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"message": "Si ces informations correspondent à un compte, un e-mail a été envoyé. If these details match an account, an e-mail has been sent."})),
    )
        .into_response())
}

async fn send_forgotten_reset(
    state: &AppState,
    login: &str,
    email: &str,
    lang: &str,
) -> sesame_store::Result<()> {
    let Some(u) = state.store.user_by_login(login).await? else {
        return Ok(());
    };
    let matches = u
        .profile
        .email
        .as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case(email.trim()));
    if !(matches && u.status == UserStatus::Active) {
        return Ok(());
    }
    let (u, token, _) = state
        .store
        .create_password_reset(sesame_domain::Actor::System, None, u.id)
        .await?;
    let link = format!(
        "{}/admin/v1/password-resets/{token}",
        state.cfg.public_url.trim_end_matches('/')
    );
    if let Some(to) = u.profile.email.as_ref() {
        mail::send(
            &state.store,
            to.as_str(),
            &mail::password_reset(lang, &link),
            lang,
        )
        .await;
    }
    Ok(())
}

fn reset_error(e: sesame_store::StoreError) -> ApiError {
    match e {
        sesame_store::StoreError::NotFound(_) => ApiError::not_found("password reset link"),
        other => other.into(),
    }
}

pub async fn get_password_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Res {
    let html = crate::html::wants_html(&headers);
    let (_, u) = match state
        .store
        .password_reset_by_token(&token)
        .await
        .map_err(reset_error)
    {
        Ok(x) => x,
        Err(e) if html => {
            return Ok((e.status, crate::html::error_page(&e.message)).into_response())
        }
        Err(e) => return Err(e),
    };
    let login = u
        .login
        .as_ref()
        .map(|l| l.as_str().to_owned())
        .unwrap_or_default();
    if html {
        return Ok(crate::html::reset_page(&login));
    }
    ok(json!({"login": login, "lastName": u.profile.last_name, "firstName": u.profile.first_name}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetIn {
    password: String,
    password_confirmation: String,
}

pub async fn do_password_reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<ResetIn>,
) -> Res {
    check_text("password", &b.password, 128)?;
    if b.password != b.password_confirmation {
        return Err(ApiError::invalid(
            "passwordConfirmation",
            "passwordConfirmation: does not match",
        ));
    }
    check_password_policy(&b.password)?;
    state
        .store
        .reset_password(&token, &b.password)
        .await
        .map_err(reset_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImpersonateIn {
    #[serde(default)]
    comment: Option<String>,
}

pub async fn impersonate(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let b: ImpersonateIn = if body.iter().all(u8::is_ascii_whitespace) {
        ImpersonateIn { comment: None }
    } else {
        crate::extract::parse_json(&body)?
    };
    check_text("comment", b.comment.as_deref().unwrap_or(""), 500)?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    if u.status != UserStatus::Active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rule",
            "only an active user can be impersonated",
        ));
    }
    check_exclusive(&state, &caller, a.id, &u).await?;
    let ttl = (state.cfg.impersonation_ttl_secs as i64).saturating_mul(1000);
    let (token, session) = state
        .store
        .create_session(
            caller.actor(),
            NewSession {
                // The operator's impersonation is recorded as the operator's, not the admin's.
                kind: if caller == Caller::Operator {
                    SessionKind::OperatorImpersonation
                } else {
                    SessionKind::Impersonation
                },
                account_id: None,
                user_id: Some(u.id),
                impersonator_account_id: Some(a.id),
                ttl_millis: ttl,
            },
            b.comment.as_deref(),
        )
        .await?;
    created(
        json!({"token": token, "tokenType": "Bearer", "kind": "impersonation", "expiresAt": session.expires_at, "user": user_json(&u, None)}),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageIn {
    subject: String,
    body: String,
    #[serde(default)]
    lang: Option<String>,
}

pub async fn write_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Json(b): Json<MessageIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let lang = lang_of(&state, b.lang.as_deref())?;
    if b.subject.trim().is_empty() {
        return Err(ApiError::invalid("subject", "subject: is required"));
    }
    check_text("subject", &b.subject, 200)?;
    if b.body.trim().is_empty() {
        return Err(ApiError::invalid("body", "body: is required"));
    }
    check_text("body", &b.body, 20_000)?;
    let u = state.store.user_in_account(a.id, parse_id(&id)?).await?;
    let to = u
        .profile
        .email
        .as_ref()
        .ok_or_else(|| ApiError::invalid("email", "the user has no e-mail address"))?;
    state
        .store
        .record_user_message(caller.actor(), Some(a.id), u.id, b.subject.trim())
        .await?;
    let id = state
        .store
        .enqueue_mail(to.as_str(), b.subject.trim(), &b.body, &lang)
        .await?;
    created(json!({"id": id, "sentTo": to}))
}

// ---------------------------------------------------------------------------------------------
// CSV import / export (seed 000 §5.2, §7)

fn csv_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub async fn import_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    account_for(&state, &caller, &n).await?;
    Ok(csv_response(
        "import_utilisateurs_avances.csv",
        csvio::template(),
    ))
}

pub async fn upload_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    q: Query,
    body: axum::body::Bytes,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let file_name = q.str("fileName").unwrap_or("import.csv").to_owned();
    check_text("fileName", &file_name, 200)?;
    let upload = csvio::check_upload(&body, state.cfg.max_import_lines)?;
    let (job, previous) = state
        .store
        .start_import(
            caller.actor(),
            a.id,
            &file_name,
            upload.lines,
            upload.text.as_bytes(),
        )
        .await?;
    state.import_wake.notify_one();
    let mut v = json!({"job": job_json(&job)});
    if let Some(p) = previous.filter(|p| p.finished_at.is_some() && p.expires_at > now_millis()) {
        v["warning"] = json!(format!(
            "Suite à ce nouvel import, le fichier de résultat du précédent import (disponible jusqu'au {}) a été supprimé. \
             The result file of the previous import has been replaced.",
            fmt_date(p.expires_at)
        ));
    }
    Ok((StatusCode::ACCEPTED, axum::Json(v)).into_response())
}

pub async fn current_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let job = state
        .store
        .current_import(a.id)
        .await?
        .ok_or_else(|| ApiError::not_found("import"))?;
    let mut v = job_json(&job);
    if job.finished_at.is_some() {
        v["resultAvailableUntilText"] = json!(format!(
            "Votre fichier est disponible jusqu'au : {}",
            fmt_date(job.expires_at)
        ));
    }
    ok(v)
}

pub async fn import_result(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let (job, bytes) = state
        .store
        .import_result(a.id)
        .await?
        .ok_or_else(|| ApiError::not_found("import result"))?;
    Ok(csv_response(
        &format!("resultat_import_{}.csv", job.id),
        bytes,
    ))
}

pub async fn export_advanced(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let (users, _) = state
        .store
        .list_account_users(
            a.id,
            &UserFilter {
                kind: Some(UserKind::Advanced),
                q: None,
                offset: 0,
                limit: 100_000,
            },
        )
        .await?;
    Ok(csv_response(
        &format!("utilisateurs_avances_{}.csv", a.number),
        csvio::export(&users),
    ))
}

/// Processes one claimed import job: each line is its own transaction (never half a user).
pub async fn process_import(
    state: &AppState,
    job: ImportJob,
    input: Vec<u8>,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    let text = String::from_utf8_lossy(&input).into_owned();
    let lines = match csvio::lines(&text) {
        Ok(l) => l,
        Err(e) => {
            let rows = vec![(
                1usize,
                String::new(),
                String::new(),
                String::new(),
                e.message,
            )];
            let _ = state
                .store
                .finish_import(
                    job.id,
                    ImportStatus::Failed,
                    0,
                    0,
                    &csvio::result_file(&rows),
                )
                .await;
            return;
        }
    };
    let account = match state.store.account(job.account_id).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, job = job.id, "import account vanished");
            let _ = state
                .store
                .finish_import(job.id, ImportStatus::Failed, 0, 0, &[])
                .await;
            return;
        }
    };
    let lang = state.cfg.default_lang.clone();
    let actor = sesame_domain::Actor::AccountAdmin {
        account_id: account.id,
    };
    let mut rows = Vec::with_capacity(lines.len());
    let (mut processed, mut ok_count) = (0i64, 0i64);
    let mut entitlements = account.entitlements;
    let mut interrupted = false;
    for line in lines {
        if interrupted || *stop.borrow() {
            interrupted = true;
            rows.push((
                line.number,
                line.last_name,
                line.first_name,
                line.email,
                "Ligne non traitée : import interrompu par l'arrêt du service".to_owned(),
            ));
            processed += 1;
            continue;
        }
        let status = match line.parsed {
            Err(s) => s,
            Ok((profile, tag, rights)) => match RightSet::check_delegation(rights, entitlements) {
                Err(d) => format!("Vous ne pouvez pas donner le droit {}", d.label),
                Ok(()) => {
                    let mut attempt = 0;
                    loop {
                        attempt += 1;
                        let res = state
                            .store
                            .create_advanced_user(
                                actor.clone(),
                                account.id,
                                NewAdvancedUser {
                                    profile: profile.clone(),
                                    tag: tag.clone(),
                                    rights,
                                    department_id: None,
                                },
                            )
                            .await;
                        match res {
                            Ok((u, _inv, token)) => {
                                if let Some(to) = u.profile.email.as_ref() {
                                    let link = invitation_link(state, &token);
                                    mail::send(
                                        &state.store,
                                        to.as_str(),
                                        &mail::invitation(&lang, &account.company, &link),
                                        &lang,
                                    )
                                    .await;
                                }
                                ok_count += 1;
                                break csvio::STATUS_OK.to_owned();
                            }
                            Err(sesame_store::StoreError::Delegation(d)) => {
                                break format!("Vous ne pouvez pas donner le droit {}", d.label)
                            }
                            Err(sesame_store::StoreError::Invalid(f)) => {
                                break format!(
                                    "Erreur sur les informations de l'utilisateur ({})",
                                    csvio::column_of(f.field)
                                )
                            }
                            Err(e) if e.is_unavailable() && attempt < 5 => {
                                tokio::time::sleep(std::time::Duration::from_millis(500 * attempt))
                                    .await;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, job = job.id, line = line.number, "import line failed");
                                break "Erreur technique : ligne non traitée".to_owned();
                            }
                        }
                    }
                }
            },
        };
        rows.push((
            line.number,
            line.last_name,
            line.first_name,
            line.email,
            status,
        ));
        processed += 1;
        if processed % 100 == 0 {
            let _ = state
                .store
                .import_progress(job.id, processed, ok_count)
                .await;
            // Entitlements withdrawn during a long import apply to the lines that follow.
            if let Ok(a) = state.store.account(account.id).await {
                entitlements = a.entitlements;
            }
        }
    }
    let result = csvio::result_file(&rows);
    let status = if interrupted {
        ImportStatus::Failed
    } else {
        ImportStatus::Done
    };
    if let Err(e) = state
        .store
        .finish_import(job.id, status, processed, ok_count, &result)
        .await
    {
        tracing::warn!(error = %e, job = job.id, "cannot store the import result");
    }
}

// ---------------------------------------------------------------------------------------------
// Audit log, outbox, rights catalogue

fn audit_filter(q: &Query) -> ApiResult<AuditFilter> {
    let actor = q.str("actor").map(str::to_owned);
    if let Some(a) = &actor {
        if ![
            "operator",
            "account_admin",
            "user",
            "impersonating",
            "operator_impersonating",
            "system",
        ]
        .contains(&a.as_str())
        {
            return Err(ApiError::invalid(
                "actor",
                "actor: operator, account_admin, user, impersonating, operator_impersonating or system",
            ));
        }
    }
    let (_, per, offset) = q.page(100, 1000)?;
    Ok(AuditFilter {
        account_id: None,
        user_id: q.int("userId")?,
        actor_kind: actor,
        actor_user_id: q.int("actorUserId")?,
        from: q.time("from", false)?,
        to: q.time("to", true)?,
        offset: Some(offset),
        limit: Some(per),
    })
}

fn audit_json(e: &sesame_domain::AuditEntry) -> Value {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    json!({
        "id": e.id, "at": e.at, "actor": e.actor, "accountId": e.account_id, "userId": e.user_id,
        "action": e.action, "before": parse(&e.before), "after": parse(&e.after), "comment": e.comment,
    })
}

pub async fn account_audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    q: Query,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let mut f = audit_filter(&q)?;
    f.account_id = Some(a.id);
    let items = state.store.audit_log(&f).await?;
    ok(json!({"items": items.iter().map(audit_json).collect::<Vec<_>>()}))
}

pub async fn all_audit(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let mut f = audit_filter(&q)?;
    if let Some(n) = q.str("accountNumber") {
        let number = AccountNumber::parse(n)?;
        f.account_id = Some(state.store.account_by_number(&number).await?.id);
    }
    let items = state.store.audit_log(&f).await?;
    ok(json!({"items": items.iter().map(audit_json).collect::<Vec<_>>()}))
}

pub async fn outbox(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let limit = q.int("limit")?.unwrap_or(100);
    // Without SMTP the outbox is the delivery channel (the demo, the tests): links are shown
    // live, unsealed for this answer only. With SMTP, the mail carries them: masked here.
    let items = if state.cfg.smtp.is_none() {
        state.store.outbox_live(q.str("to"), limit).await?
    } else {
        state.store.outbox(q.str("to"), limit).await?
    };
    ok(json!({"items": items}))
}

pub async fn rights_catalogue() -> Res {
    let advanced: Vec<Value> = ADVANCED_GRANTS
        .iter()
        .map(|(g, col)| json!({"id": g.id(), "label": g.label(), "labelEn": g.label_en(), "csvColumn": col}))
        .collect();
    let standard: Vec<Value> = Right::ALL
        .iter()
        .filter(|r| r.for_standard())
        .map(|r| Grant::Plain(*r))
        .chain(
            [
                sesame_domain::Scope::OWN,
                sesame_domain::Scope::GROUP,
                sesame_domain::Scope::ALL,
            ]
            .into_iter()
            .flat_map(|s| {
                [
                    Grant::Scoped(sesame_domain::ScopedRight::TrackingToolCs, s),
                    Grant::Scoped(sesame_domain::ScopedRight::Invoices, s),
                ]
            }),
        )
        .map(|g| json!({"id": g.id(), "label": g.label(), "labelEn": g.label_en()}))
        .collect();
    ok(json!({"advanced": advanced, "standard": standard}))
}
