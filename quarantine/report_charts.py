"""Two small bar charts for reports, laid out once and drawn as SVG (PDF, web) or PNG (mail).

Mail clients (Gmail, Outlook) do not show inline SVG, so the mailed HTML carries
PNGs as cid: images; the PDF and the saved HTML use the SVG. Drawn by hand so
no network or plotting library is needed; Pillow comes with WeasyPrint.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Sequence

FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
BOLD_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)
INK, MUTED, GRID = "#1f2933", "#616e7c", "#d9dee3"
# colour-blind-safe enough: also told apart by position and the legend text
SERIES_COLOURS = {"delivered": "#3a7d5c", "held": "#e0a526", "rejected": "#b83227", "deferred": "#8e9aa6",
                  "this period": "#2b5797", "previous period": "#a9bcd8"}


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 11
    fill: str = INK
    anchor: str = "start"  # start | middle | end
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: int
    height: int
    items: tuple  # Rect | Line | Text, in drawing order

    def svg(self) -> str:
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
                 f'width="100%" role="img" aria-label="{escape(self.title)}" '
                 f'style="max-width:{self.width}px;font-family:DejaVu Sans,Arial,sans-serif">',
                 f"<title>{escape(self.title)}</title>"]
        for item in self.items:
            if isinstance(item, Rect):
                parts.append(f'<rect x="{item.x:.1f}" y="{item.y:.1f}" width="{item.w:.1f}" height="{item.h:.1f}" '
                             f'fill="{item.fill}"/>')
            elif isinstance(item, Line):
                parts.append(f'<line x1="{item.x1:.1f}" y1="{item.y1:.1f}" x2="{item.x2:.1f}" y2="{item.y2:.1f}" '
                             f'stroke="{item.stroke}" stroke-width="1"/>')
            else:
                weight = ' font-weight="bold"' if item.bold else ""
                parts.append(f'<text x="{item.x:.1f}" y="{item.y:.1f}" font-size="{item.size}" fill="{item.fill}" '
                             f'text-anchor="{item.anchor}"{weight}>{escape(item.text)}</text>')
        parts.append("</svg>")
        return "".join(parts)

    def png(self, scale: int = 2) -> bytes:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (self.width * scale, self.height * scale), "white")
        draw = ImageDraw.Draw(image)
        fonts: dict[tuple[float, bool], object] = {}
        anchors = {"start": "ls", "middle": "ms", "end": "rs"}
        for item in self.items:
            if isinstance(item, Rect):
                if item.w > 0 and item.h > 0:
                    draw.rectangle([item.x * scale, item.y * scale, (item.x + item.w) * scale - 1,
                                    (item.y + item.h) * scale - 1], fill=item.fill)
            elif isinstance(item, Line):
                draw.line([item.x1 * scale, item.y1 * scale, item.x2 * scale, item.y2 * scale],
                          fill=item.stroke, width=scale)
            else:
                key = (item.size, item.bold)
                if key not in fonts:
                    fonts[key] = _font(item.size * scale, item.bold)
                draw.text((item.x * scale, item.y * scale), item.text, fill=item.fill, font=fonts[key],
                          anchor=anchors[item.anchor])
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        return out.getvalue()


def _font(size: float, bold: bool):
    from PIL import ImageFont

    for path in BOLD_FONT_FILES if bold else FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, int(size))
    return ImageFont.load_default(size)  # Pillow's own scalable font


def _nice_max(value: int) -> int:
    """A round axis top at or above value: 1, 2, 5, 10, 20, 50 ..."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def _legend(names: Sequence[str], x: float, y: float) -> list:
    items: list = []
    for name in names:
        items.append(Rect(x, y - 9, 10, 10, SERIES_COLOURS[name]))
        items.append(Text(x + 14, y, name, 11, MUTED))
        x += 24 + 6.2 * len(name)
    return items


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[int]], width: int = 560,
                 height: int = 230) -> Chart:
    """Vertical stacked bars: one per label (day or week), one colour per series."""
    left, right, top, bottom = 44, 10, 40, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    axis_max = _nice_max(max(totals, default=0))
    items: list = [Text(0, 14, title, 13, INK, bold=True), *_legend(list(series), left, 31)]
    for frac in (0, 0.5, 1):
        y = top + plot_h - plot_h * frac
        items.append(Line(left, y, width - right, y, GRID))
        items.append(Text(left - 6, y + 4, f"{round(axis_max * frac):,}", 10, MUTED, "end"))
    n = max(1, len(labels))
    slot = plot_w / n
    bar = max(2.0, min(40.0, slot * 0.7))
    every = max(1, round(n / 10))  # at most ~10 labels on the axis
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for name, values in series.items():
            h = plot_h * values[i] / axis_max
            if h > 0:
                y -= h
                items.append(Rect(x, y, bar, h, SERIES_COLOURS[name]))
        if i % every == 0:
            items.append(Text(x + bar / 2, top + plot_h + 15, label, 10, MUTED, "middle"))
    return Chart(title, width, height, tuple(items))


def paired_bars(title: str, rows: Sequence[tuple[str, int, int]], width: int = 560) -> Chart:
    """Horizontal bars, this period over the previous one, per row (readable on a phone)."""
    label_w, right, top, row_h = 110, 60, 40, 34
    height = top + row_h * max(1, len(rows)) + 6
    plot_w = width - label_w - right
    axis_max = _nice_max(max([max(a, b) for _, a, b in rows] or [0]))
    items: list = [Text(0, 14, title, 13, INK, bold=True),
                   *_legend(["this period", "previous period"], label_w, 31)]
    for i, (label, now, before) in enumerate(rows):
        y = top + row_h * i + 4
        items.append(Text(label_w - 8, y + 17, label, 11, INK, "end"))
        for j, (value, name) in enumerate(((now, "this period"), (before, "previous period"))):
            w = plot_w * value / axis_max
            by = y + j * 13
            items.append(Rect(label_w, by, max(w, 1.0 if value else 0.0), 11, SERIES_COLOURS[name]))
            items.append(Text(label_w + w + 5, by + 10, f"{value:,}", 10, INK if j == 0 else MUTED))
    return Chart(title, width, height, tuple(items))
