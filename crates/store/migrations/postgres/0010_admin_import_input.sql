-- The uploaded CSV of an import job, kept until a worker has processed it (admin API).
ALTER TABLE import_jobs ADD COLUMN input BYTEA;
