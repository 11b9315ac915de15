//! The `sesame` binary's library half: settings, the process wiring, and the demo, kept here so
//! integration tests drive exactly what the binary runs.

pub mod app;
pub mod demo;
pub mod settings;
