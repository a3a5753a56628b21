"""The seq high-water mark kept beside the database (`<db>.seq`).

The outbox seq must never be reused, even when the database file is lost or corrupt and a
fresh store is started. The database holds the exact counter; this small file holds an
upper bound on it, reserved in blocks so that it is written (atomically: temp file, fsync,
rename, fsync of the directory) once per `block` appends rather than on every one.

- `hwm`: no seq above it has been assigned (written before the commit that uses the block).
- `synced`: a seq known to be durable in the database when the file was written; a database
  whose counter is below it has gone backwards (restored from a backup, replaced).
- `acked`: the cloud had acknowledged up to here; a fresh store need not re-cover those seqs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("edge.cache")


@dataclass(frozen=True)
class SeqMark:
    hwm: int
    synced: int
    acked: int
    block: int


def read_mark(path: Path) -> SeqMark | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        mark = SeqMark(
            hwm=int(data["hwm"]),
            synced=int(data["synced"]),
            acked=int(data["acked"]),
            block=int(data["block"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("seq mark %s unreadable (%s); relying on the database alone", path, exc)
        return None
    return mark


def write_mark(path: Path, mark: SeqMark) -> None:
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(asdict(mark)).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
