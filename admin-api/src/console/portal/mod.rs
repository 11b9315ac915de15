//! The users' portal (issue 14): the screens of seed 000 §9 for users of every kind, inside the
//! console (same session, layout, CSRF, languages). One file per screen.

pub mod my_account;

use axum::Router;

use crate::AppState;

/// Every portal route.
pub fn routes(r: Router<AppState>) -> Router<AppState> {
    my_account::routes(r)
}
