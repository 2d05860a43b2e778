-- The catalog: who provides which tables, who may read what, and why.
-- Applied by catalog.store in one transaction together with its schema_migrations row.
-- Rows are read back in insertion order (rowid), which is the policy document's order.

CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

CREATE TABLE departments (
    name  TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT ''
);

-- A source's department is checked against the policy (catalog.policy_file), not by a foreign
-- key, so that sources and the policy can be registered in either order.
-- options is a JSON object of strings; secrets appear only as env:/file: references.
CREATE TABLE sources (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    department TEXT NOT NULL,
    options    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options))
);

CREATE TABLE tables (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL REFERENCES sources (name) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    physical_schema TEXT NOT NULL,
    physical_name   TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    UNIQUE (source, name)
);

CREATE TABLE columns (
    table_id       INTEGER NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    classification TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (table_id, position),
    UNIQUE (table_id, name)
);

-- Annotations declared by the policy document. They overlay the introspected columns when a
-- snapshot is read, and survive re-introspection and sources registered after the policy.
CREATE TABLE table_annotations (
    table_name  TEXT PRIMARY KEY,
    description TEXT
);

CREATE TABLE column_annotations (
    table_name     TEXT NOT NULL REFERENCES table_annotations (table_name) ON DELETE CASCADE,
    column_name    TEXT NOT NULL,
    classification TEXT,
    description    TEXT,
    PRIMARY KEY (table_name, column_name)
);

CREATE TABLE principals (
    name       TEXT PRIMARY KEY,
    department TEXT NOT NULL REFERENCES departments (name),
    title      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE principal_roles (
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (principal, role)
);

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    principal      TEXT NOT NULL REFERENCES principals (name),
    table_pattern  TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    row_filter     TEXT,
    min_group_size INTEGER CHECK (min_group_size IS NULL OR min_group_size >= 2),
    subject_column TEXT,
    valid_from     TEXT,
    valid_until    TEXT,
    approved_by    TEXT NOT NULL DEFAULT '',
    CHECK ((min_group_size IS NULL) = (subject_column IS NULL)),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until)
);

-- column_name is a column of the covered table, or '*' for every column the grant does not name.
CREATE TABLE grant_columns (
    grant_id    TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    column_name TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('allow', 'match', 'deny') OR action LIKE 'mask:_%'),
    PRIMARY KEY (grant_id, column_name)
);
