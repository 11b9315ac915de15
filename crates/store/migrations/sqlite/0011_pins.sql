-- "Colis épinglés" (issue 14): the parcels a user pinned in the tracking tool, kept per user
-- (a new session finds them again); gone with the user.
CREATE TABLE pins (
    user_id        BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parcel_number  TEXT   NOT NULL,
    account_number TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, parcel_number)
);
