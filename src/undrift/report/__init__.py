"""Renderings of stored results: terminal tables now; Markdown and HTML reports build on the same summaries."""
