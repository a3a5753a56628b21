"""Delivering a fake's notifications the way WeChat Pay does: POST, 5 s to answer, retries.

A notification counts as delivered on HTTP 200 or 204 within 5 s; otherwise it is sent again
after 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (24h4m in all). `retry_scale`
compresses that schedule for tests and the demo (0.001: the whole day in 87 s). Each attempt is
signed afresh by `sign(body) -> headers` and recorded in `deliveries`. A probe (WeChat checking
that the merchant verifies signatures) carries a signature starting "WECHATPAY/SIGNTEST/";
a merchant that answers it 200/204 is broken.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

RETRY_SCHEDULE_S = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800,
                    21600, 21600)
ANSWER_WITHIN_S = 5.0
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"


@dataclass(frozen=True)
class Delivery:
    notification_id: str
    event_type: str
    url: str
    attempt: int  # 0 = first delivery, 1.. = retries
    status: int | None  # HTTP status, None when no answer came
    error: str
    at: float

    @property
    def ok(self) -> bool:
        return self.status in (200, 204)


@dataclass
class _Job:
    notification_id: str
    event_type: str
    url: str
    body: bytes
    attempt: int = 0
    probe: bool = False  # a signature probe: sent once, never retried


class Notifier:
    def __init__(self, sign: Callable[[bytes], dict[str, str]], *, retry_scale: float = 1.0,
                 answer_within_s: float = ANSWER_WITHIN_S) -> None:
        self.sign = sign
        self.retry_scale = retry_scale
        self.answer_within_s = answer_within_s
        self.deliveries: list[Delivery] = []
        self._queue: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._http = requests.Session()

    def start(self) -> Notifier:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fake-notifier", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def send(self, notification_id: str, event_type: str, url: str, body: bytes,
             delay_s: float = 0.0, *, probe: bool = False) -> None:
        self._push(time.monotonic() + delay_s, _Job(notification_id, event_type, url, body, probe=probe))

    def _push(self, due: float, job: _Job) -> None:
        with self._cond:
            heapq.heappush(self._queue, (due, next(self._seq), job))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout_s: float = 10.0) -> list[Delivery]:
        """Block until predicate(deliveries) holds; the deliveries, or TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(list(self.deliveries)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"deliveries so far: {self.deliveries}")
                self._cond.wait(left)
            return list(self.deliveries)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._queue else self._queue[0][0] - time.monotonic())
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._queue)
            self._deliver(job)

    def _deliver(self, job: _Job) -> None:
        status: int | None = None
        error = ""
        try:
            headers = {"Content-Type": "application/json", **self.sign(job.body)}
            if job.probe:
                headers["Wechatpay-Signature"] = PROBE_PREFIX + headers["Wechatpay-Signature"]
            resp = self._http.post(job.url, data=job.body, headers=headers,
                                   timeout=self.answer_within_s, allow_redirects=False)
            status = resp.status_code
            if status not in (200, 204):
                error = resp.text[:200]
        except requests.RequestException as e:
            error = f"{type(e).__name__}: {e}"[:200]
        record = Delivery(job.notification_id, job.event_type, job.url, job.attempt, status,
                          error, time.time())
        with self._cond:
            self.deliveries.append(record)
            self._cond.notify_all()
        if not record.ok and not job.probe and job.attempt < len(RETRY_SCHEDULE_S):
            delay = RETRY_SCHEDULE_S[job.attempt] * self.retry_scale
            job.attempt += 1
            self._push(time.monotonic() + delay, job)
