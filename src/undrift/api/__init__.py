"""The public API, one module per concept; `import undrift` exposes it lazily (see `undrift/__init__.py`).

Every function here is what one CLI command calls: the command parses its options, calls one of these and renders
the result.  Every `db` parameter takes a `Store`, a database URL or None ($UNDRIFT_DB, else sqlite:///undrift.db).
"""
