-- Credentials: how principals prove who they are to the HTTP service (catalog.credentials).
-- Kept apart from the policy tables. Applying a policy file replaces every principal, so a
-- foreign key would either block that or drop the credentials with it. A credential of a
-- principal the policy no longer names authenticates a name every statement refuses.

-- One password per principal, as scrypt$N$r$p$salt$hash (salt and hash base64): never the
-- password itself.
CREATE TABLE principal_passwords (
    principal  TEXT PRIMARY KEY,
    hash       TEXT NOT NULL CHECK (hash LIKE 'scrypt$%'),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Bearer tokens, any number per principal, stored as the SHA-256 of the token (hex): a token
-- is shown once when made and cannot be read back.
CREATE TABLE principal_tokens (
    digest     TEXT PRIMARY KEY CHECK (length(digest) = 64),
    principal  TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX principal_tokens_by_principal ON principal_tokens (principal);
