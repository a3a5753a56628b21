"""A fake's Flask app served on a free port in a thread (tests, the demo): the part every
stand-alone fake server shares."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


class ThreadedApp:
    """`app` on `host:port` (0: a free one); `url` is what the client's base URL setting
    should be. A context manager that serves in a daemon thread, or `serve_forever()`."""

    thread_name = "fake"

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self._server.server_port}"

    def __enter__(self) -> Any:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()
