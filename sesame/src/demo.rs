//! `sesame demo`: everything in one process on a fresh SQLite database, seeded with the seeds'
//! example accounts, printing curl commands that work as printed.

use std::io::Write;
use std::net::SocketAddr;

use sesame_simulator::{SimAccount, Simulator, Stamp};

use crate::app::{self, AppError, Parts, Role, ShutdownRx};
use crate::settings::{random_secrets, Settings};

/// Password of every demo login (account admins, the standard user, the advanced user).
pub const DEMO_PASSWORD: &str = "Demo-pass-2026";

/// One command the demo prints, with what it shows.
#[derive(Clone, Debug)]
pub struct DemoCommand {
    pub title: String,
    pub curl: String,
}

/// What the running demo is made of.
#[derive(Clone, Debug)]
pub struct DemoInfo {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub ops: SocketAddr,
    pub simulator: SocketAddr,
    pub database: String,
    pub connection_key: String,
    pub user_key: String,
    pub operator_token: String,
    pub commands: Vec<DemoCommand>,
}

/// A running demo; dropping `shutdown` (or sending on it) stops it.
pub struct Demo {
    pub info: DemoInfo,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Result<(), AppError>>,
}

impl Demo {
    pub async fn stop(self) -> Result<(), AppError> {
        let _ = self.stop.send(());
        self.done.await.map_err(|e| Box::new(e) as AppError)?
    }
}

struct DemoAccount {
    number: &'static str,
    company: &'static str,
    entitlements: &'static [&'static str],
    departments: &'static [&'static str],
}

/// The accounts of seed 000's screenshots.
const ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount {
        number: "900138",
        company: "TELINTRANS WU PDT PROFIL XML",
        entitlements: &[
            "ws_postage",
            "coliship",
            "ws_pickup_point",
            "ws_tracking",
            "ws_eligibility",
            "tracking_tool:all",
            "tracking_tool_cs:all",
            "invoices:all",
            "dashboard",
            "consumables",
            "tariff_conditions",
            "order_create",
            "order_validate",
            "address_manage",
        ],
        departments: &["Logistique", "Comptabilité"],
    },
    DemoAccount {
        number: "832519",
        company: "COMTE TEST INET",
        entitlements: &[
            "ws_tracking",
            "ws_eligibility",
            "ws_pickup_point",
            "tracking_tool:all",
            "invoices:all",
        ],
        departments: &["Expéditions"],
    },
    DemoAccount {
        number: "839181",
        company: "HORIZON MOTO",
        entitlements: &["ws_postage", "ws_tracking", "ws_eligibility"],
        departments: &[],
    },
];

fn upstream_password() -> String {
    format!("sim-{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// Identity fields of the seeds' forms, as the admin API takes them.
fn person(last: &str, first: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "lastName": last, "firstName": first, "function": "Responsable logistique",
        "phone": "0241742088", "email": email, "emailConfirmation": email,
        "address": "11 rue d'Epluches", "postalCode": "95310", "city": "Saint-Ouen-l'Aumône",
    })
}

