"""Fixtures of the client tests: built clients (once a session) and a running cloud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clients.support import Cloud, build_clients, running_cloud


@pytest.fixture(scope="session")
def built() -> None:
    build_clients()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, built: None) -> Iterator[Cloud]:
    tmp = tmp_path_factory.mktemp("cloud")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        with running_cloud(tmp) as c:
            yield c
