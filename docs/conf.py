"""Sphinx configuration of the jupyter-server-proxy documentation (MyST Markdown, PyData theme).

The build needs no network: no intersphinx, and the theme's external assets are off. The
reference pages are written from the code by the directives in ``_ext/jsp_reference.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

project = "jupyter-server-proxy"
author = "jupyter-server-proxy contributors"
copyright = "jupyter-server-proxy contributors"

extensions = ["myst_parser", "jsp_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "jupyter-server-proxy"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