/// Starts the demo: binds every listener (so ports are known), serves, then seeds through the
/// admin API exactly as an operator and account admins would.
pub async fn start(mut settings: Settings) -> Result<Demo, AppError> {
    if !settings.database.url.starts_with("sqlite:") {
        return Err("database.url: the demo runs on SQLite (a fresh file each run)".into());
    }
    if settings.secrets.server_secret.is_empty() || settings.secrets.master_key.is_empty() {
        // The database is fresh each run, so fresh secrets each run lose nothing.
        let op = settings.secrets.operator_token.clone();
        settings.secrets = random_secrets();
        if !op.is_empty() {
            settings.secrets.operator_token = op;
        }
    }
    settings.validate().map_err(Box::new)?;
    // The demo recreates its database at every start: never point that at a real one. A file
    // whose name does not say "demo" (e.g. the default `.sesame/sesame.db` when no demo config
    // was found) is replaced by `demo.db` beside it.
    settings.database.url = demo_database_url(&settings.database.url);
    remove_sqlite_files(&settings.database.url);

    let sim_listener = app::bind(settings.listen.simulator, "listen.simulator").await?;
    let sim_addr = sim_listener.local_addr()?;
    // The gateway talks to this simulator, wherever it was bound, and so do the declared
    // routes' upstreams that point where the carrier was configured (the commerce back-end).
    let rewrite = (
        settings
            .gateway
            .upstream_url
            .trim_end_matches('/')
            .to_owned(),
        format!("http://{sim_addr}"),
    );
    settings.gateway.upstream_url = format!("http://{sim_addr}");
    crate::settings::point_upstreams(&mut settings.gateway.upstreams, &rewrite.0, &rewrite.1);
    let mut parts = Parts::bind(&settings, Role::All).await?;
    parts.routes = (!settings.files.is_empty())
        .then(|| crate::settings::route_source(&settings.files, Some(rewrite)));
    let addr = |l: &Option<tokio::net::TcpListener>| -> Result<SocketAddr, AppError> {
        Ok(l.as_ref().ok_or("listener missing")?.local_addr()?)
    };
    let (public, admin, ops) = (addr(&parts.public)?, addr(&parts.admin)?, addr(&parts.ops)?);
    settings.admin.public_url = format!("http://{admin}");
    // The portal calls this demo's gateway, and the tracking link's OK button leads to this
    // demo's portal.
    settings.admin.gateway_url = format!("http://{public}");
    settings.gateway.portal_url = format!("http://{admin}/");

    let simulator = Simulator::new(settings.simulator.clone());
    let store = app::open_store(&settings).await?;
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = ShutdownRx::new(async move {
        let _ = stop_rx.await;
    });
    let sim_shutdown = shutdown.clone();
    let sim = simulator.clone();
    tokio::spawn(async move { sim.run(sim_listener, sim_shutdown.wait()).await });
    let run_settings = settings.clone();
    let done = tokio::spawn(async move { parts.run(run_settings, store, shutdown).await });

    let operator = settings.secrets.operator_token.expose().to_owned();
    let seeded = match seed(&format!("http://{admin}"), &operator, &simulator).await {
        Ok(s) => s,
        Err(e) => {
            let _ = stop.send(());
            let _ = done.await;
            return Err(format!("seeding the demo through the admin API: {e}").into());
        }
    };
    let info = DemoInfo {
        public,
        admin,
        ops,
        simulator: sim_addr,
        database: settings.database.url.clone(),
        connection_key: seeded.connection_key.clone(),
        user_key: seeded.user_key.clone(),
        operator_token: operator.clone(),
        commands: commands(public, admin, ops, &seeded, &operator),
    };
    Ok(Demo { info, stop, done })
}

/// Runs the demo until the signal, printing how to use it.
pub async fn run(
    settings: Settings,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    out: &mut (impl Write + Send),
) -> Result<(), AppError> {
    app::init_logging(&settings);
    let demo = start(settings).await?;
    print_info(&demo.info, out)?;
    signal.await;
    demo.stop().await
}

pub fn print_info(info: &DemoInfo, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "\nSesame demo is running (Ctrl-C to stop).\n")?;
    writeln!(
        out,
        "  web services + tracking links  http://{}",
        info.public
    )?;
    writeln!(
        out,
        "  admin API                      http://{}/admin/openapi.json",
        info.admin
    )?;
    writeln!(
        out,
        "  metrics / health               http://{}/metrics",
        info.ops
    )?;
    writeln!(
        out,
        "  upstream simulator             http://{}",
        info.simulator
    )?;
    writeln!(out, "  database (fresh each run)      {}", info.database)?;
    writeln!(
        out,
        "  e-mails (no SMTP configured)   the outbox, see the last commands\n"
    )?;
    writeln!(
        out,
        "Advanced user 'kadj-mco' (password {DEMO_PASSWORD}), linked to 900138 and 832519:"
    )?;
    writeln!(out, "  user key        {}", info.user_key)?;
    writeln!(out, "  connection key  {}", info.connection_key)?;
    writeln!(out, "Standard user 'jean.dupont' and account admins 900138, 832519, 839181: password {DEMO_PASSWORD}")?;
    writeln!(out, "Collaborators of 900138 (commerce routes declared in config/demo.toml): 'paul.bernard' (order_create, address_manage, own documents), 'claire.petit' (order_validate, all documents): password {DEMO_PASSWORD}\n")?;
    writeln!(out, "Web console  http://{}/console/", info.admin)?;
    writeln!(
        out,
        "  account admin  Identifiant 900138 (or 832519, 839181), Mot de passe {DEMO_PASSWORD}"
    )?;
    writeln!(
        out,
        "  users          Identifiant kadj-mco (advanced) or jean.dupont (standard), Mot de passe {DEMO_PASSWORD}"
    )?;
    writeln!(
        out,
        "  operator       http://{}/console/operator/sign-in, Jeton opérateur {}\n",
        info.admin, info.operator_token
    )?;
    for c in &info.commands {
        writeln!(out, "# {}\n{}\n", c.title, c.curl)?;
    }
    Ok(())
}

