"""The optional dependency groups of pyproject.toml (`backends`: the CA clients;
`services`: the local stand-in servers). A command whose group is not installed
says which one to install instead of showing a traceback."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_OURS = {"common", "global_cp", "zone_cp", "mzsim", "scenarios"}


class MissingExtra(Exception):
    """A third-party module of an optional dependency group is not installed."""


@contextmanager
def needs(extra: str, what: str) -> Iterator[None]:
    """Turns a missing third-party module inside the block into a MissingExtra that
    names `extra`; a missing module of our own is a bug, and stays as it is."""
    try:
        yield
    except ModuleNotFoundError as e:
        if not e.name or e.name.split(".")[0] in _OURS:
            raise
        groups = extra.split(",")
        raise MissingExtra(f"{what} needs the {' and '.join(groups)} extra{'s' if len(groups) > 1 else ''}: "
                           f"pip install 'mzsim[{extra}]' (no module named {e.name!r})") from e
