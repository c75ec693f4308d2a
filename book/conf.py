"""Sphinx configuration of the ntk-notebooks book (`make book`).

The sources Sphinx reads are staged by book/build.py into build/book/src: the pages of book/, a copy
of every notebooks/NN_*.ipynb (rendered from its committed outputs, never executed), the generated
gallery and API pages.  Everything the pages load (theme, fonts, MathJax) comes from installed
Python packages: nothing is fetched from the network at build time or when a page is opened.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent  # the staged source dir (a copy of book/)
ROOT = Path(os.environ.get("NTKBOOK_ROOT", HERE.parents[2])).resolve()  # the repository
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))

project = "ntk-notebooks"
author = "the ntk-notebooks authors"
copyright = "the ntk-notebooks authors, MIT licence"
language = "en"

extensions = [
    "myst_nb",  # .ipynb and MyST markdown, outputs taken from the notebook
    "sphinx.ext.autodoc",  # API reference from ntklib's docstrings
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # Google-style Args:/Returns:/Example: sections
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 served from _static/mathjax (no CDN)
    "ntkbook",  # book/_ext/ntkbook.py: call-outs, run-this-notebook banner
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_ext"]
templates_path = []

# --- notebooks: render committed outputs, never execute --------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "remove-warn"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

# --- API reference -----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "dtype, device: of the computation" documents two arguments at once: as one "Parameters" entry,
# not as two entries that repeat the same text (napoleon_use_param=True splits the names at the
# comma).
napoleon_use_param = False

# --- HTML ----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "ntk-notebooks"
html_static_path = ["_static"]
html_css_files = ["ntkbook.css"]
html_js_files = ["ntkbook.js"]  # print: shrink formulas and tables wider than the page
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "light"}
html_last_updated_fmt = None
html_copy_source = True
html_show_sourcelink = False

# Binder / repository links need the repository's public URL:
# `make book BOOK_REPO=https://github.com/OWNER/REPO` (or the git remote "origin" when it is a
# GitHub URL).  Without one, pages carry the local `make lab` route only.  The default is the
# project's one setting, book/links.py (also behind the notebooks' badges and the README).
sys.path.insert(0, str(HERE))
import links  # noqa: E402

repository_url = (
    os.environ.get("NTKBOOK_REPOSITORY_URL", "").strip() or links.REPOSITORY_URL
).rstrip("/")
repository_branch = os.environ.get("NTKBOOK_BRANCH", "").strip() or links.BRANCH

html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    # one search field, in the sidebar (pydata's header would add a second one above it)
    "navbar_persistent": [],
}
if repository_url:
    html_theme_options.update(
        {
            "repository_url": repository_url,
            "repository_branch": repository_branch,
            "path_to_docs": "",
            "use_repository_button": True,
            "launch_buttons": {
                "binderhub_url": "https://mybinder.org",
                "notebook_interface": "jupyterlab",
            },
        }
    )
ntkbook_repository_url = repository_url
# A change of the extension (call-outs, docstring conversion) must re-read every page.
import hashlib  # noqa: E402

ntkbook_fingerprint = hashlib.sha256(
    b"".join((HERE / "_ext" / name).read_bytes() for name in ("ntkbook.py", "ntkrefs.py"))
).hexdigest()[:16]
ntkbook_branch = repository_branch
