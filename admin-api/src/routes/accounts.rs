//! Accounts (`/admin/v1/accounts`, operator), their departments, and the rights catalogue.

use axum::extract::{Path, State};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sesame_domain::model::{Account, AccountStatus, Actor, Department};
use sesame_domain::rights::{Grant, Right, ScopedRight, ADVANCED_GRANTS};
use sesame_domain::{AccountNumber, Civility, Email, RightSet, Scope};
use sesame_store::AccountFilter;

use super::table::Routes;
use crate::auth::{account_for, AccountPath, Caller, OperatorOnly};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::forms::{check_comment, check_text, StatusIn};
use crate::openapi::{max_len, obj, op, rights, s, ADMIN, OPERATOR, PUBLIC};
use crate::views::{
    created, departments, no_content, ok, rights_detail, AccountView, DepartmentView, Items, Page,
    Res, RightView,
};
use crate::AppState;

pub fn routes(r: Routes) -> Routes {
    r.route(
        "/admin/v1/rights",
        get(rights_catalogue),
        [op("get", "Rights catalogue: ids, French/English labels, CSV columns, and the routes each right gates (`gates`)", PUBLIC, None, 200)],
    )
    .route(
        "/admin/v1/accounts",
        get(list_accounts).post(create_account),
        [
            op("get", "List accounts with their number of users (q: in the number or company name, status, page, perPage)", OPERATOR, None, 200),
            op("post", "Create an account with entitlements, upstream credentials, admin password, departments", OPERATOR, Some("NewAccount"), 201),
        ],
    )
    .route(
        "/admin/v1/accounts/{n}",
        get(get_account),
        [op("get", "Get an account (`me` for the signed-in account admin)", ADMIN, None, 200)],
    )
    .route(
        "/admin/v1/accounts/{n}/entitlements",
        put(set_entitlements),
        [op("put", "Replace the account's entitlements", OPERATOR, Some("Entitlements"), 200)],
    )
    .route(
        "/admin/v1/accounts/{n}/status",
        put(set_account_status),
        [op("put", "Enable or disable the account (with a comment)", OPERATOR, Some("Status"), 200)],
    )
    .route(
        "/admin/v1/accounts/{n}/upstream-credentials",
        put(set_upstream),
        [op("put", "Set the account's upstream credentials", OPERATOR, Some("Upstream"), 204)],
    )
    .route(
        "/admin/v1/accounts/{n}/departments",
        get(list_departments).post(add_department),
        [
            op("get", "List departments (services)", ADMIN, None, 200),
            op("post", "Add a department", ADMIN, Some("Department"), 201),
        ],
    )
    .schemas([
        (
            "NewAccount",
            obj(
                &["number", "company", "entitlements", "adminPassword", "upstreamLogin", "upstreamPassword"],
                &[
                    ("number", json!({"type": "string", "pattern": "^[0-9]{6}$"})),
                    ("company", s("string")),
                    ("contractType", s("string")),
                    ("entitlements", rights()),
                    ("adminPassword", s("string")),
                    ("upstreamLogin", s("string")),
                    ("upstreamPassword", s("string")),
                    ("departments", json!({"type": "array", "items": {"type": "string"}})),
                    ("contact", s("object")),
                ],
            ),
        ),
        ("Entitlements", obj(&["entitlements"], &[("entitlements", rights())])),
        (
            "Status",
            obj(&["enabled"], &[("enabled", s("boolean")), ("comment", max_len(500))]),
        ),
        (
            "Upstream",
            obj(
                &["upstreamLogin", "upstreamPassword"],
                &[("upstreamLogin", s("string")), ("upstreamPassword", s("string"))],
            ),
        ),
        ("Department", obj(&["name"], &[("name", max_len(80))])),
    ])
}

/// What the operator gives to create an account (the API's body, the console's form).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewAccount {
    number: AccountNumber,
    company: String,
    #[serde(default = "default_contract")]
    contract_type: String,
    entitlements: RightSet,
    /// The account admin's password (the account number is the login).
    admin_password: String,
    /// The account's own credentials at the carrier.
    upstream_login: String,
    upstream_password: String,
    #[serde(default)]
    departments: Vec<String>,
    /// The main contact (seed 004): created with the account, same rights as the account.
    #[serde(default)]
    contact: Option<Profile>,
}

fn default_contract() -> String {
    "PRIVILEGE".to_owned()
}

/// The main contact's identity: every text field given, unknown fields ignored. (Named like
/// the domain's type: serde's messages name it.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    civility: Option<Civility>,
    last_name: String,
    first_name: String,
    function: String,
    phone: String,
    email: Option<Email>,
    fax: Option<String>,
    address: String,
    postal_code: String,
    city: String,
    country: String,
}

