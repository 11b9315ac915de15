//! The background import worker: claims queued CSV imports one at a time and creates their
//! advanced users line by line (each line its own transaction: never half a user), mailing each
//! its invitation, then stores the result file (seed 000 §5.2).

use std::sync::Arc;
use std::time::Duration;

use sesame_domain::model::{Actor, ImportJob, ImportStatus};
use sesame_domain::RightSet;
use sesame_store::{NewAdvancedUser, RuleViolation, Store, StoreError};
use tokio::sync::{watch, Notify};

use crate::{csvio, mail};

/// What the worker needs: the store, the mails' base URL and language, and the wake-up the
/// upload rings.
pub struct ImportWorker {
    pub store: Store,
    pub public_url: String,
    pub lang: String,
    pub wake: Arc<Notify>,
}

/// A line's status when the shutdown stopped the import before it.
const INTERRUPTED: &str = "Ligne non traitée : import interrompu par l'arrêt du service";

/// One line of the result file: (line number, last name, first name, e-mail, status).
type Row = (usize, String, String, String, String);

impl ImportWorker {
    /// Runs until `stop` turns true: an import under way stops between two lines and reports
    /// the lines it did not process.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.store.claim_next_import().await {
                Ok(Some((job, input))) => {
                    tracing::info!(job = job.id, lines = job.total_lines, "import started");
                    self.process(job, input, &stop).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "import queue unavailable"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Processes one claimed import job.
    async fn process(&self, job: ImportJob, input: Vec<u8>, stop: &watch::Receiver<bool>) {
        let text = String::from_utf8_lossy(&input).into_owned();
        let lines = match csvio::lines(&text) {
            Ok(l) => l,
            Err(e) => {
                let rows = vec![(
                    1usize,
                    String::new(),
                    String::new(),
                    String::new(),
                    e.message(),
                )];
                let _ = self
                    .store
                    .finish_import(
                        job.id,
                        ImportStatus::Failed,
                        0,
                        0,
                        &csvio::result_file(&rows),
                    )
                    .await;
                return;
            }
        };
        let account = match self.store.account(job.account_id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, job = job.id, "import account vanished");
                let _ = self
                    .store
                    .finish_import(job.id, ImportStatus::Failed, 0, 0, &[])
                    .await;
                return;
            }
        };
        let mut rows: Vec<Row> = Vec::with_capacity(lines.len());
        let (mut processed, mut ok_count) = (0i64, 0i64);
        let mut entitlements = account.entitlements;
        let mut interrupted = false;
        for line in lines {
            let status = if interrupted || *stop.borrow() {
                interrupted = true;
                INTERRUPTED.to_owned()
            } else {
                match line.parsed {
                    Err(s) => s,
                    Ok((profile, tag, rights)) => {
                        match RightSet::check_delegation(rights, entitlements) {
                            Err(d) => format!("Vous ne pouvez pas donner le droit {}", d.label),
                            Ok(()) => {
                                let new = NewAdvancedUser {
                                    profile,
                                    tag,
                                    rights,
                                    department_id: None,
                                };
                                let (status, created) =
                                    self.create(&account, new, job.id, line.number).await;
                                ok_count += i64::from(created);
                                status
                            }
                        }
                    }
                }
            };
            rows.push((
                line.number,
                line.last_name,
                line.first_name,
                line.email,
                status,
            ));
            processed += 1;
            if !interrupted && processed % 100 == 0 {
                let _ = self
                    .store
                    .import_progress(job.id, processed, ok_count)
                    .await;
                // Entitlements withdrawn during a long import apply to the lines that follow.
                if let Ok(a) = self.store.account(account.id).await {
                    entitlements = a.entitlements;
                }
            }
        }
        let result = csvio::result_file(&rows);
        let status = if interrupted {
            ImportStatus::Failed
        } else {
            ImportStatus::Done
        };
        if let Err(e) = self
            .store
            .finish_import(job.id, status, processed, ok_count, &result)
            .await
        {
            tracing::warn!(error = %e, job = job.id, "cannot store the import result");
        }
    }

    /// Creates one line's user, retrying while the database is unavailable: the line's status,
    /// and whether the user was created.
    async fn create(
        &self,
        account: &sesame_domain::Account,
        new: NewAdvancedUser,
        job: i64,
        line: usize,
    ) -> (String, bool) {
        let actor = Actor::AccountAdmin {
            account_id: account.id,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .store
                .create_advanced_user(actor.clone(), account.id, new.clone())
                .await
            {
                Ok((u, _inv, token)) => {
                    if u.profile.email.is_some() {
                        mail::send_invitation(
                            &self.store,
                            &self.public_url,
                            &u,
                            &account.company,
                            &token,
                            &self.lang,
                        )
                        .await;
                    }
                    return (csvio::STATUS_OK.to_owned(), true);
                }
                Err(StoreError::Delegation(d)) => {
                    return (
                        format!("Vous ne pouvez pas donner le droit {}", d.label),
                        false,
                    )
                }
                Err(StoreError::Invalid(f)) => {
                    return (
                        format!(
                            "Erreur sur les informations de l'utilisateur ({})",
                            csvio::column_of(f.field)
                        ),
                        false,
                    )
                }
                // One e-mail, one advanced identity: the admin associates by user key instead
                // (so re-importing a file never creates its users twice).
                Err(StoreError::Rule(RuleViolation::EmailTaken)) => {
                    return (csvio::STATUS_EMAIL_TAKEN.to_owned(), false)
                }
                Err(e) if e.is_unavailable() && attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, job, line, "import line failed");
                    return ("Erreur technique : ligne non traitée".to_owned(), false);
                }
            }
        }
    }
}
