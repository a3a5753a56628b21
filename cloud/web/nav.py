"""The console's navigation: one entry per area (cloud/operators/roles.py), in menu order,
and a few more pages of an area with an entry of their own (`key`). An entry names its page's
endpoint once that page exists, its planned path until then; an operator sees only the areas
the role may read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from cloud.operators.roles import allowed


@dataclass(frozen=True)
class Entry:
    area: str
    label: object  # a lazy string: translated when shown
    endpoint: str
    path: str  # the planned URL, used while the endpoint is not built yet
    # a second entry of an area names itself; a page marks its entry current with
    # `{% set menu = key %}` (else its `area`)
    key: str = ""

    @property
    def name(self) -> str:
        return self.key or self.area

    def url(self) -> str:
        try:
            return url_for(self.endpoint)
        except BuildError:
            from flask import request

            return request.script_root + self.path


NAV = (
    Entry("home", _l("Home"), "home.index", "/"),
    Entry("stations", _l("Stations"), "stations.index", "/stations"),
    Entry("stations", _l("Battery-swap stations"), "swap.index", "/swap", key="swap"),
    Entry("guns", _l("Guns"), "guns.index", "/guns"),
    Entry("archives", _l("Archives"), "archives.index", "/archives"),
    Entry("tariffs", _l("Tariffs"), "tariffs.index", "/tariffs"),
    Entry("orders", _l("Orders & money"), "orders.index", "/orders"),
    Entry("settlement", _l("Settlement"), "settlement.index", "/settlement"),
    Entry("alarms", _l("Alarms"), "alarms.index", "/alarms"),
    Entry("community", _l("Community"), "community.index", "/community"),
    Entry("operators", _l("Operators"), "operators.index", "/operators"),
    Entry("audit", _l("Audit log"), "audit.index", "/audit"),
    Entry("recommend", _l("Recommendations"), "recommend.index", "/recommend"),
)


def for_role(role: str) -> list[Entry]:
    return [e for e in NAV if allowed(role, e.area)]


ROLE_LABELS = {"admin": _l("Administrator"), "operator": _l("Operator"), "finance": _l("Finance"),
               "owner": _l("Station owner")}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))
