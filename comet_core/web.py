"""The HTTP side of `serve`: the built docs site, with live endpoints mounted beside it.

Everything shares one origin, so a page of the tutorial can talk to a Comet endpoint of the
same server without any cross-origin set-up. Files are served read only by
`comet_core.transports.http.static`, which never serves what is not meant to be public (the
build's dotfiles, the workshop's solutions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.web.resource import Resource

from comet_core.transports.http.request import CometSite
from comet_core.transports.http.static import APP_HEADERS, Redirect, StaticFiles

#: Where the built site keeps the tutorial's front page.
HOME = b"/docs/index.html"

#: The browser client (`/static/comet.js`, `/static/stomp.js`): ES modules, no build step.
STATIC = Path(__file__).resolve().parent / "static"

#: The runnable pages of the series' parts (e.g. Part 7's chat, step by step), when serve runs
#: from a clone of the project; an installed package has no `parts/`.
PARTS = Path(__file__).resolve().parent.parent / "parts"
PART_PAGES = {b"part06": PARTS / "part06", b"part07": PARTS / "part07"}
#: What a part's folder holds for the workshop, never served: the exercise (its solution
#: and check among it). The pages show a solution where the edition includes it; `check`
#: serves a student's file by itself.
PART_HIDDEN = frozenset({"exercise"})


class SiteRoot(Resource):
    """`/`: the mounts by their names, every other path a file of the built site."""

    def __init__(self, site_files: StaticFiles) -> None:
        super().__init__()
        self.site_files = site_files

    def getChild(self, path: bytes, request: Any) -> Resource:  # noqa: N802 (Twisted's name)
        # Not a mount: give the segment back, the whole path names a file of the site.
        request.postpath.insert(0, request.prepath.pop())
        return self.site_files


def build_root(docs_dir: Path, mounts: dict[bytes, Resource] | None = None) -> Resource:
    """The resource tree: `/` goes to the docs' home page, mounts take their own names."""
    root = SiteRoot(StaticFiles(docs_dir))
    root.putChild(b"", Redirect(HOME))
    root.putChild(b"static", StaticFiles(STATIC))
    # The group chat of Part 7 (its server side is `comet_core.chat`, started by serve).
    root.putChild(b"chat", StaticFiles(STATIC / "chat", headers=APP_HEADERS))
    for name, folder in PART_PAGES.items():
        if folder.is_dir():
            root.putChild(name, StaticFiles(folder, hidden=PART_HIDDEN, headers=APP_HEADERS))
    for name, resource in (mounts or {}).items():
        root.putChild(name, resource)
    return root


def build_site(docs_dir: Path, mounts: dict[bytes, Resource] | None = None) -> CometSite:
    """The site: request bodies bounded, no tracebacks shown, idle connections closed
    after two minutes (Twisted's default would keep them twelve hours)."""
    return CometSite(build_root(docs_dir, mounts), timeout=120)
