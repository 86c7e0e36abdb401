"""The dashboard's access rule (docs/security.md): its page and assets are
public, its data follows the API's read rule, and it sends security headers."""
from __future__ import annotations

import pytest

from mzsim.launcher import Global, http

pytestmark = pytest.mark.multiprocess


def test_with_reads_requiring_a_token_the_page_loads_but_its_data_needs_one(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_API_AUTHN_LOCALHOST_IS_ADMIN": "false",
                                             "MZSIM_API_AUTHN_ANONYMOUS_READ": "false"}))
    for path in ("/dashboard", "/dashboard/static/app.js", "/dashboard/static/app.css"):
        status, body = http("GET", g.api + path)
        assert status == 200 and body, path
    for path in ("/dashboard/state", "/dashboard/stream", "/zones/_overview"):
        status, body = http("GET", g.api + path)
        assert status == 401, (path, body)
    status, body = http("GET", g.api + "/dashboard/state", token=g.admin_token())
    assert status == 200 and body["type"] == "snapshot" and body["staleAfter"] == 5.0
    assert http("GET", g.api + "/dashboard/static/index.py")[0] == 404  # only the named assets


def test_the_page_sends_a_strict_content_security_policy(cluster):
    import urllib.request
    g = cluster.add(Global(cluster.dir))
    with urllib.request.urlopen(g.api + "/dashboard", timeout=10) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_dashboard_interval_of_zero_is_refused_at_start(tmp_path):
    import os
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "mzsim", "global", "--data-dir", str(tmp_path)],
                         env={**os.environ, "MZSIM_DASHBOARD_PUSH_INTERVAL": "0"}, capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 2 and "dashboard.push_interval must be positive" in run.stderr