impl From<Profile> for sesame_domain::Profile {
    fn from(c: Profile) -> Self {
        sesame_domain::Profile {
            civility: c.civility,
            last_name: c.last_name,
            first_name: c.first_name,
            function: c.function,
            phone: c.phone,
            email: c.email,
            fax: c.fax,
            address: c.address,
            postal_code: c.postal_code,
            city: c.city,
            country: c.country,
        }
    }
}

impl From<NewAccount> for sesame_store::NewAccount {
    fn from(a: NewAccount) -> Self {
        sesame_store::NewAccount {
            number: a.number,
            company: a.company,
            contract_type: a.contract_type,
            entitlements: a.entitlements,
            admin_password: a.admin_password,
            upstream_login: a.upstream_login,
            upstream_password: a.upstream_password,
            departments: a.departments,
            contact: a.contact.map(sesame_domain::Profile::from),
        }
    }
}

/// Creates an account (the operator's): the rule of `POST /admin/v1/accounts` and of the
/// console's form.
pub(crate) async fn add_account(state: &AppState, body: NewAccount) -> ApiResult<Account> {
    Ok(state
        .store
        .create_account(Actor::Operator, body.into())
        .await?)
}

async fn create_account(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Json(body): Json<NewAccount>,
) -> Res {
    let a = add_account(&state, body).await?;
    let deps = state.store.departments(a.id).await?;
    created(AccountView {
        departments: Some(departments(&deps)),
        ..AccountView::from(&a)
    })
}

/// The back office's filters of the accounts list: `q` (in the number or the company name),
/// `status`, `page`, `perPage`.
pub(crate) fn account_filter(q: &Query) -> ApiResult<AccountFilter> {
    let search = q.str("q").map(str::to_owned);
    if let Some(s) = &search {
        check_text("q", s, 100)?;
    }
    let status = q
        .str("status")
        .map(|s| {
            AccountStatus::parse(s)
                .map_err(|_| ApiError::invalid("status", "status: active or disabled"))
        })
        .transpose()?;
    let (_, per, offset) = q.page(50, 500)?;
    Ok(AccountFilter {
        q: search,
        status,
        offset,
        limit: per,
    })
}

/// A row of the accounts list: the account and its number of users.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountRow {
    #[serde(flatten)]
    account: AccountView,
    users: i64,
}

async fn list_accounts(State(state): State<AppState>, _op: OperatorOnly, q: Query) -> Res {
    let f = account_filter(&q)?;
    let (items, total) = state.store.search_accounts(&f).await?;
    ok(Page {
        items: items
            .iter()
            .map(|s| AccountRow {
                account: AccountView::from(&s.account),
                users: s.users,
            })
            .collect(),
        page: f.offset / f.limit + 1,
        per_page: f.limit,
        total: Some(total),
    })
}

