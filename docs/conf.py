"""Sphinx configuration of the schema_audit documentation (`make docs`)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

import schema_audit  # noqa: E402

project = "schema_audit"
author = "schema_audit contributors"
copyright = "schema_audit contributors"  # noqa: A001
release = version = schema_audit.__version__

# Sphinx, as Django, django-axes and django-simple-history use: autodoc reads the API's
# docstrings and a local extension renders the options and settings from the code itself.
extensions = ["myst_parser", "sphinx.ext.autodoc", "uap_reference"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
root_doc = "index"
# Flags such as `--mark` stay two hyphens in plain text, never an en dash.
smartquotes = False
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# furo ships its own CSS and uses the system's fonts: the site loads nothing from elsewhere.
html_theme = "furo"
html_title = f"schema_audit {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
