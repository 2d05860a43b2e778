"""End-to-end tests: real clients (trino-python-client, SQLAlchemy, the Trino CLI and JDBC
driver) against a real server."""
