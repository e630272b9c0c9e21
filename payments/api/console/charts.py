"""Bar charts as SVG, drawn on the server: no script, no style attribute (the CSP allows neither), only
presentation attributes. Values are integers (fen or counts); `fmt` turns them into axis labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDE, NARROW, HEIGHT = 960, 480, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 36, 48
FONT = (
    "-apple-system, 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"
)
INK, MUTED, GRID = "#1d2433", "#5b6577", "#e3e7ee"


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    values: Sequence[int]


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` grid lines up to `top`."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 1
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[int], str],
    *,
    empty: str,
    chart_id: str = "chart",
    width: int = WIDE,
) -> str:
    """Stacked vertical bars, one per category, with a legend above and a value axis on the left."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" width="{width}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{chart_id}-title" font-family="{_attr(FONT)}" '
        f'font-size="12" class="chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    x = LEFT
    for s in series:  # the legend
        out.append(f'<rect x="{x}" y="10" width="12" height="12" rx="2" fill="{_attr(s.color)}"/>')
        out.append(f'<text x="{x + 18}" y="21" fill="{INK}">{escape(s.label)}</text>')
        x += 28 + 7 * len(s.label) + 6 * sum(1 for ch in s.label if ord(ch) > 0x2E80)
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    if not categories or max(totals, default=0) <= 0:
        out.append(
            f'<text x="{width / 2:.0f}" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" fill="{MUTED}">'
            f"{escape(empty)}</text>"
        )
        out.append("</svg>")
        return "".join(out)
    step = nice_step(max(totals))
    top = step * -(-max(totals) // step)
    for tick in range(0, top + 1, step):
        y = base - plot_h * tick / top
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{escape(fmt(tick))}</text>'
        )
    slot = plot_w / len(categories)
    bar = max(4.0, min(48.0, slot * 0.6))
    every = max(1, int(len(categories) / (plot_w / 56)))  # thin the labels so they never overlap
    for i, category in enumerate(categories):
        cx = LEFT + slot * i + slot / 2
        y = base
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            out.append(
                f'<rect x="{cx - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_attr(s.color)}"><title>{escape(category)} · {escape(s.label)}: {escape(fmt(value))}'
                f"</title></rect>"
            )
        if i % every == 0:
            out.append(
                f'<text x="{cx:.1f}" y="{base + 18}" text-anchor="middle" fill="{MUTED}">{escape(category)}</text>'
            )
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{width - RIGHT}" y2="{base}" stroke="{MUTED}"/>')
    out.append("</svg>")
    return "".join(out)


def yuan_axis(fen: int) -> str:
    """Axis labels in whole yuan with thousands separators."""
    return f"{fen // 100:,}"


def count_axis(n: int) -> str:
    return str(n)
