"""Private files and folders: data dirs are 0700, stores, keys and tokens 0600,
whatever the umask (they hold signing keys, CA keys and tokens)."""
from __future__ import annotations

import os


def private_dir(path: str) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: str) -> str:
    """Create `path` empty at 0600 if missing, and make it 0600 if not."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def write_private(path: str, data: str | bytes) -> None:
    """Write `path` atomically; it is 0600 from its first byte."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.replace(tmp, path)
