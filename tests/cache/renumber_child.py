"""Child process of the renumber kill test: builds a store, says `ready`, renumbers it (one
durable transaction), says `done`. The parent kills it at a random moment in between."""

from __future__ import annotations

import sys

from edge.cache import Store

N, ACKED, HELD, HIGH = 4000, 100, 1500, 20_000
CONFLICTS = list(range(1200, 1300))


def main() -> None:
    path, phase = sys.argv[1], sys.argv[2]
    store = Store.open(path, seq_block=7)
    if phase == "build":
        with store.transaction():
            for i in range(1, N + 1):
                store.outbox.append("event", {"kind": "gun_state", "i": i}, 1_767_225_600_000 + i)
        store.outbox.ack(ACKED)
        store.sync()
        store.close()
        return

    def event(detail: dict) -> None:
        store.outbox.append("event", {"kind": "seq_conflict", "gun": None, "detail": detail},
                            1_767_225_600_000)

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    store.outbox.renumber(HELD, CONFLICTS, HIGH, event=event)
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
