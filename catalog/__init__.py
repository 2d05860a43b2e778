"""Shuqiao's catalog: the registry of departments, sources, tables, principals and grants."""
