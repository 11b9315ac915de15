//! `sesame demo` end to end: start it on free ports, then run every curl command it prints,
//! exactly as printed, and check each one succeeds.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::demo_settings;
use sesame::demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printed_curl_command_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo::start(demo_settings(dir.path(), &[]))
        .await
        .expect("demo starts");
    let mut printed = Vec::new();
    demo::print_info(&d.info, &mut printed).unwrap();
    let printed = String::from_utf8(printed).unwrap();
    let curls: Vec<&str> = printed.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(curls.len() >= 10, "{printed}");
    assert!(printed.contains(&d.info.connection_key));
    console_sign_in_works_as_printed(&printed).await;
    for cmd in curls {
        // Blocking on purpose: the demo serves from the runtime's other threads meanwhile.
        let c = cmd.to_owned();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh").arg("-c").arg(c).output()
        })
        .await
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "demo command failed ({:?}):\n{cmd}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        if cmd.contains("/admin/v1/outbox") {
            // The demo went through the real flows: invitation, then the rights e-mail, twice
            // (the second account associated the user by its key).
            assert!(
                stdout.matches("kadj.mco@example.fr").count() >= 3,
                "{stdout}"
            );
        }
        // Success is in the body too, not only the status: no service envelope carries an error.
        for bad in [
            "\"type\":\"ERROR\"",
            "\"errorCode\":20",
            "\"code\":\"105\"",
            "Ce compte utilisateur ne vous permet pas",
        ] {
            assert!(!stdout.contains(bad), "{cmd}\n→ {stdout}");
        }
    }
    d.stop().await.expect("clean stop");
}

/// The console's URL and the account admin's sign-in, as printed, open the console.
async fn console_sign_in_works_as_printed(printed: &str) {
    let url = printed
        .lines()
        .find_map(|l| l.strip_prefix("Web console  "))
        .unwrap_or_else(|| panic!("no console URL in:\n{printed}"))
        .trim()
        .to_owned();
    let line = printed
        .lines()
        .find(|l| l.trim_start().starts_with("account admin"))
        .unwrap();
    let id = line
        .split("Identifiant ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let password = line.split("Mot de passe ").nth(1).unwrap().trim();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{url}sign-in")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let pre = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    let marker = "name=\"_csrf\" value=\"";
    let at = body.find(marker).unwrap() + marker.len();
    let csrf = &body[at..at + 64];
    let resp = http
        .post(format!("{url}sign-in"))
        .header("cookie", pre)
        .form(&[("_csrf", csrf), ("identifiant", id), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{printed}");
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("sesame_session="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_start_is_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo::start(demo_settings(dir.path(), &[]))
        .await
        .expect("first start");
    let key1 = first.info.connection_key.clone();
    first.stop().await.unwrap();
    let second = demo::start(demo_settings(dir.path(), &[]))
        .await
        .expect("second start on the same file");
    assert_ne!(second.info.connection_key, key1);
    second.stop().await.unwrap();
}
