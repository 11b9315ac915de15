//! Secrets never reach the database in clear: scan every text and blob cell of every table.

use crate::common::*;
use sesame_store::Backend;

/// Whether `hay` holds any of `secrets`, byte for byte.
fn holds_any(hay: &[u8], secrets: &[String]) -> Option<String> {
    secrets
        .iter()
        .find(|s| hay.windows(s.len()).any(|w| w == s.as_bytes()))
        .cloned()
}

both!(no_secret_is_stored_in_clear, |store: Store| async move {
    let (acc, _user_id, key) =
        active_advanced(&store, "900900", "secretive", &["ws_tracking"]).await;
    let (_pending, token) = invited(&store, acc, "Pending", &[]).await;
    let secrets = [
        key.expose().to_owned(),
        key.expose().to_lowercase(),
        "upstream-secret-900900".to_owned(),
        "AdminPass123".to_owned(),
        "UserPass123".to_owned(),
        token.clone(),
    ];
    let tables = [
        "accounts",
        "departments",
        "users",
        "links",
        "invitations",
        "sessions",
        "import_jobs",
        "audit_log",
        "change_log",
        "outbox",
    ];
    let mut cells = 0;
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM {t}"))
            .fetch_all(store.raw_pool())
            .await
            .unwrap();
        for row in &rows {
            for i in 0..row.len() {
                let text: Option<String> = row.try_get::<Option<String>, _>(i).ok().flatten();
                let blob: Option<Vec<u8>> = row.try_get::<Option<Vec<u8>>, _>(i).ok().flatten();
                let hay = text.map(String::into_bytes).or(blob).unwrap_or_default();
                cells += 1;
                let found = holds_any(&hay, &secrets);
                assert!(found.is_none(), "secret found in clear in {t}");
            }
        }
    }
    assert!(cells > 50, "scanned {cells} cells");
    if store.backend() == Backend::Sqlite {
        // And in the file itself, byte for byte; the WAL too while it exists (closing the store
        // may checkpoint it away, which is why only the database file must be there).
        let url = store.url().to_owned();
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        store.close().await;
        let file = std::fs::read(&path).expect("the SQLite database file");
        assert!(
            holds_any(&file, &secrets).is_none(),
            "secret in clear in {path}"
        );
        let wal = std::fs::read(format!("{path}-wal")).unwrap_or_default();
        assert!(
            holds_any(&wal, &secrets).is_none(),
            "secret in clear in the WAL"
        );
    }
});
