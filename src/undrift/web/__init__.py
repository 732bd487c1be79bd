"""`undrift ui`: a dashboard over the store, read through the public Python API (no SQL here).

`create_app(db, token=None)` builds the FastAPI app; `launch.listen_ui` binds it for the command line.  Pages live
one per module (overview.py, history.py), tables and figures are built once and rendered both as HTML and as
downloads (CSV, PNG/SVG), and security.py decides who may read and write (docs/ui.md).
"""

from .app import create_app

__all__ = ["create_app"]
