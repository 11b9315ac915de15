//! The browser-test harness: Debian's Chromium (`/usr/bin/chromium`), headless, driven through
//! its chromedriver (`/usr/bin/chromedriver`) over WebDriver with fantoccini. One browser per
//! test; a missing browser or driver fails the test (never a skip): `scripts/test.sh` installs
//! `chromium chromium-driver`.
//!
//! Screenshots go to `target/screenshots/<test>/<screen>.png`; with `SESAME_SCREENSHOTS=docs`
//! they are also copied to `docs/screenshots/<test>-<screen>.png` for the README.
//!
//! Override the binaries with `SESAME_CHROMIUM` and `SESAME_CHROMEDRIVER`.
#![allow(dead_code)] // each test binary uses part of the harness

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium on its own chromedriver, pointed at one server.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The server's base URL (`http://127.0.0.1:<port>`).
    pub base: String,
    test: String,
    /// Where downloads land.
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for the test named `test`.
    pub async fn start(base: &str, test: &str) -> Browser {
        let chromium = std::env::var("SESAME_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
        let driver_bin =
            std::env::var("SESAME_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        assert!(
            Path::new(&chromium).exists() && Path::new(&driver_bin).exists(),
            "the browser tests need Chromium and its driver ({chromium}, {driver_bin}): \
             apt-get install chromium chromium-driver (scripts/test.sh does)"
        );
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin}: {e}"));
        let downloads = tempfile::tempdir().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--lang=fr-FR", "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let mut b =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            b.capabilities(caps.clone());
            match b.connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot open a Chromium session through {driver_bin}: {e}"),
            }
        };
        Browser {
            client,
            driver,
            base: base.to_owned(),
            test: test.to_owned(),
            downloads,
            _profile: profile,
        }
    }

    /// Opens `path` of the server (or a full URL).
    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.unwrap();
    }

    /// The element `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(e) => e,
            Err(e) => panic!("no element {css} on {}: {e}", self.url().await),
        }
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Signs in through the sign-in form (account number or login).
    pub async fn sign_in(&self, id: &str, password: &str) {
        self.goto("/console/sign-in").await;
        self.fill("#f-identifiant", id).await;
        self.fill("#f-password", password).await;
        self.click("main form button[type=submit]").await;
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Presses the keys on whatever has the focus (keyboard-only tests).
    pub async fn keys(&self, keys: &str) {
        let active = self.client.active_element().await.unwrap();
        active.send_keys(keys).await.unwrap();
    }

    /// The text of `css` (found again if the page reloads meanwhile: the import page does).
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            if let Ok(t) = self.find(css).await.text().await {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the text of {css} could not be read on {}",
            self.url().await
        )
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Waits until the page's text contains `needle` (10 s).
    pub async fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.page_text().await;
            if t.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "\"{needle}\" never appeared on {}:\n{t}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The path of the current page.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    /// Saves a screenshot of the page as `<screen>.png`.
    pub async fn shot(&self, screen: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = workspace_root().join("target/screenshots").join(&self.test);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{screen}.png")), &png).unwrap();
        if std::env::var("SESAME_SCREENSHOTS").as_deref() == Ok("docs") {
            let docs = workspace_root().join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{}-{screen}.png", self.test)), &png).unwrap();
        }
    }

    /// Waits for a downloaded file whose name starts with `prefix`; returns its bytes.
    pub async fn downloaded(&self, prefix: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let names: Vec<std::path::PathBuf> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            // Chromium creates the final name empty as a placeholder beside the `.crdownload`
            // it writes into, then renames: the file is whole only once no `.crdownload` is
            // left and it has bytes.
            let writing = names
                .iter()
                .any(|p| p.to_string_lossy().ends_with(".crdownload"));
            let done = names.iter().find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                name.starts_with(prefix) && !name.ends_with(".crdownload")
            });
            if let (false, Some(p)) = (writing, done) {
                let bytes = std::fs::read(p).unwrap();
                if !bytes.is_empty() {
                    return bytes;
                }
            }
            assert!(Instant::now() < deadline, "no download {prefix}* in 15 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session and the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// The driver goes with the browser, whether the test passed or panicked.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
