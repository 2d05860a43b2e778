"""Names the Trino client protocol fixes: headers, paths, and the error codes clients expect.

Every header name the service reads or writes is spelled here once; nothing else in
``gateway.server`` writes a header name as a literal.
"""

from __future__ import annotations

from typing import Final

# --- request headers --------------------------------------------------------------------------
USER: Final = "X-Trino-User"
ORIGINAL_USER: Final = "X-Trino-Original-User"
CATALOG: Final = "X-Trino-Catalog"
SCHEMA: Final = "X-Trino-Schema"
SOURCE: Final = "X-Trino-Source"
CLIENT_TAGS: Final = "X-Trino-Client-Tags"
CLIENT_INFO: Final = "X-Trino-Client-Info"
CLIENT_CAPABILITIES: Final = "X-Trino-Client-Capabilities"
SESSION: Final = "X-Trino-Session"
PREPARED_STATEMENT: Final = "X-Trino-Prepared-Statement"
TIME_ZONE: Final = "X-Trino-Time-Zone"
TRANSACTION_ID: Final = "X-Trino-Transaction-Id"
#: Read and ignored: results always come back as plain ``data``, never spooled segments.
QUERY_DATA_ENCODING: Final = "X-Trino-Query-Data-Encoding"
AUTHORIZATION: Final = "Authorization"

# --- response headers -------------------------------------------------------------------------
SET_CATALOG: Final = "X-Trino-Set-Catalog"
SET_SCHEMA: Final = "X-Trino-Set-Schema"
SET_SESSION: Final = "X-Trino-Set-Session"
CLEAR_SESSION: Final = "X-Trino-Clear-Session"
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
