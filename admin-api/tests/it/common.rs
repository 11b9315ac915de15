//! The test kit's admin server and client (real admin API on 127.0.0.1:0, fresh database).

pub use sesame_testkit::admin::*;
pub use sesame_testkit::both;
