"""Shuqiao 数桥: the federated query gateway."""

__version__ = "0.1.0"
