//! The `sesame` binary as an operator runs it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

fn sesame() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sesame"));
    // Only what each test sets: never the developer's own SESAME__ variables.
    for (k, _) in std::env::vars() {
        if k.starts_with("SESAME__") {
            c.env_remove(k);
        }
    }
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

const HEX32: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn migrate_creates_the_sqlite_database_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/dir/sesame.db");
    let migrate = || {
        sesame()
            .arg("migrate")
            .env(
                "SESAME__DATABASE__URL",
                format!("sqlite://{}", db.display()),
            )
            .env("SESAME__SECRETS__SERVER_SECRET", HEX32)
            .env("SESAME__SECRETS__MASTER_KEY", HEX32)
            .output()
            .unwrap()
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("migrated"), "{stdout}");
    assert!(db.exists());
    // Idempotent.
    let again = migrate();
    assert!(again.status.success());
}

#[test]
fn a_bad_configuration_stops_start_up_naming_every_key() {
    let out = sesame()
        .arg("serve")
        .env("SESAME__DATABASE__URL", "mysql://nope")
        .env("SESAME__SECRETS__MASTER_KEY", "too-short")
        .env("SESAME__LISTEN__PUBLIC", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "secrets.server_secret",
        "secrets.master_key",
        "secrets.operator_token",
        "database.url",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    assert!(
        !err.contains("too-short"),
        "a secret's value was printed: {err}"
    );
}

#[test]
fn a_wrongly_typed_value_names_its_key() {
    let out = sesame()
        .arg("migrate")
        .env("SESAME__LISTEN__ADMIN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen.admin"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[gateway]\nupstream_urll = \"http://x\"\n").unwrap();
    let out = sesame()
        .arg("--config")
        .arg(&f)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upstream_urll"), "{err}");
}

#[test]
fn a_taken_port_is_reported_by_its_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = sesame()
        .arg("serve")
        .env(
            "SESAME__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .env("SESAME__SECRETS__SERVER_SECRET", HEX32)
        .env("SESAME__SECRETS__MASTER_KEY", HEX32)
        .env(
            "SESAME__SECRETS__OPERATOR_TOKEN",
            "operator-token-for-tests-0123",
        )
        .env("SESAME__LISTEN__PUBLIC", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen.public"), "{err}");
}
