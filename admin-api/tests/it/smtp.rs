//! With SMTP configured, outbox mails are handed to the SMTP server (a tiny fake one here).

use std::sync::{Arc, Mutex};

use serde_json::json;
use sesame_admin::{AdminApi, AdminConfig, SmtpConfig};
use sesame_store::testing::fresh_store;
use sesame_store::Backend;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Accepts SMTP sessions and records each message's DATA.
async fn fake_smtp(listener: tokio::net::TcpListener, got: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let got = got.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    w.write_all(b"250-fake\r\n250 8BITMIME\r\n").await.unwrap();
                } else if cmd.starts_with("DATA") {
                    w.write_all(b"354 go ahead\r\n").await.unwrap();
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    got.lock().unwrap().push(data);
                    w.write_all(b"250 queued\r\n").await.unwrap();
                } else if cmd.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").await.unwrap();
                    return;
                } else {
                    w.write_all(b"250 ok\r\n").await.unwrap();
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_go_through_smtp_when_configured() {
    let smtp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp_listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(fake_smtp(smtp_listener, got.clone()));

    let (store, _db) = fresh_store(Backend::Sqlite).await;
    let cfg = AdminConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            username: None,
            password: None,
            from: "Sesame <noreply@sesame.example>".into(),
            starttls: false,
        }),
        ..AdminConfig::default()
    };
    let api = AdminApi::new(cfg, store.clone(), "operator-token-0123456789abcdef".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api.run(listener, async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/admin/v1/accounts"))
        .bearer_auth("operator-token-0123456789abcdef")
        .json(
            &json!({"number": "903000", "company": "Mail SA", "entitlements": ["ws_tracking"],
            "adminPassword": "AdminPass123", "upstreamLogin": "903000", "upstreamPassword": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http
        .post(format!("{base}/admin/v1/accounts/903000/advanced-users"))
        .bearer_auth("operator-token-0123456789abcdef")
        .json(&json!({"lastName": "Poste", "firstName": "Léa", "function": "Agent", "phone": "01", "email": "lea@example.fr",
            "emailConfirmation": "lea@example.fr", "address": "1 rue", "postalCode": "75001", "city": "Paris", "rights": ["ws_tracking"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let mut sent = false;
    for _ in 0..100 {
        let m = store.outbox(Some("lea@example.fr"), 10).await.unwrap();
        if m.first().is_some_and(|m| m.sent_at.is_some()) {
            sent = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        sent,
        "outbox mail marked sent: {:?}",
        store.outbox(None, 10).await.unwrap()
    );
    // Once sent, the sealed invitation link is gone from the database: only the masked body.
    let live = store.outbox_live(Some("lea@example.fr"), 10).await.unwrap();
    assert!(
        !live[0].body.contains("/admin/v1/invitations/") && live[0].body.contains("[link withheld"),
        "{}",
        live[0].body
    );
    let data = got.lock().unwrap().join("\n");
    assert!(data.contains("lea@example.fr"), "{data}");
    assert!(data.contains("noreply@sesame.example"), "{data}");
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
