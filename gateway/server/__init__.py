"""The HTTP service: the Trino client protocol, metadata browsing and authentication.

Layered as the protocol is: header names in :mod:`.constants`; what a statement is in
:mod:`.statements`; the client session and statement kinds in :mod:`.session`; metadata in
:mod:`.metadata` (pure) and :mod:`.introspection`; the query state machine and its documents in
:mod:`.protocol`; type and value encoding in :mod:`.encoding` (pure); who is asking in
:mod:`.auth`; the routes in :mod:`.app`.
"""

from gateway.server.app import authenticated, create_app, current_principal, settle_heap

__all__ = ["authenticated", "create_app", "current_principal", "settle_heap"]
