//! Admin API integration tests: the real server on 127.0.0.1:0 over a fresh database (the test
//! kit's `admin::Server`), one binary so the crate links once.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod back_office_lists;
mod common;
mod csv;
mod flows;
mod hostile_identity;
mod hostile_resources;
mod hostile_throttle;
mod seed_rules;
mod smtp;
