//! The test kit's admin server and client (real admin API on 127.0.0.1:0, fresh database).

pub use sesame_testkit::admin::*;
pub use sesame_testkit::both;

/// The actions of an audit answer (`{"items": [{"action": …}, …]}`), in its order.
pub fn actions(v: &serde_json::Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}
