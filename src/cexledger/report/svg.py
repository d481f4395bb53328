"""The report page's charts, as inline SVG text made here: no charting library, no script.

A chart is a string of SVG markup for :mod:`.html` to place in the page. Positions are
floats (pixels of the chart's ``viewBox``), rounded to 0.1: they place marks and are never
figures. The marks standing for a figure are wrapped in a ``<g>`` carrying the figure's key
in ``data-figure`` and its exact value in ``data-value`` (the convention of :mod:`.html`),
with a ``<title>`` of the exact value: the browser shows it as a tooltip on hover, so the
page needs no script for it. A label beside a mark is the value rounded for reading
(:func:`rounded`). Tick labels are scale, not figures: round values of the axis, exact
decimals too (steps of 0.1 are computed in ``Decimal``, never printed as
0.30000000000000004).

Every text given to this module (coins, symbols, tooltips) is escaped here (:func:`text`).

A series with more points than the plot has pixel columns is reduced to the lowest and the
highest point of each pair of columns, in time order (the line's extremes survive, its
size stays bounded by the chart's width, whatever the length of the history).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from .._json import canonical_decimal

__all__ = [
    "Bar", "Band", "Mark", "Segment", "axis_ticks", "downsample", "grouped", "hbar_chart",
    "line_chart", "rounded", "stacked_bar_chart", "text", "timeline",
]

WIDTH = 600                   # viewBox width of the line and bar charts
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 72, 14, 26, 26
TIMELINE_WIDTH = 1000         # viewBox width of one coverage row (stretched to its cell)


def text(value: object) -> str:
    return escape(str(value), quote=True)


def grouped(value: Decimal) -> str:
    """A figure as people read it: its exact canonical decimal, thousands grouped by commas
    (``-1,234.5``; remove the commas to get the exact value back)."""
    return format(Decimal(canonical_decimal(value)), ",f")


def rounded(value: Decimal) -> str:
    """A chart's label for a figure, short enough to read beside its mark: 2 decimals from
    100 on, 4 from 1 on, else 4 significant digits (half to even, grouped); the exact value
    is in the mark's tooltip and ``data-value``."""
    magnitude = abs(value)
    if magnitude.is_zero():
        return "0"
    places = 2 if magnitude >= 100 else 4 if magnitude >= 1 else min(3 - magnitude.adjusted(), 18)
    return grouped(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def num(x: float) -> str:
    """A coordinate as short text: one decimal, no trailing ``.0``."""
    rounded = round(x, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"


@dataclass(frozen=True, slots=True)
class Mark:
    """What a mark stands for: its figure key (``None``: derived, not a figure of the
    report), its exact value and the tooltip's words before the value."""

    figure: str | None
    value: Decimal
    label: str
    unit: str = ""

    def group(self, marks: str) -> str:
        """``marks`` in a ``<g>`` carrying the figure's key, exact value and tooltip."""
        exact = canonical_decimal(self.value)
        key = f' data-figure="{text(self.figure)}"' if self.figure is not None else ""
        unit = f" {text(self.unit)}" if self.unit else ""
        return (f'<g{key} data-value="{exact}"><title>{text(self.label)}: {grouped(self.value)}{unit}'
                f'</title>{marks}</g>')


def axis_ticks(low: float, high: float, count: int = 5) -> list[Decimal]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering ``low..high`` and
    0; exact decimals."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0 or not math.isfinite(high - low):
        high = low + 1
    raw = (high - low) / count
    exponent = math.floor(math.log10(raw))
    for mantissa in (1, 2, 5, 10):
        if mantissa * 10.0 ** exponent >= raw:
            break
    step = Decimal(mantissa).scaleb(exponent)
    first = math.floor(low / float(step))
    last = math.ceil(high / float(step))
    return [step * i for i in range(first, last + 1)]


class Scale:
    """A linear map from values to pixels."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.span = low, (high - low) or 1.0
        self.start, self.length = start, end - start

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / self.span * self.length


def downsample(points: Sequence[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """At most ``columns`` points: the module docstring's reduction (``points`` in x order)."""
    if len(points) <= columns:
        return list(points)
    buckets = max(columns // 2, 1)
    x0, x1 = points[0][0], points[-1][0]
    width = (x1 - x0) or 1.0
    kept: list[tuple[float, float]] = []
    bucket: list[tuple[float, float]] = []
    current = 0
    for point in points:
        index = min(int((point[0] - x0) / width * buckets), buckets - 1)
        if index != current and bucket:
            kept.extend(_extremes(bucket))
            bucket = []
        current = index
        bucket.append(point)
    kept.extend(_extremes(bucket))
    return kept


def _extremes(bucket: list[tuple[float, float]]) -> list[tuple[float, float]]:
    low = min(bucket, key=lambda p: p[1])
    high = max(bucket, key=lambda p: p[1])
    if low is high:
        return [low]
    return sorted((low, high), key=lambda p: p[0])


def _svg(width: float, height: float, body: list[str], label: str, cls: str = "chart") -> str:
    return (f'<svg class="{cls}" viewBox="0 0 {num(width)} {num(height)}" role="img" '
            f'aria-label="{text(label)}" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


def _y_axis(ticks: list[Decimal], y: Scale, left: float, right: float) -> list[str]:
    out = []
    for tick in ticks:
        py = num(y(float(tick)))
        cls = "zero" if tick.is_zero() else "grid"
        out.append(f'<line class="{cls}" x1="{num(left)}" x2="{num(right)}" y1="{py}" y2="{py}"/>')
        out.append(f'<text class="tick" x="{num(left - 6)}" y="{py}" text-anchor="end" '
                   f'dominant-baseline="middle">{grouped(tick)}</text>')
    return out


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded span of the x axis with a label (the largest drawdown)."""

    start: float
    end: float
    label: str


def line_chart(points: Sequence[tuple[float, float]], x_ticks: Sequence[tuple[float, str]],
               *, x_range: tuple[float, float], end: Mark, band: Band | None, label: str,
               y_title: str) -> str:
    """A line over time (x in any unit, ``x_ticks`` placed on it) with the area to zero
    shaded, an optional ``band`` and the last value written at the line's end (``end``)."""
    plot_right = WIDTH - RIGHT
    plot_bottom = HEIGHT - BOTTOM
    values = [p[1] for p in points]
    ticks = axis_ticks(min(values), max(values))
    y = Scale(float(ticks[0]), float(ticks[-1]), plot_bottom, TOP)
    x = Scale(x_range[0], x_range[1], LEFT, plot_right)
    kept = downsample(points, int(plot_right - LEFT))
    body = [f'<text class="axis-title" x="{LEFT}" y="{TOP - 10}">{text(y_title)}</text>']
    if band is not None:
        bx0, bx1 = x(band.start), x(band.end)
        body.append(f'<rect class="band" x="{num(bx0)}" y="{TOP}" width="{num(max(bx1 - bx0, 1))}" '
                    f'height="{num(plot_bottom - TOP)}"><title>{text(band.label)}</title></rect>')
    body += _y_axis(ticks, y, LEFT, plot_right)
    body += _x_axis(x_ticks, x, plot_bottom)
    line = " ".join(f"{num(x(px))},{num(y(py))}" for px, py in kept)
    zero = num(y(0.0))
    first_x, last_x = num(x(kept[0][0])), num(x(kept[-1][0]))
    body.append(f'<path class="area" d="M{first_x},{zero} L{line} L{last_x},{zero} Z"/>')
    body.append(f'<path class="line" d="M{line}"/>')
    last_y = y(kept[-1][1])
    anchor_y = max(min(last_y - 8, plot_bottom - 4), TOP + 10)
    body.append(end.group(
        f'<circle class="end" cx="{last_x}" cy="{num(last_y)}" r="3"/>'
        f'<text class="value" x="{last_x}" y="{num(anchor_y)}" text-anchor="end">{rounded(end.value)}</text>'))
    return _svg(WIDTH, HEIGHT, body, label)


def _x_axis(x_ticks: Sequence[tuple[float, str]], x: Scale, bottom: float) -> list[str]:
    out = []
    for position, name in x_ticks:
        at = x(position)
        px = num(at)
        anchor = "end" if at > WIDTH - RIGHT - 20 else "start" if at < LEFT + 20 else "middle"
        out.append(f'<line class="tickmark" x1="{px}" x2="{px}" y1="{num(bottom)}" y2="{num(bottom + 4)}"/>')
        out.append(f'<text class="tick" x="{px}" y="{num(bottom + 16)}" text-anchor="{anchor}">{text(name)}</text>')
    return out


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a stacked bar: its CSS class and the mark it stands for."""

    cls: str
    mark: Mark


@dataclass(frozen=True, slots=True)
class Bar:
    """One stacked bar (a month): its x label, its segments and its total's mark (``None``
    and no segments: a month without figures, an empty slot)."""

    name: str
    segments: tuple[Segment, ...]
    total: Mark | None


def stacked_bar_chart(bars: Sequence[Bar], *, label: str, y_title: str) -> str:
    """Bars stacked from zero, positive parts upwards and negative ones downwards, the total
    a black tick across each bar (the caller writes the legend beside it, in HTML)."""
    plot_right = WIDTH - RIGHT
    plot_bottom = HEIGHT - BOTTOM
    highs, lows = [0.0], [0.0]
    for bar in bars:
        highs.append(sum(float(s.mark.value) for s in bar.segments if s.mark.value > 0))
        lows.append(sum(float(s.mark.value) for s in bar.segments if s.mark.value < 0))
    ticks = axis_ticks(min(lows), max(highs))
    y = Scale(float(ticks[0]), float(ticks[-1]), plot_bottom, TOP)
    slot = (plot_right - LEFT) / max(len(bars), 1)
    width = max(slot * 0.7, 1.0)
    body = [f'<text class="axis-title" x="{LEFT}" y="{TOP - 10}">{text(y_title)}</text>']
    body += _y_axis(ticks, y, LEFT, plot_right)
    every = max(1, math.ceil(len(bars) * 72 / (plot_right - LEFT)))   # a label per 72 px at most
    for i, bar in enumerate(bars):
        x0 = LEFT + slot * i + (slot - width) / 2
        up = down = 0.0
        for segment in bar.segments:
            value = float(segment.mark.value)
            if value == 0:
                continue
            if value > 0:
                top, bottom = y(up + value), y(up)
                up += value
            else:
                top, bottom = y(down), y(down + value)
                down += value
            body.append(segment.mark.group(
                f'<rect class="{segment.cls}" x="{num(x0)}" y="{num(top)}" width="{num(width)}" '
                f'height="{num(max(bottom - top, 0.5))}"/>'))
        if bar.total is not None:
            ty = y(float(bar.total.value))
            body.append(bar.total.group(
                f'<rect class="total" x="{num(x0 - 1)}" y="{num(ty - 1)}" width="{num(width + 2)}" height="2"/>'))
        if i % every == 0:
            body.append(f'<text class="tick" x="{num(x0 + width / 2)}" y="{num(plot_bottom + 16)}" '
                        f'text-anchor="middle">{text(bar.name)}</text>')
    return _svg(WIDTH, HEIGHT, body, label)


ROW = 22
LABEL_WIDTH = 150
VALUE_WIDTH = 120


def hbar_chart(rows: Sequence[tuple[str, Mark]], *, label: str) -> str:
    """Horizontal bars, one per row (name, mark) in the given order, from a shared zero."""
    height = TOP + ROW * len(rows) + 8
    values = [float(m.value) for _, m in rows]
    low, high = min([0.0, *values]), max([0.0, *values])
    x = Scale(low, high if high > low else low + 1, LABEL_WIDTH, WIDTH - VALUE_WIDTH)
    zero = x(0.0)
    body = [f'<line class="zero" x1="{num(zero)}" x2="{num(zero)}" y1="{TOP - 6}" y2="{num(height - 6)}"/>']
    for i, (name, mark) in enumerate(rows):
        top = TOP + ROW * i
        end = x(float(mark.value))
        cls = "pos" if mark.value >= 0 else "neg"
        body.append(f'<text class="tick" x="{LABEL_WIDTH - 8}" y="{num(top + ROW / 2)}" text-anchor="end" '
                    f'dominant-baseline="middle">{text(_shorten(name))}</text>')
        body.append(mark.group(
            f'<rect class="{cls}" x="{num(min(zero, end))}" y="{num(top + 3)}" '
            f'width="{num(max(abs(end - zero), 0.5))}" height="{ROW - 6}"/>'
            f'<text class="value" x="{WIDTH - 4}" y="{num(top + ROW / 2)}" text-anchor="end" '
            f'dominant-baseline="middle">{rounded(mark.value)}</text>'))
    return _svg(WIDTH, height, body, label, "chart hbars")


def _shorten(name: str, room: int = 20) -> str:
    return name if len(name) <= room else name[:room - 1] + "…"


def timeline(covered: Sequence[tuple[float, float, str]], gaps: Sequence[tuple[float, float, str]],
             lines: Sequence[tuple[float, str, str]], *, label: str) -> str:
    """One coverage row, x in 0..1 of the shared time span: ``covered`` and ``gaps`` as
    (start, end, tooltip), ``lines`` as (x, class, tooltip). Stretched to its cell's width
    (``preserveAspectRatio="none"``, strokes kept thin by ``non-scaling-stroke``); a range
    narrower than 0.3 % of the row is widened to it, so a short gap stays visible."""
    body = ['<rect class="track" x="0" y="0" width="1000" height="20"/>']
    minimum = 3.0
    for cls, ranges in (("covered", covered), ("gap", gaps)):
        for start, end, tip in ranges:
            x0 = start * TIMELINE_WIDTH
            width = max((end - start) * TIMELINE_WIDTH, minimum)
            body.append(f'<rect class="{cls}" x="{num(x0)}" y="3" width="{num(width)}" height="14">'
                        f'<title>{text(tip)}</title></rect>')
    for position, cls, tip in lines:
        px = num(position * TIMELINE_WIDTH)
        body.append(f'<line class="{cls}" x1="{px}" x2="{px}" y1="0" y2="20" '
                    f'vector-effect="non-scaling-stroke"><title>{text(tip)}</title></line>')
    return (f'<svg class="timeline" viewBox="0 0 {TIMELINE_WIDTH} 20" preserveAspectRatio="none" '
            f'role="img" aria-label="{text(label)}" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')