fn demo_database_url(url: &str) -> String {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = std::path::Path::new(path.split('?').next().unwrap_or_default());
    let is_demo = path
        .file_name()
        .and_then(|f| f.to_str())
        .is_some_and(|f| f.contains("demo"));
    if is_demo {
        return url.to_owned();
    }
    let demo = path.with_file_name("demo.db");
    tracing::warn!(configured = %url, used = %demo.display(), "the demo uses its own database file");
    format!("sqlite://{}", demo.display())
}

fn remove_sqlite_files(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

struct Seeded {
    connection_key: String,
    user_key: String,
    /// A parcel of 900138 (visible: consolidated tracking there).
    parcel_main: String,
    /// A parcel of 832519 bearing the user's key (visible: "own" scope there).
    parcel_own: String,
}

/// A tiny client of the admin API that turns any non-2xx answer into an error with its body.
/// A client of the admin API, as the demo (and tests that seed like it) use it.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
}

impl AdminClient {
    /// `base`: the admin listener's URL, e.g. `http://127.0.0.1:8081`.
    pub fn new(base: &str) -> AdminClient {
        AdminClient {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    /// Calls `method path` with an optional bearer token and JSON body; a non-2xx answer is an
    /// error carrying the status and the body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, AppError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn sign_in(&self, account: &str) -> Result<String, AppError> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/admin/v1/sessions",
                None,
                Some(serde_json::json!({"accountNumber": account, "password": DEMO_PASSWORD})),
            )
            .await?;
        Ok(v["token"]
            .as_str()
            .ok_or("sign-in answer without a token")?
            .to_owned())
    }
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> Result<&'a str, AppError> {
    v[key]
        .as_str()
        .ok_or_else(|| format!("admin API answer without '{key}': {v}").into())
}

