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
        if cmd.contains("/validation") {
            // The printed refusal: the right is named in the declared route's envelope.
            assert!(stdout.trim_end().ends_with("403"), "{cmd}\n→ {stdout}");
            assert!(stdout.contains("\"right\":\"order_validate\""), "{stdout}");
            continue;
        }
        if cmd.contains("/commerce/v1/documents") {
            assert!(stdout.contains("\"documents\":[{"), "{stdout}");
        }
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
