//! The test kit's gateway stack (fresh store, simulator and gateway on 127.0.0.1:0).

pub use sesame_testkit::gateway::*;
pub use sesame_testkit::seed::{profile, upstream_password};
pub use sesame_testkit::{both, json_or_text, multipart_part, rights, Backend, ALL_RIGHTS};