async fn seed(base: &str, operator: &str, sim: &Simulator) -> Result<Seeded, AppError> {
    use reqwest::Method;
    let api = AdminClient::new(base);
    // The operator creates the accounts with their entitlements and upstream credentials; the
    // simulator learns the same credentials (it plays the carrier).
    let mut sim_accounts = Vec::new();
    for a in &ACCOUNTS {
        let pw = upstream_password();
        api.call(
            Method::POST,
            "/admin/v1/accounts",
            Some(operator),
            Some(serde_json::json!({
                "number": a.number, "company": a.company, "contractType": "PRIVILEGE",
                "entitlements": a.entitlements, "adminPassword": DEMO_PASSWORD,
                "upstreamLogin": a.number, "upstreamPassword": pw, "departments": a.departments,
            })),
        )
        .await?;
        let mut s = SimAccount::new(a.number, pw, a.company);
        s.departments = a.departments.iter().map(|d| d.to_string()).collect();
        sim_accounts.push(s);
    }
    // Account 900138's admin invites the advanced user of seed 000 §3's table…
    let admin1 = api.sign_in("900138").await?;
    let deps = api
        .call(
            Method::GET,
            "/admin/v1/accounts/900138/departments",
            Some(&admin1),
            None,
        )
        .await?;
    let logistique = deps["items"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "Logistique"))
        .and_then(|x| x["id"].as_i64());
    let mut body = person("MCO", "Kadjogbé", "kadj.mco@example.fr");
    body["tag"] = "ENTREPOT-NORD".into();
    body["departmentId"] = logistique.into();
    body["rights"] = serde_json::json!(sesame_domain::rights::EVERY_SERVICE_AND_TOOL);
    api.call(
        Method::POST,
        "/admin/v1/accounts/900138/advanced-users",
        Some(&admin1),
        Some(body),
    )
    .await?;
    // …who finds the invitation link in its e-mail (the outbox, without SMTP) and confirms.
    let mails = api
        .call(Method::GET, "/admin/v1/outbox", Some(operator), None)
        .await?;
    let token = invitation_token(&mails, "kadj.mco@example.fr")
        .ok_or("no invitation e-mail in the outbox")?;
    let accepted = api
        .call(
            Method::POST,
            &format!("/admin/v1/invitations/{token}"),
            None,
            Some(serde_json::json!({"login": "kadj-mco", "password": DEMO_PASSWORD, "passwordConfirmation": DEMO_PASSWORD})),
        )
        .await?;
    let connection_key = text(&accepted, "connectionKey")?.to_owned();
    let user_key = text(&accepted, "userKey")?.to_owned();
    // Account 832519's admin finds the same user by its user key and links it, narrower rights.
    let admin2 = api.sign_in("832519").await?;
    api.call(
        Method::GET,
        &format!("/admin/v1/advanced-users/{user_key}"),
        Some(&admin2),
        None,
    )
    .await?;
    api.call(
        Method::POST,
        "/admin/v1/accounts/832519/links",
        Some(&admin2),
        Some(serde_json::json!({"userKey": user_key, "tag": "ENTREPOT-NORD", "rights": ["ws_tracking", "ws_eligibility", "tracking_tool:own", "invoices:own"]})),
    )
    .await?;
    // A standard user of 900138 (legacy login/password on the web services).
    let mut std_user = person("Dupont", "Jean", "jean.dupont@example.fr");
    std_user["login"] = "jean.dupont".into();
    std_user["password"] = DEMO_PASSWORD.into();
    std_user["passwordConfirmation"] = DEMO_PASSWORD.into();
    std_user["rights"] = serde_json::json!(["ws_tracking", "dashboard", "invoices:all"]);
    std_user["departmentId"] = logistique.into();
    api.call(
        Method::POST,
        "/admin/v1/accounts/900138/users",
        Some(&admin1),
        Some(std_user),
    )
    .await?;
    // Two collaborators of seed 004 with different commerce rights, behind the routes that
    // config/demo.toml declares: Paul creates orders and manages addresses and sees his own
    // documents; Claire validates orders and sees every document.
    let compta = deps["items"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "Comptabilité"))
        .and_then(|x| x["id"].as_i64());
    let mut collaborators = Vec::new();
    for (last, first, login, dept, rights) in [
        (
            "Bernard",
            "Paul",
            "paul.bernard",
            logistique,
            serde_json::json!(["order_create", "address_manage", "invoices:own"]),
        ),
        (
            "Petit",
            "Claire",
            "claire.petit",
            compta,
            serde_json::json!(["order_validate", "invoices:all"]),
        ),
    ] {
        let mut u = person(last, first, &format!("{login}@example.fr"));
        u["login"] = login.into();
        u["password"] = DEMO_PASSWORD.into();
        u["passwordConfirmation"] = DEMO_PASSWORD.into();
        u["rights"] = rights;
        u["departmentId"] = dept.into();
        let created = api
            .call(
                Method::POST,
                "/admin/v1/accounts/900138/users",
                Some(&admin1),
                Some(u),
            )
            .await?;
        let id = created["id"].as_i64().ok_or("user answer without an id")?;
        collaborators.push((
            id,
            if dept == logistique {
                "Logistique"
            } else {
                "Comptabilité"
            },
        ));
    }
    // The commerce back-end names a document's contact by the collaborator's user id.
    if let Some(main) = sim_accounts.first_mut() {
        for (id, dept) in &collaborators {
            main.stamps.push(Stamp {
                user_key: id.to_string(),
                tag: None,
                department: Some((*dept).to_owned()),
            });
        }
    }
    // The simulator attributes parcels and invoices to the user's key and tag.
    for s in &mut sim_accounts {
        s.stamps.push(Stamp {
            user_key: user_key.clone(),
            tag: Some("ENTREPOT-NORD".into()),
            department: Some("Logistique".into()),
        });
        sim.add_account(s.clone());
    }
    let pick = |account: &str, own: bool| -> Result<String, AppError> {
        sim.parcels(account)
            .into_iter()
            .find(|p| !own || p.user_key.as_deref() == Some(user_key.as_str()))
            .map(|p| p.number)
            .ok_or_else(|| format!("the simulator has no parcel for {account}").into())
    };
    Ok(Seeded {
        parcel_main: pick("900138", false)?,
        parcel_own: pick("832519", true)?,
        connection_key,
        user_key,
    })
}

