-- Sesame schema, SQLite flavour. Times are integer milliseconds since the epoch; booleans are
-- integers; secrets are never stored in clear (keyed hashes, AES-GCM, argon2id).
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    number          TEXT    NOT NULL UNIQUE,
    company         TEXT    NOT NULL,
    contract_type   TEXT    NOT NULL,
    entitlements    TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    upstream_login  TEXT    NOT NULL,
    upstream_secret BLOB    NOT NULL,
    admin_password_hash TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE departments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    civility        TEXT,
    last_name       TEXT    NOT NULL,
    first_name      TEXT    NOT NULL,
    function        TEXT    NOT NULL,
    phone           TEXT    NOT NULL,
    email           TEXT,
    fax             TEXT,
    address         TEXT    NOT NULL,
    postal_code     TEXT    NOT NULL,
    city            TEXT    NOT NULL,
    country         TEXT    NOT NULL,
    login           TEXT    UNIQUE,
    password_hash   TEXT,
    tag             TEXT,
    department_id   BIGINT  REFERENCES departments(id) ON DELETE SET NULL,
    status          TEXT    NOT NULL,
    user_key        TEXT    UNIQUE,
    conn_key_hash   BLOB    UNIQUE,
    prev_key_hash   BLOB,
    prev_key_expires_at BIGINT,
    home_account_id BIGINT  REFERENCES accounts(id) ON DELETE CASCADE,
    main_contact    BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX users_prev_key ON users (prev_key_hash);
CREATE INDEX users_home_account ON users (home_account_id);

CREATE TABLE links (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    rights     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, account_id)
);
CREATE INDEX links_account ON links (account_id);

-- Single-use tokens sent by e-mail: invitations and password resets.
CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose    TEXT   NOT NULL,
    token_hash BLOB   NOT NULL UNIQUE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    rights     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX invitations_user ON invitations (user_id);

-- Admin API bearer tokens, stored hashed.
CREATE TABLE sessions (
    token_hash   BLOB   PRIMARY KEY,
    kind         TEXT   NOT NULL,
    account_id   BIGINT,
    user_id      BIGINT,
    impersonator_account_id BIGINT,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE import_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    status          TEXT   NOT NULL,
    file_name       TEXT   NOT NULL,
    total_lines     BIGINT NOT NULL,
    processed_lines BIGINT NOT NULL,
    ok_lines        BIGINT NOT NULL,
    result          BLOB,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX import_jobs_account ON import_jobs (account_id);

CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               BIGINT NOT NULL,
    actor_kind       TEXT   NOT NULL,
    actor_account_id BIGINT,
    actor_user_id    BIGINT,
    account_id       BIGINT,
    user_id          BIGINT,
    action           TEXT   NOT NULL,
    before_json      TEXT,
    after_json       TEXT,
    comment          TEXT
);
CREATE INDEX audit_user ON audit_log (user_id, at);
CREATE INDEX audit_account ON audit_log (account_id, at);

CREATE TABLE change_log (
    version    INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    account_id BIGINT,
    user_id    BIGINT,
    key_hash   BLOB
);

CREATE TABLE outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       BIGINT NOT NULL,
    to_addr  TEXT   NOT NULL,
    subject  TEXT   NOT NULL,
    body     TEXT   NOT NULL,
    lang     TEXT   NOT NULL,
    sent_at  BIGINT,
    error    TEXT
);
