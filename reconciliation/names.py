"""Names as they appear on bank statements, compared with the debtor names we hold.

A payer name arrives in many shapes: 张小三, 張小三 (traditional), ZHANG XIAOSAN / Xiaosan Zhang / zhangxiaosan
(pinyin, either order), 张*三 / *三 / Z**N (masked by the bank), full-width ＺＨＡＮＧ, with stray spaces
and dots (阿卜杜·艾力). Everything here is pure and cached per distinct string: a million debtors share
far fewer distinct names, and the converters (opencc, pypinyin) cost microseconds per call.

Nothing here logs or raises with a name in the message: names are personal data.
"""

from __future__ import annotations

import enum
import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

MASK = "*"
# Heteronym combinations kept per name: 3 characters with 2 readings each is 8; beyond that the extra
# keys are almost all readings nobody uses in a name, and each key costs index memory.
MAX_PINYIN_KEYS = 8
_LATIN = re.compile(r"[a-z]+")
_STARS = re.compile(r"\*+")


class NameMatch(enum.IntEnum):
    """How a payer name matches a debtor name; a higher value is stronger evidence."""

    NONE = 0
    MASK_HINT = 1  # a mask showing little (张*, *三, Z**N): fits one debtor in a hundred
    MASKED = 2  # a mask showing two characters or four letters (张*三, ZHANG S*N)
    PINYIN = 3  # Zhang Xiaosan against 张小三
    CONVERTED = 4  # 張小三 against 张小三 (traditional -> simplified)
    EXACT = 5  # the same characters after spaces, punctuation and width are normalised


@cache
def _t2s():  # type: ignore[no-untyped-def]
    # Built on first use, not at import: loading opencc's dictionaries is file access.
    import opencc

    return opencc.OpenCC("t2s")