async fn get_account(AccountPath { state, caller, n }: AccountPath) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let deps = state.store.departments(a.id).await?;
    ok(AccountView {
        departments: Some(departments(&deps)),
        entitlements_detail: Some(rights_detail(a.entitlements)),
        ..AccountView::from(&a)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntitlementsIn {
    entitlements: RightSet,
}

async fn set_entitlements(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<EntitlementsIn>,
) -> Res {
    let a = account_for(&state, &Caller::Operator, &n).await?;
    let a = state
        .store
        .set_entitlements(Actor::Operator, a.id, body.entitlements)
        .await?;
    ok(AccountView::from(&a))
}

async fn set_account_status(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<StatusIn>,
) -> Res {
    check_comment(body.comment.as_deref())?;
    let a = account_for(&state, &Caller::Operator, &n).await?;
    let status = if body.enabled {
        AccountStatus::Active
    } else {
        AccountStatus::Disabled
    };
    let a = state
        .store
        .set_account_status(Actor::Operator, a.id, status, body.comment.as_deref())
        .await?;
    ok(AccountView::from(&a))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpstreamIn {
    upstream_login: String,
    upstream_password: String,
}

async fn set_upstream(
    State(state): State<AppState>,
    _op: OperatorOnly,
    Path(n): Path<String>,
    Json(body): Json<UpstreamIn>,
) -> Res {
    let a = account_for(&state, &Caller::Operator, &n).await?;
    state
        .store
        .set_upstream_credentials(
            Actor::Operator,
            a.id,
            &body.upstream_login,
            &body.upstream_password,
        )
        .await?;
    no_content()
}

async fn list_departments(AccountPath { state, caller, n }: AccountPath) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let deps = state.store.departments(a.id).await?;
    ok(Items {
        items: departments(&deps),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DepartmentIn {
    name: String,
}

async fn add_department(
    AccountPath { state, caller, n }: AccountPath,
    Json(body): Json<DepartmentIn>,
) -> Res {
    let a = account_for(&state, &caller, &n).await?;
    let d = new_department(&state, &caller, &a, &body.name).await?;
    created(DepartmentView::from(&d))
}

/// Adds a department ("service") to `account`: the rule of `POST …/departments` and of the
/// console's form; a name the account has already is a conflict on `name`.
pub(crate) async fn new_department(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    name: &str,
) -> ApiResult<Department> {
    state
        .store
        .add_department(caller.actor(), account.id, name)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict { .. } | ApiError::Rule(_) => {
                ApiError::conflict("name", "a department with this name exists")
            }
            other => other,
        })
}

/// The catalogue of rights: `{"advanced": […], "standard": […]}`.
#[derive(Serialize)]
struct Catalogue {
    advanced: Vec<RightView>,
    standard: Vec<RightView>,
}

/// What Sesame does with each right: the routes it gates, or that Sesame only stores it for the
/// carrier's own applications (the seeds' interfaces that are not Sesame's). One line each, in
/// the catalogue's `gates`, so no right silently means nothing.
pub fn gates(g: Grant) -> &'static str {
    const STORED: &str =
        "stored for the carrier's own applications (Sesame gates no route with it)";
    match g {
        Grant::Plain(r) => match r {
            Right::WsPostage => "gateway: POST /sls-ws/SlsServiceWSRest/{2.0,3.1}/generateLabel and checkGenerateLabel, SOAP /sls-ws/SlsServiceWS/2.0 (labels for the account)",
            Right::WsPickupPoint => "gateway: POST /pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement",
            Right::WsTracking => "gateway: POST /tracking-timeline-ws/rest/tracking/timelineCompany, GET /suivi/v2/idships/{id} (every parcel of the account)",
            Right::WsEligibility => "gateway: POST /api-ewe/v1/rest/additionalinformations (one answer per account holding it)",
            Right::SiteAccess => "admin API: POST /admin/v1/sessions with a login (and the console and portal sign-in): a collaborator without it cannot sign in (403 no_site_access)",
            Right::Coliship
            | Right::TechSupport
            | Right::Consumables
            | Right::TrackingInterface
            | Right::Dashboard
            | Right::PassPartner
            | Right::DeliverySimplicite
            | Right::DeliveryFlexibilite
            | Right::RecipientNotifications
            | Right::TariffConditions
            | Right::CustomerServiceChat
            | Right::AccountGroups
            | Right::Collection => STORED,
            // Issue 16: the commerce rights gate the routes an operator declares with them.
            Right::OrderCreate => "gateway: every declared route with right = \"order_create\" ([[gateway.routes]], docs/ROUTES.md); the demo's POST and GET /commerce/v1/orders",
            Right::OrderValidate => "gateway: every declared route with right = \"order_validate\" ([[gateway.routes]]); the demo's POST /commerce/v1/orders/{id}/validation",
            Right::AddressManage => "gateway: every declared route with right = \"address_manage\" ([[gateway.routes]]); the demo's GET, POST and PUT /commerce/v1/addresses",
        },
        Grant::Scoped(ScopedRight::TrackingTool, _) => "gateway: GET /sesame/v1/parcels (search and CSV) and GET /entreprise/colis/login/parcel, for the parcels in the scope",
        Grant::Scoped(ScopedRight::TrackingToolCs, _) => "gateway: as tracking_tool, plus POST /sesame/v1/parcels/{id}/claims, for the parcels in the scope",
        Grant::Scoped(ScopedRight::Invoices, _) => "gateway: GET /sesame/v1/invoices, GET /sesame/v1/invoices/{account}/{number}/pdf, POST /sesame/v1/invoices/zip, for the invoices in the scope; declared routes with right = \"invoices\" filter documents by it (the demo's /commerce/v1/documents)",
    }
}

async fn rights_catalogue() -> Res {
    let advanced = ADVANCED_GRANTS
        .iter()
        .map(|(g, col)| RightView {
            csv_column: Some(col),
            gates: Some(gates(*g)),
            ..RightView::from(*g)
        })
        .collect();
    let standard = Right::ALL
        .iter()
        .filter(|r| r.for_standard())
        .map(|r| Grant::Plain(*r))
        .chain(
            [Scope::OWN, Scope::GROUP, Scope::ALL]
                .into_iter()
                .flat_map(|s| {
                    [
                        Grant::Scoped(ScopedRight::TrackingToolCs, s),
                        Grant::Scoped(ScopedRight::Invoices, s),
                    ]
                }),
        )
        .map(|g| RightView {
            gates: Some(gates(g)),
            ..RightView::from(g)
        })
        .collect();
    ok(Catalogue { advanced, standard })
}
