//! Gateway integration tests: real simulator, real store, real gateway on loopback.

mod cache;
mod common;
mod hostile_datapath;
mod hostile_throttle;
mod hostile_resources;
mod scopes;
mod services;
mod upstream;
