//! `sesame demo`: everything in one process on a fresh SQLite database, seeded with the seeds'
//! example accounts, printing curl commands that work as printed.

use std::io::Write;
use std::net::SocketAddr;

use sesame_domain::model::Actor;
use sesame_domain::{AccountNumber, Email, Login, Profile, RightSet, Tag};
use sesame_simulator::{SimAccount, Simulator, Stamp};
use sesame_store::{NewAccount, NewAdvancedUser, NewStandardUser, Store};

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
            "ws_postage", "coliship", "ws_pickup_point", "ws_tracking", "ws_eligibility", "tracking_tool:all",
            "tracking_tool_cs:all", "invoices:all", "dashboard", "consumables", "tariff_conditions",
        ],
        departments: &["Logistique", "Comptabilité"],
    },
    DemoAccount {
        number: "832519",
        company: "COMTE TEST INET",
        entitlements: &["ws_tracking", "ws_eligibility", "ws_pickup_point", "tracking_tool:all", "invoices:all"],
        departments: &["Expéditions"],
    },
    DemoAccount {
        number: "839181",
        company: "HORIZON MOTO",
        entitlements: &["ws_postage", "ws_tracking", "ws_eligibility"],
        departments: &[],
    },
];

fn rights(ids: &[&str]) -> Result<RightSet, AppError> {
    Ok(RightSet::parse_ids(ids.iter().copied())?)
}

fn upstream_password() -> String {
    format!("sim-{}", hex::encode(rand::random::<[u8; 8]>()))
}

fn profile(last: &str, first: &str, email: &str) -> Result<Profile, AppError> {
    Ok(Profile {
        last_name: last.into(),
        first_name: first.into(),
        function: "Responsable logistique".into(),
        phone: "0241742088".into(),
        email: Some(Email::parse(email)?),
        address: "11 rue d'Epluches".into(),
        postal_code: "95310".into(),
        city: "Saint-Ouen-l'Aumône".into(),
        country: "France".into(),
        ..Profile::default()
    })
}

/// Starts the demo: binds every listener (so ports are known), seeds, serves.
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
    remove_sqlite_files(&settings.database.url);

    let sim_listener = app::bind(settings.listen.simulator, "listen.simulator").await?;
    let sim_addr = sim_listener.local_addr()?;
    // The gateway talks to this simulator, wherever it was bound.
    settings.gateway.upstream_url = format!("http://{sim_addr}");
    let parts = Parts::bind(&settings, Role::All).await?;
    let addr = |l: &Option<tokio::net::TcpListener>| -> Result<SocketAddr, AppError> {
        Ok(l.as_ref().ok_or("listener missing")?.local_addr()?)
    };
    let (public, admin, ops) = (addr(&parts.public)?, addr(&parts.admin)?, addr(&parts.ops)?);
    settings.admin.public_url = format!("http://{admin}");

    let simulator = Simulator::new(settings.simulator.clone());
    let store = app::open_store(&settings).await?;
    let seeded = seed(&store, &simulator).await?;

    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = ShutdownRx::new(async move {
        let _ = stop_rx.await;
    });
    let sim_shutdown = shutdown.clone();
    let sim = simulator.clone();
    tokio::spawn(async move { sim.run(sim_listener, sim_shutdown.wait()).await });
    let run_settings = settings.clone();
    let done = tokio::spawn(async move { parts.run(run_settings, store, shutdown).await });

    let info = DemoInfo {
        public,
        admin,
        ops,
        simulator: sim_addr,
        database: settings.database.url.clone(),
        connection_key: seeded.connection_key.clone(),
        user_key: seeded.user_key.clone(),
        operator_token: settings.secrets.operator_token.expose().to_owned(),
        commands: commands(public, admin, ops, &seeded, settings.secrets.operator_token.expose()),
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
    writeln!(out, "  web services + tracking links  http://{}", info.public)?;
    writeln!(out, "  admin API                      http://{}/admin/openapi.json", info.admin)?;
    writeln!(out, "  metrics / health               http://{}/metrics", info.ops)?;
    writeln!(out, "  upstream simulator             http://{}", info.simulator)?;
    writeln!(out, "  database (fresh each run)      {}", info.database)?;
    writeln!(out, "  e-mails (no SMTP configured)   the outbox, see the last command\n")?;
    writeln!(out, "Advanced user 'kadj-mco' (password {DEMO_PASSWORD}), linked to 900138 and 832519:")?;
    writeln!(out, "  user key        {}", info.user_key)?;
    writeln!(out, "  connection key  {}", info.connection_key)?;
    writeln!(out, "Standard user 'jean.dupont' and account admins 900138, 832519, 839181: password {DEMO_PASSWORD}\n")?;
    for c in &info.commands {
        writeln!(out, "# {}\n{}\n", c.title, c.curl)?;
    }
    Ok(())
}

