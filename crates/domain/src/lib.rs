//! Sesame's domain: the types every other crate speaks.
//!
//! Values are parsed once at the edge (HTTP body, CSV cell, database row) into these newtypes and
//! are valid from then on: an [`AccountNumber`] is always six digits, a [`UserKey`] always 32
//! uppercase hex characters. Wire formats never reach past the crate that owns the edge.
//!
//! The two business rules of SPEC §3 live in [`rights`] and nowhere else:
//! the delegation rule ([`RightSet::check_delegation`]) and the effective-rights rule
//! ([`RightSet::effective`]).

pub mod csv;
pub mod ids;
pub mod model;
pub mod rights;
pub mod secrets;

pub use ids::{AccountNumber, ConnectionKey, Email, KeyHash, Login, ParcelNumber, Tag, UserKey};
pub use model::*;
pub use rights::{Right, RightSet, Scope, ScopedRight};

/// A value that failed to parse, with the field it came from, so errors can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
