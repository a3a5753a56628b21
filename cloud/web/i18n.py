"""The console's languages: Simplified Chinese first, English (Flask-Babel).

Message ids are English; cloud/translations/zh_Hans_CN/LC_MESSAGES/messages.po holds the
Chinese. The .po is compiled at app start into the instance folder (when missing or older
than the .po), so a fresh clone, an installed package and a read-only source tree all work
without a build step. Choice: the `lang` in the session (the switch), else the browser's
Accept-Language, else Chinese.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_babel import Babel

SOURCE = Path(__file__).resolve().parents[1] / "translations"
LOCALES = ("zh_Hans_CN", "en")
DEFAULT = "zh_Hans_CN"
# the html lang attribute and the switch's label
HTML_LANG = {"zh_Hans_CN": "zh-CN", "en": "en"}


def compile_catalogues(target: Path, source: Path = SOURCE) -> Path:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in source.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        # written aside and renamed: processes starting together never read half a file
        fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp, mo)
    return target


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LOCALES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else DEFAULT


def init_app(app: Flask) -> Babel:
    target = compile_catalogues(Path(app.instance_path) / "translations")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    return Babel(app, locale_selector=select_locale)


def html_lang() -> str:
    from flask_babel import get_locale

    return HTML_LANG.get(str(get_locale()), "zh-CN")


def context() -> dict[str, Any]:
    return {"html_lang": html_lang(), "locales": LOCALES}
