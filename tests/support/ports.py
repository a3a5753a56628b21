"""Ports for test servers that must be told their port before they bind it.

`free_port()` used to ask the kernel for an ephemeral port and release it; another test
process could then be given the same port for its own port-0 bind (a cloud stack, a fake
server) before ours bound it — a stranger answering the gateway's status URL with a 404.
Ports handed out here come from below the kernel's ephemeral range, where no port-0 bind
lands, in a slice of their own for each xdist worker; each is checked free before it is
handed out, and a worker walks its slice in order, so it does not hand the same port out
twice while an earlier holder may still be in TIME_WAIT.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading

FIRST, SLICE, SLICES = 20_000, 1_500, 8  # 20000–31999: under Linux's default 32768–60999


def _worker_index() -> int:
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return (int(m.group(1)) + 1) % SLICES if m else 0


_lock = threading.Lock()
_start = FIRST + _worker_index() * SLICE
# a process-local offset as well: two pytest runs on one machine (a CI clone beside a session)
_cycle = itertools.cycle(range(SLICE))
for _ in range(os.getpid() % SLICE):
    next(_cycle)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A localhost TCP port nobody listens on, reserved for this test process' next server."""
    with _lock:
        for _ in range(SLICE):
            port = _start + next(_cycle)
            if _free(port):
                return port
    raise RuntimeError(f"no free port in {_start}–{_start + SLICE - 1}")
