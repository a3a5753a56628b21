"""A notification receiver for the payment tests: a real HTTP server standing where the
cloud's callback endpoint will be, recording what arrives and answering as told."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST with the next status from `answers` (then 204); records them all."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.delay_s = 0.0  # answer this late
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @Request.application
    def _app(self, request: Request) -> Response:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._cond:
            self.received.append(Received(request.path, dict(request.headers), request.get_data()))
            status = self.answers.pop(0) if self.answers else 204
            self._cond.notify_all()
        return Response(b"" if status == 204 else b'{"code":"FAIL","message":"test"}', status=status)

    def wait(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received)} of {count} notifications arrived")
                self._cond.wait(left)
            return list(self.received)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
