//! Gateway integration tests: real simulator, real store, real gateway on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod cache;
mod carrier_clients;
mod common;
mod header_first;
mod hostile_datapath;
mod hostile_resources;
mod hostile_throttle;
mod portal_api;
mod routes;
mod scopes;
mod services;
mod upstream;
