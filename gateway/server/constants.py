"""Names the Trino client protocol fixes: headers, paths, and the error codes clients expect.

Every header name the service reads or writes is spelled here once; nothing else in
``gateway.server`` writes a header name as a literal.
"""

from __future__ import annotations

from typing import Final

# --- request headers --------------------------------------------------------------------------
USER: Final = "X-Trino-User"
CATALOG: Final = "X-Trino-Catalog"
SCHEMA: Final = "X-Trino-Schema"
SOURCE: Final = "X-Trino-Source"
CLIENT_TAGS: Final = "X-Trino-Client-Tags"
CLIENT_CAPABILITIES: Final = "X-Trino-Client-Capabilities"
SESSION: Final = "X-Trino-Session"  # accepted, and ignored: no property changes the gateway
PREPARED_STATEMENT: Final = "X-Trino-Prepared-Statement"
AUTHORIZATION: Final = "Authorization"
USER_AGENT: Final = "User-Agent"
# Also sent by clients and deliberately ignored: X-Trino-Original-User, -Client-Info,
# -Time-Zone, -Language, -Transaction-Id (no transactions), -Role, and
# X-Trino-Query-Data-Encoding (results always come back as plain ``data``, never spooled).

# --- response headers -------------------------------------------------------------------------
SET_CATALOG: Final = "X-Trino-Set-Catalog"
SET_SCHEMA: Final = "X-Trino-Set-Schema"
ADDED_PREPARE: Final = "X-Trino-Added-Prepare"
DEALLOCATED_PREPARE: Final = "X-Trino-Deallocated-Prepare"
WWW_AUTHENTICATE: Final = "WWW-Authenticate"

#: The capability that makes timestamps and times carry their precision in the type.
CAPABILITY_PARAMETRIC_DATETIME: Final = "PARAMETRIC_DATETIME"

# --- paths ------------------------------------------------------------------------------------
STATEMENT_PATH: Final = "/v1/statement"
EXECUTING_PATH: Final = "/v1/statement/executing"
QUERY_PATH: Final = "/v1/query"
INFO_PATH: Final = "/v1/info"

ENVIRONMENT: Final = "shuqiao"
REALM: Final = "Shuqiao"

# --- error codes (Trino's StandardErrorCode numbering) -----------------------------------------
USER_ERROR: Final = "USER_ERROR"
INTERNAL_ERROR: Final = "INTERNAL_ERROR"
EXTERNAL: Final = "EXTERNAL"

#: error name -> (error code, error type)
ERROR_CODES: Final[dict[str, tuple[int, str]]] = {
    "GENERIC_USER_ERROR": (0, USER_ERROR),
    "SYNTAX_ERROR": (1, USER_ERROR),
    "ABANDONED_QUERY": (2, USER_ERROR),
    "USER_CANCELED": (3, USER_ERROR),
    "PERMISSION_DENIED": (4, USER_ERROR),
    "NOT_FOUND": (5, USER_ERROR),
    "NOT_SUPPORTED": (13, USER_ERROR),
    "INCOMPATIBLE_CLIENT": (27, USER_ERROR),
    "GENERIC_INTERNAL_ERROR": (65536, INTERNAL_ERROR),
    "EXTERNAL": (16777216, EXTERNAL),
}
