//! What the API answers, as types: the views shared by several resources (accounts, users,
//! profiles, rights, lists). A resource's own answers sit next to its handlers.
//!
//! Answers are written through [`reply`]: the view becomes a `serde_json::Value` first, whose
//! objects keep their keys sorted, so every answer has the byte layout it always had whatever
//! the order of a view's fields.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sesame_domain::model::{Account, Department, Millis, User};
use sesame_domain::rights::Grant;
use sesame_domain::{AccountNumber, Email, Login, Profile, RightSet, Tag, UserKey};

use crate::error::{ApiError, ApiResult};

pub type Res = ApiResult<Response>;

/// `view` as a JSON answer with `status`.
pub fn reply<T: Serialize>(status: StatusCode, view: T) -> Res {
    let value =
        serde_json::to_value(view).map_err(|e| ApiError::Internal(format!("answer: {e}")))?;
    Ok((status, axum::Json(value)).into_response())
}
pub fn ok<T: Serialize>(view: T) -> Res {
    reply(StatusCode::OK, view)
}
pub fn created<T: Serialize>(view: T) -> Res {
    reply(StatusCode::CREATED, view)
}
pub fn no_content() -> Res {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"items": […]}`.
#[derive(Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A page of a list: `{"items", "page", "perPage", "total"?}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// A right with its labels.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RightView {
    pub id: String,
    pub label: String,
    pub label_en: String,
    /// In the catalogue of advanced rights: the CSV column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv_column: Option<&'static str>,
    /// In the catalogue: the routes the right gates, or that it is stored for the carrier's own
    /// applications (issue 15: no right silently means nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates: Option<&'static str>,
}

impl From<Grant> for RightView {
    fn from(g: Grant) -> Self {
        RightView {
            id: g.id(),
            label: g.label(),
            label_en: g.label_en(),
            csv_column: None,
            gates: None,
        }
    }
}

/// Each right of `r`, with its labels.
pub fn rights_detail(r: RightSet) -> Vec<RightView> {
    r.grants().map(RightView::from).collect()
}

/// A department as it was always shown (`account_id` in snake case).
#[derive(Serialize)]
pub struct DepartmentView {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
}

impl From<&Department> for DepartmentView {
    fn from(d: &Department) -> Self {
        DepartmentView {
            id: d.id,
            account_id: d.account_id,
            name: d.name.clone(),
        }
    }
}

pub fn departments(ds: &[Department]) -> Vec<DepartmentView> {
    ds.iter().map(DepartmentView::from).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: i64,
    pub number: AccountNumber,
    pub company: String,
    pub contract_type: String,
    pub entitlements: RightSet,
    pub status: &'static str,
    pub upstream_login: String,
    /// Seed 004 §2: the sub-accounts module is on.
    pub sub_accounts: bool,
    /// The collaborators its admin creates wait for the operator's validation.
    pub collaborator_validation: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departments: Option<Vec<DepartmentView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlements_detail: Option<Vec<RightView>>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id,
            number: a.number,
            company: a.company.clone(),
            contract_type: a.contract_type.clone(),
            entitlements: a.entitlements,
            status: a.status.as_str(),
            upstream_login: a.upstream_login.clone(),
            sub_accounts: a.sub_accounts,
            collaborator_validation: a.collaborator_validation,
            created_at: a.created_at,
            updated_at: a.updated_at,
            departments: None,
            entitlements_detail: None,
        }
    }
}

/// The identity fields of a user.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub civility: Option<&'static str>,
    pub last_name: String,
    pub first_name: String,
    pub function: String,
    pub phone: String,
    pub email: Option<Email>,
    pub fax: Option<String>,
    pub address: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

impl From<&Profile> for ProfileView {
    fn from(p: &Profile) -> Self {
        ProfileView {
            civility: p.civility.map(|c| c.as_str()),
            last_name: p.last_name.clone(),
            first_name: p.first_name.clone(),
            function: p.function.clone(),
            phone: p.phone.clone(),
            email: p.email.clone(),
            fax: p.fax.clone(),
            address: p.address.clone(),
            postal_code: p.postal_code.clone(),
            city: p.city.clone(),
            country: p.country.clone(),
        }
    }
}

/// A user: its profile's fields and its own, then what a given answer adds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView<X: Serialize = NoMore> {
    #[serde(flatten)]
    pub profile: ProfileView,
    pub id: i64,
    pub kind: &'static str,
    pub status: &'static str,
    /// Seed 004 §4: accepted, pending or refused.
    pub validation_status: &'static str,
    pub login: Option<Login>,
    /// The tag of the link the answer is about (tags are per link).
    pub tag: Option<Tag>,
    pub department_id: Option<i64>,
    pub user_key: Option<UserKey>,
    pub main_contact: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The rights of the link the answer is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<RightSet>,
    #[serde(flatten)]
    pub more: X,
}

/// Nothing more.
#[derive(Serialize)]
pub struct NoMore {}

impl UserView {
    pub fn new(u: &User, rights: Option<RightSet>) -> Self {
        UserView::with(u, rights, NoMore {})
    }
}

impl<X: Serialize> UserView<X> {
    pub fn with(u: &User, rights: Option<RightSet>, more: X) -> Self {
        UserView {
            profile: ProfileView::from(&u.profile),
            id: u.id,
            kind: u.kind.as_str(),
            status: u.status.as_str(),
            validation_status: u.validation.as_str(),
            login: u.login.clone(),
            tag: None,
            department_id: u.department_id,
            user_key: u.user_key,
            main_contact: u.main_contact,
            created_at: u.created_at,
            updated_at: u.updated_at,
            rights,
            more,
        }
    }

    /// The answer is about the link carrying `tag`.
    pub fn tagged(mut self, tag: Option<Tag>) -> Self {
        self.tag = tag;
        self
    }
}

/// `{"token","tokenType","kind","expiresAt"}` of a new session, and the user an impersonation
/// acts as.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub token: String,
    pub token_type: &'static str,
    pub kind: &'static str,
    pub expires_at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
}

/// A mail sent about a user: where, until when its link works, whether it was queued.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentView {
    pub expires_at: Millis,
    pub sent_to: String,
    pub queued: bool,
}
