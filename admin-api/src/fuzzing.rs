//! Fuzzing hooks for `fuzz/` (cargo fuzz, libFuzzer): thin wrappers over the admin API's own
//! parsers and renderers that a stranger's input reaches (JSON bodies, the e-mail links' HTML
//! pages). The CSV import is already public (`csvio`). Only built with the `fuzzing` feature.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::response::Response;
use serde::de::DeserializeOwned;

/// What a refused body is answered with: the status and the field named.
#[derive(Debug)]
pub struct Rejection {
    pub status: axum::http::StatusCode,
    pub field: Option<String>,
}

/// The JSON body extractor's parser (every JSON endpoint): 400 for malformed JSON, 422 naming the
/// field for a value of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    crate::extract::parse_json(bytes).map_err(|e| Rejection {
        status: e.status(),
        field: e.field().map(str::to_owned),
    })
}

/// The profile fields of the edit forms (the invitation and user forms), flattened into each
/// of them: the same parser, as a form carries them.
pub fn parse_profile_edit(bytes: &[u8]) -> Result<(), Rejection> {
    parse_json::<crate::forms::UserEditIn>(bytes).map(|_| ())
}

/// The HTML escaper of the pages the e-mail links open.
pub fn escape(s: &str) -> String {
    crate::html::escape(s).into_owned()
}

/// The error page's HTML.
pub fn error_page(message: &str) -> Vec<u8> {
    body(crate::html::error_page(message))
}

/// The invitation's confirmation form, pre-filled with the invited profile.
pub fn invitation_page(
    company: &str,
    profile: &sesame_domain::Profile,
    rights: &[String],
) -> Vec<u8> {
    body(crate::html::invitation_page(company, profile, rights))
}

/// The password-reset form.
pub fn reset_page(login: &str) -> Vec<u8> {
    body(crate::html::reset_page(login))
}

/// A rendered page's bytes. The pages are built from a `String`, so reading the body completes
/// on the first poll: no runtime needed (an unexpected pending body reads as empty).
fn body(r: Response) -> Vec<u8> {
    let fut = pin!(axum::body::to_bytes(r.into_body(), usize::MAX));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.poll(&mut cx) {
        Poll::Ready(Ok(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}