fn remove_sqlite_files(url: &str) {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

struct Seeded {
    connection_key: String,
    user_key: String,
    /// A parcel of 900138 posted by the advanced user (visible: consolidated tracking there).
    parcel_main: String,
    /// A parcel of 832519 bearing the user's key (visible: "own" scope there).
    parcel_own: String,
}

async fn seed(store: &Store, sim: &Simulator) -> Result<Seeded, AppError> {
    let mut ids = Vec::new();
    let mut sim_accounts = Vec::new();
    for a in &ACCOUNTS {
        let pw = upstream_password();
        let acc = store
            .create_account(
                Actor::System,
                NewAccount {
                    number: AccountNumber::parse(a.number)?,
                    company: a.company.into(),
                    contract_type: "PRIVILEGE".into(),
                    entitlements: rights(a.entitlements)?,
                    admin_password: DEMO_PASSWORD.into(),
                    upstream_login: a.number.into(),
                    upstream_password: pw.clone(),
                    departments: a.departments.iter().map(|d| d.to_string()).collect(),
                    contact: None,
                },
            )
            .await?;
        ids.push(acc.id);
        let mut s = SimAccount::new(a.number, pw, a.company);
        s.departments = a.departments.iter().map(|d| d.to_string()).collect();
        sim_accounts.push(s);
    }
    let admin = Actor::AccountAdmin { account_id: ids[0] };
    let logistique = store.departments(ids[0]).await?.into_iter().find(|d| d.name == "Logistique").map(|d| d.id);
    // The advanced user of seed 000 §3's table, invited by 900138 and confirmed.
    let (user, _inv, token) = store
        .create_advanced_user(
            admin.clone(),
            ids[0],
            NewAdvancedUser {
                profile: profile("MCO", "Kadjogbé", "kadj.mco@example.fr")?,
                tag: Some(Tag::parse("ENTREPOT-NORD")?),
                rights: rights(&["ws_postage", "ws_tracking", "ws_pickup_point", "ws_eligibility", "tracking_tool:all", "tracking_tool_cs:all", "invoices:all"])?,
                department_id: logistique,
            },
        )
        .await?;
    let act = store.accept_invitation(&token, &Login::parse("kadj-mco")?, DEMO_PASSWORD, None).await?;
    let user_key = user.user_key.ok_or("advanced user without a user key")?;
    // 832519 associates the same user by its user key, with narrower rights.
    store
        .associate(
            Actor::AccountAdmin { account_id: ids[1] },
            ids[1],
            &user_key,
            rights(&["ws_tracking", "ws_eligibility", "tracking_tool:own", "invoices:own"])?,
        )
        .await?;
    // A standard user of 900138 (legacy login/password on the web services).
    store
        .create_standard_user(
            admin,
            ids[0],
            NewStandardUser {
                profile: profile("Dupont", "Jean", "jean.dupont@example.fr")?,
                login: Login::parse("jean.dupont")?,
                password: DEMO_PASSWORD.into(),
                rights: rights(&["ws_tracking", "dashboard", "invoices:all"])?,
                department_id: logistique,
            },
        )
        .await?;
    // The simulator attributes parcels and invoices to the user's key and tag.
    for s in &mut sim_accounts {
        s.stamps.push(Stamp { user_key: user_key.to_string(), tag: Some("ENTREPOT-NORD".into()), department: Some("Logistique".into()) });
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
        connection_key: act.connection_key.expose().to_owned(),
        user_key: user_key.to_string(),
        parcel_main: pick("900138", false)?,
        parcel_own: pick("832519", true)?,
    })
}

fn commands(public: SocketAddr, admin: SocketAddr, ops: SocketAddr, s: &Seeded, operator: &str) -> Vec<DemoCommand> {
    let key = &s.connection_key;
    let c = |title: &str, curl: String| DemoCommand { title: title.into(), curl };
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
        c("Prometheus metrics", format!("curl -sS -f http://{ops}/metrics")),
    ]
}
