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

-- Seed 004 §2 and §4: the sub-accounts module per account (on for existing accounts, as they
-- worked so far), whether its collaborators wait for validation, and each user's validation
-- status (accepted: everyone created so far).
ALTER TABLE accounts ADD COLUMN sub_accounts BIGINT NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN collaborator_validation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN validation TEXT NOT NULL DEFAULT 'accepted';

-- Seed 004 §4 "Segmentation libre": operator-defined contact segments and their members.
CREATE TABLE segments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE segment_members (
    segment_id BIGINT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (segment_id, user_id)
);
CREATE INDEX segment_members_user ON segment_members (user_id);
