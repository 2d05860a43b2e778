"""Unit tests of the HTTP service: encoding, statements, metadata, protocol, auth."""
