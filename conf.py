"""Sphinx configuration for the Comet, step by step site.

The source directory is the project's top; only `docs/` and `notebooks/` are pages, so that
pages can include code from `parts/`, `comet_core/` and `tests/` by relative path.
The build is offline: no CDN, no intersphinx fetched over the network.
"""

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "docs" / "_ext"))
sys.path.insert(0, str(HERE))

project = "Comet, step by step"
author = "The Comet, step by step authors"
copyright = "2026, the Comet, step by step authors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "sphinx_design",
    "sequence_diagram",
    "state_diagram",
]

root_doc = "docs/index"
include_patterns = ["docs/**", "notebooks/**"]
exclude_patterns = ["_build", ".venv", "**/.ipynb_checkpoints", "docs/_ext/**"]
templates_path = ["docs/_templates"]

myst_enable_extensions = ["colon_fence", "deflist", "substitution", "attrs_inline"]
myst_heading_anchors = 3

# Notebooks: `make docs` keeps a cache so the site rebuilds quickly; `make test` sets
# COMET_NB_EXECUTION=force so every notebook runs afresh against the current comet_core.
nb_execution_mode = os.environ.get("COMET_NB_EXECUTION", "cache")
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_in_temp = False
nb_merge_streams = True
# The Part 6 walkthrough drives Chromium. Where there is none, the site still builds and shows
# that notebook's cells without their output; CI (COMET_REQUIRE_BROWSER=1) always runs it.
if not os.environ.get("COMET_REQUIRE_BROWSER") and not (
        shutil.which("chromium") or shutil.which("chromium-browser")):
    nb_execution_excludepatterns = ["notebooks/part06-*"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "furo"
html_title = "Comet, step by step"
html_static_path = ["docs/_static"]
html_css_files = ["comet.css"]
html_show_sourcelink = False
# No copy of the pages' sources in the site (`_sources/`): nothing links to it, and the student
# edition's copy would still hold the text of the solutions its pages leave out.
html_copy_source = False
html_theme_options = {
    "navigation_with_keys": True,
}

copybutton_prompt_text = r"^\$ |^>>> |^\.\.\. "
copybutton_prompt_is_regexp = True

nitpicky = True
nitpick_ignore_regex = [
    # Standard library and Twisted types in signatures: no network inventories are fetched.
    (r"py:class", r"(twisted|collections|typing|argparse|pathlib|asyncio)\..*"),
    (r"py:class", r"(bytes|str|int|float|bool|None|Path|Frame|Resource|Site)"),
    # zope.interface types in comet_core.transports signatures (docs/reference/api.md).
    (r"py:class", r"<InterfaceClass twisted\.[\w.]+>"),
    (r"py:class", r"ICredentialsChecker|ICredentials|IListeningPort"),
]
