//! CSV import jobs: queue, claim once, progress, finish, replace.

use crate::common::*;
use sesame_domain::model::ImportStatus;

both!(
    import_jobs_queue_claim_finish_replace,
    |store: Store| async move {
        let acc = account(&store, "910005").await;
        let admin = admin(acc.id);
        assert!(store.current_import(acc.id).await.unwrap().is_none());
        let (job, prev) = store
            .start_import(admin.clone(), acc.id, "a.csv", 2, b"input-1")
            .await
            .unwrap();
        assert!(prev.is_none());
        assert_eq!(job.status, ImportStatus::Queued);
        // One in progress at a time.
        assert_eq!(
            rule(
                store
                    .start_import(admin.clone(), acc.id, "b.csv", 1, b"x")
                    .await
            ),
            RuleViolation::ImportInProgress
        );
        let (claimed, input) = store.claim_next_import().await.unwrap().unwrap();
        assert_eq!(
            (claimed.id, claimed.status, input.as_slice()),
            (job.id, ImportStatus::Running, &b"input-1"[..])
        );
        assert!(
            store.claim_next_import().await.unwrap().is_none(),
            "never claimed twice"
        );
        store.import_progress(job.id, 1, 1).await.unwrap();
        let current = store.current_import(acc.id).await.unwrap().unwrap();
        assert_eq!(current.processed_lines, 1);
        assert!(store.import_result(acc.id).await.unwrap().is_none());
        store
            .finish_import(job.id, ImportStatus::Done, 2, 1, b"result-1")
            .await
            .unwrap();
        let (done, result) = store.import_result(acc.id).await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.ok_lines, result.as_slice()),
            (ImportStatus::Done, 1, &b"result-1"[..])
        );
        assert!(done.expires_at > now_millis() + 6 * 24 * 3600 * 1000);
        // The next import replaces the previous one and says so.
        let (job2, prev) = store
            .start_import(admin, acc.id, "b.csv", 1, b"input-2")
            .await
            .unwrap();
        assert_eq!(prev.unwrap().id, job.id);
        assert!(store.import_result(acc.id).await.unwrap().is_none());
        assert_eq!(count(&store, "import_jobs").await, 1);
        let current = store.current_import(acc.id).await.unwrap().unwrap();
        assert_eq!(current.id, job2.id);
        let filter = AuditFilter {
            account_id: Some(acc.id),
            ..Default::default()
        };
        let log = audit(&store, filter).await;
        assert_eq!(log.iter().filter(|e| e.action == "import.start").count(), 2);
    }
);
