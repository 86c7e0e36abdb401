import shutil

import pytest

from mzsim.launcher import new_workdir

# The CA backend fixtures (secrets, metrics, store) for every test directory.
pytest_plugins = ["tests.support.backends"]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def cluster(request):
    """Real mzsim processes for multi-process tests anywhere under tests/: stops them all at the
    end and prints their logs if the test failed."""
    started = []

    class Cluster:
        dir = new_workdir()

        def add(self, p):
            started.append(p)
            return p.start()

    yield Cluster()
    failed = not (hasattr(request.node, "rep_call") and request.node.rep_call.passed)
    for p in reversed(started):
        if p.proc is not None:
            p.proc.stop()
            if failed:
                print(f"\n===== {p.proc.log_path} =====\n{p.proc.log()[-6000:]}")
    if not failed:
        shutil.rmtree(Cluster.dir, ignore_errors=True)
