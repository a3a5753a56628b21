"""Map tile attribution (pure): the credit line a tile provider asks for, shown in the corner
of the H5 app's and the console's Leaflet maps.

An explicit setting (H5_MAP_TILE_ATTRIBUTION, CONSOLE_MAP_ATTRIBUTION) wins; empty means "the
provider's own words for the tile host": AMap (高德, *.autonavi.com / *.amap.com) and
OpenStreetMap (*.openstreetmap.org) are known. Another host needs the setting (docs/config.md):
without it the map shows only Leaflet's own credit.
"""

from __future__ import annotations

from urllib.parse import urlsplit

AMAP = "© 高德地图 AutoNavi"
OSM = '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_KNOWN = ((("autonavi.com", "amap.com"), AMAP), (("openstreetmap.org", "openstreetmap.fr"), OSM))


def default_attribution(template: str) -> str:
    """The provider's credit for a tile URL template, or "" for an unknown host."""
    host = (urlsplit(template.replace("{s}", "a")).hostname or "").lower()
    for suffixes, text in _KNOWN:
        if any(host == s or host.endswith("." + s) for s in suffixes):
            return text
    return ""


def attribution(template: str, setting: object) -> str:
    """What the map shows for `template` (no tiles: nothing)."""
    if not template:
        return ""
    given = str(setting or "").strip()
    return given or default_attribution(template)
