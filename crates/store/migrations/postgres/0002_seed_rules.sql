-- Issue 15: every seed rule enforced.

-- The "tag utilisateur" is per link (seed 000 §5.1, §6: each account's admin gives it when it
-- creates or associates the user, and that account's parcels are matched against it). Existing
-- tags are copied onto every link of their user; `users.tag` is no longer read or written (kept
-- so that a rollback to the previous version still finds it).
ALTER TABLE links ADD COLUMN tag TEXT;
UPDATE links SET tag = (SELECT u.tag FROM users u WHERE u.id = links.user_id);

-- An erased identity (right to erasure): the row stays as the anonymised reference the audit log
-- names; the time of the erasure.
ALTER TABLE users ADD COLUMN erased_at BIGINT;
