//! The portal's fixture (issue 14): the gateway [`Stack`] (simulator, store, gateway on port 0)
//! **and** the admin [`Server`] on the *same* store, the admin's `gateway_url` pointing at the
//! stack's public listener and the gateway's `portal_url` at the admin listener (the tracking
//! link's OK button), seeded with what every portal test starts from.
//!
//! Seeded: two accounts ([`ACCOUNT_A`], [`ACCOUNT_B`], companies "Société <number>", entitled
//! to every service and tool plus Coliship and "Accès au site"); an advanced user
//! [`ADVANCED`] linked to both with every tool on the `all` scope and Coliship, its parcels and
//! invoices stamped on both; a standard user [`STANDARD`] of A (claims and invoices on `own`);
//! collaborators of A in departments "Logistique" and "Compta" with invoice visibility
//! own/department(group)/all; and a user of B only ([`STRANGER`]). Every user signs in with its
//! login and [`USER_PASSWORD`].

use sesame_store::{Backend, Store};

use crate::admin::Server;
use crate::gateway::{Collaborator, Stack, TestUser};
use crate::{Fixture, ALL_RIGHTS};

pub use crate::seed::USER_PASSWORD;

/// The first account (the advanced user's home).
pub const ACCOUNT_A: &str = "811001";
/// The second account the advanced user is linked to.
pub const ACCOUNT_B: &str = "811002";
/// The advanced user linked to both accounts.
pub const ADVANCED: &str = "avance.portail";
/// A standard user of account A.
pub const STANDARD: &str = "standard.portail";
/// An advanced user of account B only: its parcels are out of the others' reach on A.
pub const STRANGER: &str = "etranger.portail";

/// The stack and the admin API on one store, seeded (see the module's documentation).
pub struct Portal {
    pub stack: Stack,
    pub admin: Server,
    /// Account ids in the store, A then B.
    pub a: i64,
    pub b: i64,
    pub advanced: TestUser,
    pub stranger: TestUser,
    pub standard: Collaborator,
    /// Collaborators of A with invoice visibility own ("Logistique"), department
    /// ("Logistique") and all ("Compta"), in that order.
    pub collaborators: Vec<Collaborator>,
}

impl Fixture for Portal {
    async fn start(backend: Backend) -> Portal {
        Portal::start(backend).await
    }
    async fn shutdown(self) {
        Portal::shutdown(self).await
    }
}

/// What the fixture accounts are entitled to: every service and tool, Coliship, and the
/// collaborators' catalogue rights the tests grant.
pub const ENTITLEMENTS: &[&str] = &[
    ALL_RIGHTS[0],
    ALL_RIGHTS[1],
    ALL_RIGHTS[2],
    ALL_RIGHTS[3],
    ALL_RIGHTS[4],
    ALL_RIGHTS[5],
    ALL_RIGHTS[6],
    "coliship",
    "site_access",
];

impl Portal {
    /// Starts and seeds the portal on a fresh database on `backend`.
    pub async fn start(backend: Backend) -> Portal {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`Portal::start`], the gateway's configuration adjusted by `tweak` first.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut sesame_gateway::GatewayConfig),
    ) -> Portal {
        // The admin listener first: the gateway's tracking link leads to it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_url = format!("http://{}", listener.local_addr().unwrap());
        let stack = Stack::new(backend, |cfg| {
            cfg.portal_url = format!("{admin_url}/");
            tweak(cfg);
        })
        .await;
        let gateway_url = stack.url.clone();
        let admin = Server::start_on(stack.store.clone(), listener, |cfg, base| {
            // Plain HTTP on the test's own address: links open there, cookies are not Secure.
            cfg.public_url = base.to_owned();
            cfg.gateway_url = gateway_url;
        })
        .await;
        Self::seed(stack, admin).await
    }

    async fn seed(stack: Stack, admin: Server) -> Portal {
        let a = stack.account(ACCOUNT_A, ENTITLEMENTS).await;
        let b = stack.account(ACCOUNT_B, ENTITLEMENTS).await;
        let every_tool = [
            "tracking_tool:all",
            "tracking_tool_cs:all",
            "invoices:all",
            "coliship",
        ];
        let advanced = stack
            .user(a, ADVANCED, Some("NORD"), Some("Logistique"), &every_tool)
            .await;
        stack.associate(b, &advanced, &every_tool).await;
        stack.stamp(ACCOUNT_A, &advanced);
        stack.stamp(ACCOUNT_B, &advanced);
        let stranger = stack
            .user(
                b,
                STRANGER,
                Some("SUD"),
                None,
                &["tracking_tool_cs:own", "invoices:own"],
            )
            .await;
        stack.stamp(ACCOUNT_B, &stranger);
        let standard = stack
            .collaborator(
                a,
                STANDARD,
                Some("Logistique"),
                &["site_access", "tracking_tool_cs:own", "invoices:own"],
            )
            .await;
        let mut collaborators = Vec::new();
        for (login, dept, vis) in [
            ("collab.propre", "Logistique", "invoices:own"),
            ("collab.service", "Logistique", "invoices:group"),
            ("collab.tout", "Compta", "invoices:all"),
        ] {
            // "Accès au site": without it a collaborator cannot sign in (seed 004).
            let c = stack
                .collaborator(a, login, Some(dept), &["site_access", vis])
                .await;
            stack.stamp_collaborator(ACCOUNT_A, &c);
            collaborators.push(c);
        }
        stack.settle().await;
        Portal {
            stack,
            admin,
            a,
            b,
            advanced,
            stranger,
            standard,
            collaborators,
        }
    }

    /// The shared store.
    pub fn store(&self) -> &Store {
        &self.stack.store
    }

    /// The admin listener's base URL (the console is under `/console/`).
    pub fn console(&self) -> &str {
        &self.admin.base
    }

    /// A session token for `login` (an API sign-in, as the console's is).
    pub async fn session(&self, login: &str) -> String {
        let (s, v) = self.admin.sign_in_user(login, USER_PASSWORD).await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// The parcel numbers of `account` the simulator holds (whoever they belong to).
    pub fn parcels_of(&self, account: &str) -> Vec<String> {
        self.stack
            .sim
            .parcels(account)
            .into_iter()
            .map(|p| p.number)
            .collect()
    }

    /// Stops the admin API, then the gateway.
    pub async fn shutdown(self) {
        let Portal { stack, admin, .. } = self;
        admin.shutdown().await;
        stack.shutdown().await;
    }
}
