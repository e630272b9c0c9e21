"""Fake people for the seeded generator and the benchmark: names from short lists of common surnames and
given-name characters (no real person), resident ID numbers with valid GB 11643 check digits, mobile
numbers, and the ways a bank statement spells a name (traditional, pinyin, masked, full width)."""

from __future__ import annotations

import random
from functools import cache

from payments.domain.identity import id_check_digit, mask_name

# Roughly in order of frequency, so the first ones repeat the way 张, 王, 李 do in life.
SURNAMES = (
    "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 "
    "董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 "
    "邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 向 汤 单 "
    "欧阳 司马 上官 诸葛"
).split()
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉文辉力鹏晓红春梅海波宇浩婷雪琳欣怡佳子轩"
    "涵梓晨然思雨嘉俊凯鑫龙飞燕云峰斌亮健东成志新林霖慧颖倩玲丹萍蕾薇晶宏振凤兵坤亚琴彬博翔瑞阳帅天乐长"
)
_SURNAME_WEIGHTS = tuple(1 / (i + 4) for i in range(len(SURNAMES)))
REGIONS = ("110101", "110105", "310104", "310115", "440304", "440106", "510107", "330106", "420111", "320102")
CITIES = ("深圳市", "上海", "北京", "杭州", "成都", "武汉", "南京", "广州市")
TRADES = ("鑫源", "恒达", "宏图", "瑞丰", "金诚", "华信", "永泰", "博远")
KINDS = ("贸易", "科技", "实业", "商贸", "建材")


def fake_name(rng: random.Random) -> str:
    surname = rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0]
    given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.35 else 2))
    return surname + given


def fake_id_number(rng: random.Random) -> str:
    first17 = (
        rng.choice(REGIONS)
        + f"{rng.randint(1960, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    return first17 + id_check_digit(first17)


def fake_phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def fake_company(rng: random.Random) -> str:
    return rng.choice(CITIES) + rng.choice(TRADES) + rng.choice(KINDS) + "有限公司"


@cache
def _s2t():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("s2t")


def traditional(name: str) -> str:
    return str(_s2t().convert(name))


def syllables(name: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(name)


def surname_length(name: str) -> int:
    return 2 if name[:2] in SURNAMES else 1


def pinyin_spelling(name: str, rng: random.Random) -> str:
    """How people write their name in Latin letters: surname first or last, any case, spaced or not."""
    parts = syllables(name)
    cut = surname_length(name)
    surname, given = "".join(parts[:cut]), "".join(parts[cut:])
    style = rng.randrange(5)
    if style == 0:
        return f"{surname.capitalize()} {given.capitalize()}"
    if style == 1:
        return f"{surname} {given}".upper()
    if style == 2:
        return (surname + given).lower()
    if style == 3:
        return f"{given.capitalize()} {surname.capitalize()}"
    return " ".join(parts).upper()


def masked_spelling(name: str, rng: random.Random) -> str:
    """Banks mask payer names: 张*三 (our own masking), *三 (surname hidden), or Z**N style in pinyin."""
    style = rng.randrange(4)
    if style == 0 and len(name) > 1:
        return "*" + name[-1]
    if style == 1:
        letters = "".join(syllables(name)).upper()
        return letters[0] + "*" * (len(letters) - 2) + letters[-1]
    return mask_name(name)


def full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms, as some statement exports write them."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def typo(reference: str, rng: random.Random) -> str:
    """One slip of the finger on a digit: changed, swapped with its neighbour, or dropped."""
    digits = [i for i, c in enumerate(reference) if c.isdigit()]
    i = rng.choice(digits[-6:])
    kind = rng.randrange(3)
    chars = list(reference)
    if kind == 0:
        chars[i] = rng.choice([d for d in "0123456789" if d != chars[i]])
    elif kind == 1 and i + 1 < len(chars) and chars[i + 1] != chars[i]:
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    else:
        del chars[i]
    return "".join(chars)
