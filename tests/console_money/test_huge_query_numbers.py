"""The console's lists with page numbers and cursors far past any row, past 64 bits and past
the digits Python reads: a page (the last one, or none), never a server error."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.console_money.test_money_pages import client_as

HUGE = [str(2**63), str(10**30), "9" * 5000, str(-(2**64))]
PAGES = ["/tariffs/?page={n}", "/tariffs/?apage={n}", "/audit/?before={n}", "/operators/?page={n}",
         "/orders/?page={n}", "/orders/abnormal?page={n}", "/money/payments?page={n}", "/money/refunds?page={n}",
         "/stations/?page={n}", "/guns/?page={n}", "/archives/?page={n}", "/alarms/?page={n}",
         "/settlement/?page={n}", "/community/?page={n}", "/sharing/?page={n}", "/swap/?page={n}"]


@pytest.mark.parametrize("path", PAGES)
def test_huge_page_numbers_and_cursors(app: Flask, path: str) -> None:
    root = client_as(app, "root")
    for n in HUGE:
        resp = root.get(path.format(n=n))
        assert resp.status_code < 500, (path, n[:20], resp.status_code)
