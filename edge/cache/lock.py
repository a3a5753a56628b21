"""The store's single-writer guard: an exclusive flock on `<db>.lock`.

SQLite itself would let two gateways write the same file in turns, each assigning seqs from
the same counter in good faith; the cloud would then see one station talking twice. The
lock makes the second gateway fail at start with a message that says what to do.
The lock file is never deleted (deleting it would let a third process lock a new inode
while the first still holds the old one).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class StoreError(Exception):
    """Base class for the store's own errors."""


class StoreLocked(StoreError):
    """Another process holds the store."""


class LockFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, store_path: Path) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLocked(
                    f"the store {store_path} is already open by another process{holder}; "
                    "only one gateway may use a store: stop the other gateway, or give this "
                    "one its own store path"
                ) from None
            raise
        # Who holds it, for the next one's error message; informative only.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
