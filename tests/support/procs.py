"""Re-exported for tests: see scenarios/launcher.py."""
from scenarios.launcher import Global, Proc, Zone, http, new_workdir, wait_connected  # noqa: F401
