//! The console in Chromium: what people do with it, screen by screen, with a screenshot of each.

use sesame_testkit::admin::Server;
use sesame_testkit::seed::ADMIN_PASSWORD;
use sesame_testkit::Backend;

use crate::browser::Browser;

const NUMBER: &str = "900138";

/// Signing in with the keyboard only: the first field has the focus, Tab moves on, Enter sends.
#[tokio::test]
async fn browser_keyboard_only_sign_in() {
    let s = Server::start_own_url(Backend::Sqlite).await;
    s.account(NUMBER, &["ws_postage", "ws_tracking", "tracking_tool:all"])
        .await;
    let b = Browser::start(&s.base, "sign-in").await;
    b.goto("/").await;
    b.wait_text("Connectez-vous").await;
    b.shot("sign-in").await;
    b.keys(NUMBER).await;
    b.keys("\u{e004}").await; // Tab
    b.keys(ADMIN_PASSWORD).await;
    b.keys("\u{e007}").await; // Enter
    b.wait_text("Vos informations").await;
    assert_eq!(b.path().await, "/console/account");
    b.shot("mon-compte").await;
    b.close().await;
    s.shutdown().await;
}
