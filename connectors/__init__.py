"""Shuqiao's connectors: one module per kind of departmental database."""
