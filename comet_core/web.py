"""The HTTP side of `serve`: the built docs site, with live endpoints mounted beside it.

Everything shares one origin, so a page of the tutorial can talk to a Comet endpoint of the
same server without any cross-origin set-up.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.static import File
from twisted.web.util import Redirect

from comet_core.transports.http.request import CometSite

#: Where the built site keeps the tutorial's front page.
HOME = b"/docs/index.html"

#: The browser client (`/static/comet.js`, `/static/stomp.js`): ES modules, no build step.
STATIC = Path(__file__).resolve().parent / "static"

#: The runnable pages of the series' parts (e.g. Part 7's chat, step by step), when serve runs
#: from a clone of the project; an installed package has no `parts/`.
PARTS = Path(__file__).resolve().parent.parent / "parts"
PART_PAGES = {b"part06": PARTS / "part06", b"part07": PARTS / "part07"}


class NoDirectoryListing(File):
    """Static files of the site; a folder without an index gives 404, not a listing."""

    def directoryListing(self):  # noqa: N802 (Twisted's name)
        return notFound("Not Found", "There is no page at this address.")


def build_root(docs_dir: Path, mounts: dict[bytes, Resource] | None = None) -> Resource:
    """The resource tree: `/` goes to the docs' home page, mounts take their own names."""
    root = NoDirectoryListing(str(docs_dir))
    root.putChild(b"", Redirect(HOME))
    root.putChild(b"static", NoDirectoryListing(str(STATIC)))
    # The group chat of Part 7 (its server side is `comet_core.chat`, started by serve).
    root.putChild(b"chat", NoDirectoryListing(str(STATIC / "chat")))
    for name, folder in PART_PAGES.items():
        if folder.is_dir():
            root.putChild(name, NoDirectoryListing(str(folder)))
    for name, resource in (mounts or {}).items():
        root.putChild(name, resource)
    return root


def build_site(docs_dir: Path, mounts: dict[bytes, Resource] | None = None) -> CometSite:
    """The site: request bodies bounded, no tracebacks shown, idle connections closed
    after two minutes (Twisted's default would keep them twelve hours)."""
    return CometSite(build_root(docs_dir, mounts), timeout=120)
