"""Every text shown to patrons and staff is translated into Danish and German (kit/i18n.py; R17).

The texts are collected as scripts/i18n-update collects them (babel.cfg and its keywords) and
compared with the catalogues in src/libcard/locale.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "src" / "libcard" / "locale"
TRANSLATED = ("da", "de")
TEMPLATE_DIRS = ("src/libcard/web/templates", "src/libcard/notify/templates")

# The -k options of scripts/i18n-update on top of Babel's defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "translate": (2,)}

# A named placeholder, `%(amount)s`; `%%` is a literal percent sign, not a placeholder.
PLACEHOLDER = re.compile(r"%%|%\((\w+)\)")

MsgId = str | tuple[str, ...]
Key = tuple[MsgId, str | None]


@cache
def babel_cfg() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """Which files hold texts and how to read them: babel.cfg, as scripts/i18n-update reads it.

    Python sources are read with the `python` extractor, templates with Jinja2's
    (`jinja2.ext:babel_extract`, registered as `jinja2`).
    """
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return list(method_map), dict(options_map)


@cache
def extracted() -> dict[Key, list[str]]:
    """Every marked text in the code and templates → where it occurs."""
    found: dict[Key, list[str]] = {}
    method_map, options_map = babel_cfg()
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else tuple(message)
        found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


@cache
def catalogue(language: str) -> Catalog:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        pytest.fail(f"{po_file.relative_to(ROOT)} is missing: run scripts/i18n-update")
    with po_file.open("rb") as source:
        return read_po(source, locale=language)


def _forms(text: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    # A plural text is a sequence of forms; a singular one is a string.
    if text is None:
        return ()
    return (text,) if isinstance(text, str) else tuple(text)


def _singular(msgid: MsgId) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _placeholders(texts: tuple[str, ...]) -> set[str]:
    return {name for text in texts for name in PLACEHOLDER.findall(text) if name}


def _translation(language: str, key: Key) -> Message | None:
    msgid, context = key
    message = catalogue(language).get(_singular(msgid), context)
    if message is None or message.fuzzy:
        return None
    forms = _forms(message.string)
    return message if forms and all(forms) else None


def _method_of(path: str) -> str | None:
    # The first matching pattern decides, as in extract_from_dir.
    method_map, _options = babel_cfg()
    return next((method for pattern, method in method_map if pathmatch(pattern, path)), None)


def test_babel_cfg_reads_python_with_python_and_templates_with_jinja2() -> None:
    """A section babel.cfg spells wrongly matches nothing, and its texts would never reach the
    catalogues; so every source file and template must be matched by the right extractor."""
    assert _method_of("src/libcard/blocks/texts.py") == "python"
    templates = [
        path.relative_to(ROOT).as_posix()
        for folder in TEMPLATE_DIRS
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {".html", ".txt"}
    ]
    unread = [path for path in templates if _method_of(path) != "jinja2"]
    assert not unread, f"babel.cfg reads these templates with no Jinja2 extractor: {unread}"


def test_texts_are_found() -> None:
    """A broken method map would find nothing and let every other test here pass."""
    assert ("Blocked by the library", None) in extracted()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated(language: str) -> None:
    missing = sorted(
        f"{_singular(msgid)!r} ({', '.join(places)})"
        for (msgid, context), places in extracted().items()
        if _translation(language, (msgid, context)) is None
    )
    assert not missing, (
        f"{len(missing)} texts have no {language} translation (or only a fuzzy one). Run "
        f"scripts/i18n-update and translate them in "
        f"src/libcard/locale/{language}/LC_MESSAGES/messages.po:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_use_the_placeholders_of_the_english_text(language: str) -> None:
    """A translation that drops or renames a %(name)s fails, or loses a value, when shown."""
    wrong = []
    for key in extracted():
        message = _translation(language, key)
        if message is None:
            continue  # reported by test_every_text_is_translated
        expected = _placeholders(_forms(message.id))
        used = _placeholders(_forms(message.string))
        if used != expected:
            wrong.append(
                f"{_singular(key[0])!r}: expects {sorted(expected)}, the translation uses "
                f"{sorted(used)}"
            )
    assert not wrong, f"{language} translations with other placeholders:\n" + "\n".join(wrong)
