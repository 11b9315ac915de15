//! Shared by the `sesame` test binaries that start the demo.

use sesame::settings::{self, Settings};

/// The demo's settings (config/default.toml then config/demo.toml) on free loopback ports, its
/// database in `dir`, plus `extra` environment overrides.
pub fn demo_settings(dir: &std::path::Path, extra: &[(&str, &str)]) -> Settings {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut env = vec![(
        "SESAME__DATABASE__URL".to_owned(),
        format!("sqlite://{}", dir.join("demo.db").display()),
    )];
    for listener in ["PUBLIC", "ADMIN", "OPS", "SIMULATOR"] {
        env.push((
            format!("SESAME__LISTEN__{listener}"),
            "127.0.0.1:0".to_owned(),
        ));
    }
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    settings::load(&[root.join("default.toml"), root.join("demo.toml")], env)
        .expect("demo settings")
}
