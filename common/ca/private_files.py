"""Private temporary files (0600) for PEM material that a client library
wants as a path (requests, botocore); deleted by remove_all()."""
from __future__ import annotations

import os
import tempfile


class PrivateFiles:
    """Temporary files readable only by this process's user."""

    def __init__(self, prefix: str = "ca"):
        self.prefix = prefix
        self._paths: list[str] = []

    def write(self, data: bytes, suffix: str = ".pem") -> str:
        fd, path = tempfile.mkstemp(prefix=f"mzsim-{self.prefix}-", suffix=suffix)  # mode 0600
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._paths.append(path)
        return path

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def remove_all(self) -> None:
        for path in self._paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._paths.clear()
