"""Child process of the kill -9 test: writes to the store in a loop and prints, after each
commit returns, what it committed. The parent kills it at random moments.

Lines: `C <seq> <run> <i>` a record committed; `S <session> <energy>` a session's energy
committed; `E <session>` a session ended; `A <seq>` an ack applied.
"""

from __future__ import annotations

import sys
import uuid

from edge.cache import SessionRow, Store


def main() -> None:
    path, run = sys.argv[1], sys.argv[2]
    store = Store.open(path, seq_block=7)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # What a gateway does on start: end what the last run left open, in one durable commit.
    for row in store.sessions.open_sessions():
        with store.transaction(durable=True):
            seq = store.outbox.append(
                "session_ended", {"session_id": row.session_id, "run": run, "i": 0}, 1
            )
            store.sessions.update(
                row.session_id, state="ended", ended_at=1, stop_reason="gateway_restart",
                reported=True, ended_seq=seq,
            )
        say(f"C {seq} {run} 0")
        say(f"E {row.session_id}")
    say("ready")

    sid: str | None = None
    i = 0
    while True:
        i += 1
        k = i % 6
        if sid is None:
            new = str(uuid.uuid4())
            with store.transaction(durable=True):
                store.sessions.upsert(
                    SessionRow(new, "P1-1", "active", "remote", started_at=i, energy_start_wh=0,
                               energy_last_wh=0)
                )
                seq = store.outbox.append("session_started", {"session_id": new, "run": run, "i": i}, i)
            sid = new
            say(f"C {seq} {run} {i}")
        elif k == 0:  # end the session: row and record in one durable commit
            with store.transaction(durable=True):
                seq = store.outbox.append("session_ended", {"session_id": sid, "run": run, "i": i}, i)
                store.sessions.update(sid, state="ended", ended_at=i, stop_reason="local",
                                      energy_last_wh=i, reported=True, ended_seq=seq)
            say(f"C {seq} {run} {i}")
            say(f"S {sid} {i}")
            say(f"E {sid}")
            sid = None
        elif k == 1:  # telemetry: a NORMAL commit
            seq = store.outbox.append("meter_minute", {"run": run, "i": i}, i)
            say(f"C {seq} {run} {i}")
        elif k == 2:  # a group commit
            with store.transaction():
                seqs = [
                    store.outbox.append("event", {"kind": "gun_state", "run": run, "i": i * 10 + j}, i)
                    for j in range(4)
                ]
            for j, seq in enumerate(seqs):
                say(f"C {seq} {run} {i * 10 + j}")
        elif k in (3, 4):  # progress: record and session row in one durable commit
            with store.transaction(durable=True):
                seq = store.outbox.append("session_progress", {"session_id": sid, "run": run, "i": i}, i)
                store.sessions.update(sid, energy_last_wh=i)
            say(f"C {seq} {run} {i}")
            say(f"S {sid} {i}")
        elif k == 5 and i % 4 == 1:  # the cloud acknowledges, lagging behind
            target = store.outbox.last_seq() - 10
            if target > store.outbox.acked_seq():
                store.outbox.ack(target)
                say(f"A {target}")


if __name__ == "__main__":
    main()
