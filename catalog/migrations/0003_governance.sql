-- Governance: the resource catalogue (政务信息资源目录), access requests and the grants they
-- issue, and the source probes department scorecards are computed from (catalog.governance_store).
--
-- Like the credentials, these tables keep no foreign key to the policy tables: applying a policy
-- file replaces every principal and grant, and must neither be blocked by a request nor erase
-- one. Times are UTC ISO 8601 with a trailing Z; days are YYYY-MM-DD.

-- One catalogue entry per registered table. Its items (信息项) are the table's columns as the
-- catalog describes them; default_masks are the column actions a grant starts from.
CREATE TABLE resources (
    code         TEXT PRIMARY KEY,
    table_name   TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL CHECK (name <> ''),
    department   TEXT NOT NULL CHECK (department <> ''),
    abstract     TEXT NOT NULL DEFAULT '',
    share_class  TEXT NOT NULL
                 CHECK (share_class IN ('unconditional', 'conditional', 'not_shareable')),
    basis        TEXT NOT NULL DEFAULT '',
    update_cycle TEXT NOT NULL CHECK (update_cycle IN
                 ('realtime', 'daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
    -- Conditional and not-shareable resources carry the legal basis of their restriction.
    CHECK (share_class = 'unconditional' OR basis <> '')
);

CREATE TABLE resource_masks (
    code        TEXT NOT NULL REFERENCES resources (code) ON DELETE CASCADE,
    column_name TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('allow', 'match', 'deny') OR action LIKE 'mask:_%'),
    PRIMARY KEY (code, column_name)
);

-- A principal's request for one catalogued table. The requested scope is kept as asked; the
-- granted scope (never wider) is set when the request is approved. columns are JSON lists.
CREATE TABLE access_requests (
    id                   TEXT PRIMARY KEY,
    requester            TEXT NOT NULL,
    requester_department TEXT NOT NULL,
    resource             TEXT NOT NULL,
    table_name           TEXT NOT NULL,
    department           TEXT NOT NULL,
    share_class          TEXT NOT NULL,
    purpose              TEXT NOT NULL CHECK (purpose <> ''),
    scenario             TEXT NOT NULL DEFAULT '',
    legal_basis          TEXT NOT NULL DEFAULT '',
    columns              TEXT NOT NULL CHECK (json_valid(columns)),
    row_filter           TEXT,
    valid_from           TEXT NOT NULL,
    valid_until          TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    deadline             TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN
                         ('pending', 'approved', 'rejected', 'lapsed', 'refused', 'withdrawn')),
    decided_at           TEXT,
    decided_by           TEXT,
    reason               TEXT,
    granted_columns      TEXT CHECK (granted_columns IS NULL OR json_valid(granted_columns)),
    granted_row_filter   TEXT,
    granted_until        TEXT,
    CHECK (valid_from <= valid_until),
    CHECK ((status = 'approved') = (granted_columns IS NOT NULL))
);

CREATE INDEX access_requests_by_status ON access_requests (status, deadline);

-- Every grant an approval wrote into the catalog, kept after it is revoked or expires. The
-- catalog's grants table holds the ones in force; this one says where each came from.
CREATE TABLE issued_grants (
    id          TEXT PRIMARY KEY,
    request     TEXT NOT NULL REFERENCES access_requests (id),
    principal   TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    columns     TEXT NOT NULL CHECK (json_valid(columns)),
    row_filter  TEXT,
    valid_from  TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
    ended_at    TEXT,
    ended_by    TEXT,
    reason      TEXT
);

-- One row per connection test of a source (connectors' check()).
CREATE TABLE probes (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    at         TEXT NOT NULL,
    reachable  INTEGER NOT NULL CHECK (reachable IN (0, 1)),
    latency_ms REAL,
    failure    TEXT
);

CREATE INDEX probes_by_source ON probes (source, at);

-- The latest freshness a probe saw for each table: when its data last changed.
CREATE TABLE table_freshness (
    source      TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    fresh_as_of TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    PRIMARY KEY (source, table_name)
);
