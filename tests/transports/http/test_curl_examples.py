"""The curl examples of the protocol page (docs/reference/comet-curl.sh) work as shown."""

import os
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "docs" / "reference" / "comet-curl.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_examples_run_against_serve(server, tmp_path):
    http_port, _ = server
    env = dict(os.environ, BASE=f"http://127.0.0.1:{http_port}/comet")
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True,
                          timeout=60)
    out = done.stdout.decode()
    assert done.returncode == 0, (out, done.stderr.decode())
    assert "CONNECTED" in out
    assert "hello, comet@" in out  # the SEND came back through the subscription
    assert "again@\ne recycled" in out  # the stream: one record, then recycled
    assert "data: again@" in out  # the same bytes over SSE
    assert "close: 204" in out and "poll after close: 404" in out
