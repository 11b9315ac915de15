//! The web console's tests: over HTTP (cookies, CSRF, sessions, both backends) and in a real
//! browser (Debian's Chromium through chromedriver, see `browser.rs`; SQLite).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod back_office;
mod back_office_screens;
mod browser;
mod client;
mod collaborators;
mod forms;
mod http;
mod portal_tracking;
mod screens;
mod segments;
