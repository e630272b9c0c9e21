"""Every word a console template asks for exists in both languages (a missing one would fail only on
the page that needs it, in front of a user)."""

from __future__ import annotations

import re
from pathlib import Path

from payments.api.console.i18n import STRINGS

TEMPLATES = Path(__file__).resolve().parents[2] / "payments" / "api" / "console" / "templates"
_ATTR = re.compile(r"\bt\.([a-z_0-9]+)\b(?!\()")
_ITEM = re.compile(r"\bt\[['\"]([a-z_0-9]+)['\"]\]")


def _keys() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        found |= set(_ATTR.findall(text)) | set(_ITEM.findall(text))
    return found - {"get"}  # t.get('prefix_' + value, value): a lookup with a fallback


def test_every_word_the_templates_use_exists_in_chinese_and_english() -> None:
    missing = {lang: sorted(_keys() - STRINGS[lang].keys()) for lang in STRINGS}
    assert missing == {"zh": [], "en": []}


def test_no_word_is_named_like_a_dict_method() -> None:
    # Jinja reads t.items as the dict's method, not the word: such a key would print "<built-in method ...>".
    assert not set(STRINGS["zh"]) & set(dir(dict))