fn commands(
    public: SocketAddr,
    admin: SocketAddr,
    ops: SocketAddr,
    s: &Seeded,
    operator: &str,
) -> Vec<DemoCommand> {
    let key = &s.connection_key;
    let c = |title: &str, curl: String| DemoCommand {
        title: title.into(),
        curl,
    };
    let label_body = serde_json::json!({
        "contractNumber": "900138",
        "outputFormat": {"x": 0, "y": 0, "outputPrintingType": "PDF_10x15_300dpi"},
        "letter": {
            "service": {"productCode": "DOM", "depositDate": "2026-12-01", "orderNumber": "CMD-0001"},
            "parcel": {"weight": 1.2},
            "sender": {"senderParcelRef": "REF-1", "address": {"companyName": "TELINTRANS", "line2": "1 rue de la Poste", "countryCode": "FR", "city": "Paris", "zipCode": "75001"}},
            "addressee": {"address": {"lastName": "Martin", "firstName": "Alice", "line2": "2 avenue de Lyon", "countryCode": "FR", "city": "Angers", "zipCode": "49000"}}
        }
    });
    vec![
        c(
            "Track a parcel of 900138 (key in the body, as existing clients send it)",
            format!(
                "curl -sS -f -X POST http://{public}/tracking-timeline-ws/rest/tracking/timelineCompany -H 'Content-Type: application/json' -d '{{\"apiKey\":\"{key}\",\"parcelNumber\":\"{}\",\"lang\":\"fr_FR\"}}'",
                s.parcel_main
            ),
        ),
        c(
            "Tracking v2 of a parcel of 832519 that bears the user's key (X-Okapi-Key header)",
            format!("curl -sS -f http://{public}/suivi/v2/idships/{}?lang=fr_FR -H 'X-Okapi-Key: {key}'", s.parcel_own),
        ),
        c(
            "Tracking v2 of several parcels at once (one entry each; 207 when some are unknown)",
            format!(
                "curl -sS -f 'http://{public}/suivi/v2/idships/{},{}?lang=fr_FR' -H 'X-Okapi-Key: {key}'",
                s.parcel_own, s.parcel_main
            ),
        ),
        c(
            "SOAP label service as ERP carrier modules call it (key in the password field; MTOM answer, the parcel number shown)",
            format!(
                "curl -sS -f -X POST http://{public}/sls-ws/SlsServiceWS/2.0 -H 'Content-Type: text/xml;charset=UTF-8' --data-binary '<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><sls:generateLabel xmlns:sls=\"http://sls.ws.coliposte.fr\"><generateLabelRequest><contractNumber>900138</contractNumber><password>{key}</password><outputFormat><x>0</x><y>0</y><outputPrintingType>PDF_10x15_300dpi</outputPrintingType></outputFormat><letter><service><productCode>DOM</productCode><depositDate>2026-12-01</depositDate></service><parcel><weight>1.2</weight></parcel><sender><address><companyName>TELINTRANS</companyName><line2>1 rue de la Poste</line2><countryCode>FR</countryCode><city>Paris</city><zipCode>75001</zipCode></address></sender><addressee><address><lastName>Martin</lastName><line2>2 avenue de Lyon</line2><countryCode>FR</countryCode><city>Angers</city><zipCode>49000</zipCode></address></addressee></letter></generateLabelRequest></sls:generateLabel></soapenv:Body></soapenv:Envelope>' | grep -a -o '<parcelNumber>[^<]*</parcelNumber>'"
            ),
        ),
        c(
            "Generate a label for 900138 (key in the apiKey header; the answer is multipart with the PDF)",
            format!(
                "curl -sS -f -o /dev/null -w '%{{http_code}} %{{content_type}}\\n' -X POST http://{public}/sls-ws/SlsServiceWSRest/2.0/generateLabel -H 'apiKey: {key}' -H 'Content-Type: application/json' -d '{label_body}'"
            ),
        ),
        c(
            "Pickup points near 75001 for 900138",
            format!(
                "curl -sS -f -X POST http://{public}/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement -H 'Content-Type: application/json' -d '{{\"apikey\":\"{key}\",\"accountNumber\":\"900138\",\"zipCode\":\"75001\",\"city\":\"Paris\",\"countryCode\":\"FR\",\"weight\":\"1000\",\"shippingDate\":\"01/12/2026\",\"filterRelay\":\"1\"}}'"
            ),
        ),
        c(
            "Eligibility: one answer per linked account holding the right (fan-out)",
            format!(
                "curl -sS -f -X POST http://{public}/api-ewe/v1/rest/additionalinformations -H 'Content-Type: application/json' -d '{{\"credential\":{{\"apiKey\":\"{key}\"}}}}'"
            ),
        ),
        c(
            "URL tracking link (open it in a browser too)",
            format!("curl -sS -f 'http://{public}/entreprise/colis/login/parcel?apikey={key}&cab={}'", s.parcel_main),
        ),
        c(
            "Legacy login/password of the standard user still works",
            format!(
                "curl -sS -f -X POST http://{public}/tracking-timeline-ws/rest/tracking/timelineCompany -H 'Content-Type: application/json' -d '{{\"login\":\"jean.dupont\",\"password\":\"{DEMO_PASSWORD}\",\"parcelNumber\":\"{}\"}}'",
                s.parcel_main
            ),
        ),
        c(
            "Account admin sign-in on the admin API (returns a bearer token)",
            format!(
                "curl -sS -f -X POST http://{admin}/admin/v1/sessions -H 'Content-Type: application/json' -d '{{\"accountNumber\":\"900138\",\"password\":\"{DEMO_PASSWORD}\"}}'"
            ),
        ),
        c(
            "The e-mails Sesame sent (invitation, rights), from the outbox (operator token)",
            format!("curl -sS -f http://{admin}/admin/v1/outbox -H 'Authorization: Bearer {operator}'"),
        ),
        c(
            "Declared route (config/demo.toml): collaborator paul.bernard creates an order for 900138 (right order_create; his login/password never reach the commerce back-end)",
            format!(
                "curl -sS -f -u paul.bernard:{DEMO_PASSWORD} -X POST http://{public}/commerce/v1/orders -H 'Content-Type: application/json' -d '{{\"reference\":\"PO-2026-001\",\"lines\":[{{\"sku\":\"CARTON-M\",\"quantity\":50}}]}}'"
            ),
        ),
        c(
            "Declared route: claire.petit sees every document of 900138 (paul.bernard would see only his own)",
            format!("curl -sS -f -u claire.petit:{DEMO_PASSWORD} http://{public}/commerce/v1/documents"),
        ),
        c(
            "Declared route, refused: paul.bernard may not validate orders (403, right order_validate, in the route's own envelope)",
            format!(
                "curl -sS -w '\\n%{{http_code}}\\n' -u paul.bernard:{DEMO_PASSWORD} -X POST http://{public}/commerce/v1/orders/O-900138-4/validation"
            ),
        ),
        c("Prometheus metrics", format!("curl -sS -f http://{ops}/metrics")),
    ]
}

/// The invitation token in the last e-mail of the outbox (`GET /admin/v1/outbox`) sent to `to`:
/// what the invited user clicks.
pub fn invitation_token(outbox: &serde_json::Value, to: &str) -> Option<String> {
    let link = outbox["items"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["to"] == to)?["body"]
        .as_str()?
        .split_whitespace()
        .find(|w| w.contains("/admin/v1/invitations/"))?;
    let token = link.rsplit('/').next()?.trim_end_matches(['.', ',', ')']);
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_never_recreates_a_database_that_is_not_its_own() {
        for (configured, used) in [
            ("sqlite://.sesame/demo.db", "sqlite://.sesame/demo.db"),
            ("sqlite:///tmp/x/my-demo.db", "sqlite:///tmp/x/my-demo.db"),
            ("sqlite://.sesame/sesame.db", "sqlite://.sesame/demo.db"),
            (
                "sqlite:///var/lib/sesame/sesame.db?mode=rwc",
                "sqlite:///var/lib/sesame/demo.db",
            ),
        ] {
            assert_eq!(super::demo_database_url(configured), used, "{configured}");
        }
    }
}
