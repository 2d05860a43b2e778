"""The policy pipeline: pure functions over sqlglot ASTs and a frozen catalog snapshot.

``parse`` → ``bind`` → ``authorize`` → ``rewrite`` → ``render``; see ``pipeline.plan``.
"""
