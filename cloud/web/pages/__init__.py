"""The console's pages: one module per area, each a Flask blueprint named after its area
(its endpoint `<area>.index` is what cloud/web/nav.py links). To add a page: write
cloud/web/pages/<area>.py and templates/console/<area>/, then add the blueprint to PAGES."""

from __future__ import annotations

from flask import Blueprint

from cloud.web.pages import alarms, audit, auth, home, operators, settlement

PAGES: list[Blueprint] = [auth.bp, home.bp, operators.bp, audit.bp, alarms.bp, settlement.bp]
