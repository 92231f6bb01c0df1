import pytest

from tests.transports.http.support import make_site, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One `serve` for a test module: (http_port, stomp_port)."""
    site = make_site(tmp_path_factory.mktemp("site"))
    with serve(site, "--allow-origin", "http://allowed.example") as (http_port, stomp_port, _):
        yield http_port, stomp_port