def clean(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, no whitespace, punctuation or symbols except `*`."""
    if text.isalnum() and unicodedata.is_normalized("NFKC", text):
        return text.lower()  # the common case (张小三, Zhang): nothing to strip, ten times faster
    text = unicodedata.normalize("NFKC", text).replace("×", MASK).lower()
    return "".join(ch for ch in text if ch == MASK or unicodedata.category(ch)[0] in "LN")


@lru_cache(maxsize=200_000)
def simplified(text: str) -> str:
    """The cleaned text in simplified characters (Latin and digits pass through unchanged)."""
    cleaned = clean(text)
    if cleaned.isascii():
        return cleaned
    return str(_t2s().convert(cleaned))


# Characters read differently as a surname (单 is Shan, 曾 is Zeng) or commonly in given names (乐 as
# Yue). pypinyin's full heteronym lists are not used: they hold readings nobody gives a name (王 as yu,
# 明 as meng), which would only make false pinyin matches and a bigger index.
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",), "曾": ("zeng",), "解": ("xie",), "仇": ("qiu",), "朴": ("piao",), "区": ("ou",),
    "查": ("zha",), "盖": ("ge",), "华": ("hua",), "乐": ("yue", "le"), "缪": ("miao",), "尉": ("yu", "wei"),
    "覃": ("qin", "tan"), "翟": ("zhai", "di"), "折": ("she",), "秘": ("bi",), "种": ("chong",),
    "繁": ("po",), "员": ("yun",), "召": ("shao",), "长": ("chang", "zhang"), "祭": ("zhai",),
    "藏": ("zang",), "都": ("du",), "宿": ("su",), "句": ("gou",), "黑": ("he",), "重": ("chong",),
}  # fmt: skip
GIVEN_READINGS: dict[str, tuple[str, ...]] = {
    "乐": ("le", "yue"), "长": ("chang", "zhang"), "朝": ("zhao", "chao"), "行": ("xing", "hang"),
    "重": ("zhong", "chong"), "茜": ("qian", "xi"), "觉": ("jue", "jiao"), "传": ("chuan", "zhuan"),
    "曾": ("zeng", "ceng"), "单": ("dan", "shan"),
}  # fmt: skip


@lru_cache(maxsize=20_000)
def _readings(ch: str, surname: bool) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    if ch.isascii():
        return (ch,)
    table = SURNAME_READINGS if surname else GIVEN_READINGS
    readings: list[str] = [*table.get(ch, ()), *lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")]
    # pypinyin writes ü as v (lv); people type lu or lv.
    readings = [variant for r in readings for variant in ((r, r.replace("v", "u")) if "v" in r else (r,))]
    return tuple(dict.fromkeys(readings)) or (ch,)


@lru_cache(maxsize=200_000)
def pinyin_keys(name: str) -> frozenset[str]:
    """Toneless pinyin spellings of a Chinese name, syllables joined: 张小三 -> {"zhangxiaosan"}.

    The usual reading of each character, and the known surname and given-name readings of the few
    characters that have them (单雄信 is shanxiongxin); at most MAX_PINYIN_KEYS spellings.
    """
    chars = simplified(name)
    if not chars or MASK in chars:
        return frozenset()
    if chars.isascii():
        return frozenset({chars}) if chars.isalpha() else frozenset()
    readings = [_readings(c, i == 0) for i, c in enumerate(chars)]
    combos = itertools.islice(itertools.product(*readings), MAX_PINYIN_KEYS)
    return frozenset("".join(parts) for parts in combos)


def latin_forms(raw: str) -> frozenset[str]:
    """A Latin-letter payer name as compact lower-case keys, in the written and the surname-first order.

    "Xiaosan Zhang" -> {"xiaosanzhang", "zhangxiaosan"}: statements from foreign or card-network payers
    put the given name first; moving the last word to the front restores the Chinese order.
    """
    text = unicodedata.normalize("NFKC", raw).lower().replace("ü", "v").replace("u:", "v")
    words = _LATIN.findall(text)
    if not words or not text.isascii():
        return frozenset()
    forms = {"".join(words)}
    if len(words) > 1:
        forms.add("".join([words[-1], *words[:-1]]))
    return frozenset(forms)


def is_masked(raw: str) -> bool:
    return MASK in clean(raw)


def mask_matches(pattern: str, name: str) -> bool:
    """Whether a masked payer name fits a debtor name.

    Chinese masks are compared character by character after traditional -> simplified: each `*` hides
    one character (张*三 fits 张小三, 欧**明 fits 欧阳小明). Banks also write one `*` whatever the length,
    so a pattern with a single run of stars may hide one or more characters (张*三 fits 张小小三).
    Latin masks (Z**N, ZHANG S**) are compared with the debtor's pinyin the same two ways.
    A pattern with nothing visible (***) fits nobody: it carries no evidence.
    """
    pat = simplified(pattern)
    if MASK not in pat or not pat.replace(MASK, ""):
        return False
    if pat.isascii():
        targets: frozenset[str] = pinyin_keys(name)
    else:
        targets = frozenset({simplified(name)})
    return any(_glob(pat, t) for t in targets)


def mask_reveals_enough(pattern: str) -> bool:
    """Whether a mask shows enough to tell debtors apart: two Chinese characters (张*三), or four Latin
    letters (ZHANG S*N). 张* or *三 or Z**N fit about one debtor in a hundred: a hint, not a match."""
    visible = simplified(pattern).replace(MASK, "")
    return len(visible) >= (4 if visible.isascii() else 2)


def _glob(pattern: str, target: str) -> bool:
    if len(pattern) == len(target) and all(p in (MASK, t) for p, t in zip(pattern, target, strict=True)):
        return True
    runs = _STARS.findall(pattern)
    if len(runs) != 1:
        return False
    head, _, tail = pattern.partition(runs[0])
    return len(target) > len(head) + len(tail) and target.startswith(head) and target.endswith(tail)


@dataclass(frozen=True, slots=True)
class PayerName:
    """The payer name prepared once per payment, compared with many debtors."""

    cleaned: str
    simple: str
    pinyin: frozenset[str]  # for a Latin name: its compact forms; for a Chinese one: its readings
    masked: bool

    @classmethod
    def of(cls, raw: str | None) -> PayerName:
        raw = raw or ""
        cleaned = clean(raw)
        masked = MASK in cleaned
        simple = simplified(raw)
        if masked:
            keys: frozenset[str] = frozenset()
        elif simple.isascii():
            keys = latin_forms(raw)
        else:
            keys = pinyin_keys(raw)
        return cls(cleaned, simple, keys, masked)

    def __repr__(self) -> str:  # keeps the name out of tracebacks and debug output
        return f"PayerName(masked={self.masked}, length={len(self.cleaned)})"

    def compare(self, debtor_name: str) -> NameMatch:
        if not self.cleaned:
            return NameMatch.NONE
        if self.masked:
            if not mask_matches(self.cleaned, debtor_name):
                return NameMatch.NONE
            return NameMatch.MASKED if mask_reveals_enough(self.cleaned) else NameMatch.MASK_HINT
        debtor_clean = clean(debtor_name)
        if self.cleaned == debtor_clean:
            return NameMatch.EXACT
        if self.simple == simplified(debtor_name):
            return NameMatch.CONVERTED
        if self.pinyin and self.pinyin & pinyin_keys(debtor_name):
            return NameMatch.PINYIN
        return NameMatch.NONE


def compare_names(payer: str | None, debtor: str) -> NameMatch:
    return PayerName.of(payer).compare(debtor)


def mask_keys(name: str) -> tuple[str, ...]:
    """Blocking keys that a masked payer name can be looked up by: first + last character (张…三)."""
    s = simplified(name)
    if len(s) < 2 or s.isascii():
        return ()
    return (s[0] + s[-1],)


def pattern_mask_key(pattern: str) -> str | None:
    """The first + last key of a mask such as 张*三; None when either end is hidden or it is Latin."""
    p = simplified(pattern)
    if len(p) < 3 or p.isascii() or MASK in (p[0], p[-1]):
        return None
    return p[0] + p[-1]
