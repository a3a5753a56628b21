"""The console's pages: one module per area, each a Flask blueprint named after its area
(its endpoint `<area>.index` is what cloud/web/nav.py links). To add a page: write
cloud/web/pages/<area>.py and templates/console/<area>/, then add the blueprint to PAGES."""

from __future__ import annotations

from flask import Blueprint

from cloud.web.pages import (
    alarms,
    archives,
    audit,
    auth,
    community,
    guns,
    home,
    money,
    operators,
    orders,
    recommend,
    reservations,
    settlement,
    sharing,
    stations,
    swap,
    tariffs,
)

PAGES: list[Blueprint] = [auth.bp, home.bp, operators.bp, audit.bp, stations.bp, guns.bp, archives.bp, tariffs.bp,
                          orders.bp, money.bp, alarms.bp, settlement.bp, reservations.bp, recommend.bp,
                          swap.bp, community.bp, sharing.bp]
