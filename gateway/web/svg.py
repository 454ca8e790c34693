"""Charts, maps and QR codes drawn as inline SVG on the server: no script, no external service.

Every function returns `markupsafe.Markup` ready for a template; text is escaped. Shapes scale with
the page width (`viewBox` + `width=100%`), so they fit a 360 px phone.
"""

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2e7d32", "#ef6c00", "#1565c0", "#6a1b9a", "#c62828", "#00838f", "#8d6e63")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    caption: str  # the value as people read it ("Bs 1.234,50")


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 340,
              empty: str = "Sin datos para este periodo.") -> Markup:
    """Horizontal bars, one row per item, label above the bar and the caption at its end."""
    if not bars:
        return Markup('<p class="empty">') + escape(empty) + Markup("</p>")
    row = 34
    height = row * len(bars) + 8
    top = max((b.value for b in bars), default=0) or 1
    parts = [f'<svg class="chart bars" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>']
    for i, bar in enumerate(bars):
        y = i * row + 4
        w = max(2.0, (width - 90) * (bar.value / top)) if bar.value > 0 else 0
        parts.append(f'<text x="0" y="{y + 10}" class="lbl">{escape(bar.label)}</text>'
                     f'<rect x="0" y="{y + 14}" width="{w:.1f}" height="14" rx="2" fill="{PALETTE[0]}" '
                     f'data-value="{bar.value}"/>'
                     f'<text x="{w + 4:.1f}" y="{y + 25}" class="val">{escape(bar.caption)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None leaves a gap
    dashed: bool = False


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str = "",
               width: int = 340, height: int = 200) -> Markup:
    """Lines over shared x labels (for example price paid against reference price per product). The
    x axis is numbered 1..n so long names never crowd a phone; the page lists the labels."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return Markup('<p class="empty">Sin datos para este periodo.</p>')
    left, right, top, bottom = 40, 8, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    hi = max(values) * 1.1 or 1
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / hi)

    parts = [f'<svg class="chart lines" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>']
    for frac in (0.5, 1.0):
        v = hi * frac / 1.1
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:.0f}</text>')
    for i, label in enumerate(labels):  # numbered ticks; the page lists what each number is
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 14}" class="lbl" text-anchor="middle">'
                     f'<title>{escape(label)}</title>{i + 1}</text>')
    for k, s in enumerate(series):
        color = PALETTE[(k + 1) % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            dash = ' stroke-dasharray="5 4"' if s.dashed else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash} '
                         f'data-series="{escape(s.name)}"/>')
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>')
    legend_y = height - 6
    for k, s in enumerate(series):
        color = PALETTE[(k + 1) % len(PALETTE)]
        lx = left + k * 150
        parts.append(f'<rect x="{lx}" y="{legend_y - 8}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{legend_y + 1}" class="lbl">{escape(s.name)}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class MapPoint:
    label: str
    lat: float
    lon: float
    number: int | None = None  # drawn inside the marker (rank by distance, for example)
    highlight: bool = False


def points_map(points: Sequence[MapPoint], *, here: tuple[float, float] | None = None, title: str = "Mapa",
               width: int = 340, height: int = 240) -> Markup:
    """The points on a plain equirectangular sketch (longitude scaled by the cosine of latitude), with
    "you are here" when known. Good for a city or a department; no tiles, no network."""
    coords = [(p.lat, p.lon) for p in points] + ([here] if here else [])
    if not coords:
        return Markup('<p class="empty">Sin puntos que mostrar.</p>')
    lats = [c[0] for c in coords]
    lons = [c[1] for c in coords]
    mid_lat = math.radians((min(lats) + max(lats)) / 2)
    kx = math.cos(mid_lat)
    span_x = max((max(lons) - min(lons)) * kx, 1e-3)
    span_y = max(max(lats) - min(lats), 1e-3)
    pad = 22
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (pad + (lon - min(lons)) * kx * scale, height - pad - (lat - min(lats)) * scale)

    parts = [f'<svg class="map" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%"><title>{escape(title)}</title>'
             f'<rect x="0" y="0" width="{width}" height="{height}" class="land"/>']
    for p in points:
        px, py = xy(p.lat, p.lon)
        cls = "pt hl" if p.highlight else "pt"
        parts.append(f'<g class="{cls}"><title>{escape(p.label)}</title>'
                     f'<circle cx="{px:.1f}" cy="{py:.1f}" r="9"/>')
        if p.number is not None:
            parts.append(f'<text x="{px:.1f}" y="{py + 4:.1f}" text-anchor="middle">{p.number}</text>')
        parts.append("</g>")
    if here:  # drawn last: "you are here" stays visible even on top of a point
        hx, hy = xy(*here)
        parts.append(f'<circle cx="{hx:.1f}" cy="{hy:.1f}" r="5" class="here"/>'
                     f'<text x="{hx + 8:.1f}" y="{hy - 6:.1f}" class="lbl">Usted</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def qr_svg(data: str, *, size_mm: int = 40) -> Markup:
    """A QR code of `data` as inline SVG (path only, a few KB)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2:]
    svg = re.sub(r'\swidth="[^"]*"\s+height="[^"]*"', f' width="{size_mm}mm" height="{size_mm}mm"', svg, count=1)
    svg = svg.replace("<svg ", '<svg class="qr" role="img" aria-label="Código QR" ', 1)
    return Markup(svg)


@dataclass(frozen=True)
class RouteLeg:
    """One vehicle's trip: the hub, then its stops in order (each a labelled place), back to the hub."""
    vehicle: int
    stops: Sequence[MapPoint]


def route_map(routes: Sequence[RouteLeg], *, depot: tuple[float, float], others: Sequence[MapPoint] = (),
              title: str = "Rutas", width: int = 340, height: int = 260) -> Markup:
    """The delivery day on the same plain sketch as `points_map`: the hub as a square, each vehicle's
    trip as a coloured line through its numbered stops, and `others` (places with no stop, for
    example a point whose orders no vehicle carries) as grey markers."""
    coords = [depot] + [(p.lat, p.lon) for r in routes for p in r.stops] + [(p.lat, p.lon) for p in others]
    lats = [c[0] for c in coords]
    lons = [c[1] for c in coords]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * kx, 1e-3)
    span_y = max(max(lats) - min(lats), 1e-3)
    pad = 24
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (pad + (lon - min(lons)) * kx * scale, height - pad - (lat - min(lats)) * scale)

    parts = [f'<svg class="map routes" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%"><title>{escape(title)}</title>'
             f'<rect x="0" y="0" width="{width}" height="{height}" class="land"/>']
    hx, hy = xy(*depot)
    for route in routes:
        color = PALETTE[(route.vehicle - 1) % len(PALETTE)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in [(hx, hy), *(xy(p.lat, p.lon) for p in route.stops), (hx, hy)])
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="3" '
                     f'stroke-linejoin="round" data-vehicle="{route.vehicle}"/>')
    for p in others:
        px, py = xy(p.lat, p.lon)
        parts.append(f'<g class="off"><title>{escape(p.label)}</title>'
                     f'<circle cx="{px:.1f}" cy="{py:.1f}" r="7" fill="#757575" stroke="#fff" stroke-width="2"/></g>')
    for route in routes:
        color = PALETTE[(route.vehicle - 1) % len(PALETTE)]
        for p in route.stops:
            px, py = xy(p.lat, p.lon)
            parts.append(f'<g class="stop" data-vehicle="{route.vehicle}"><title>{escape(p.label)}</title>'
                         f'<circle cx="{px:.1f}" cy="{py:.1f}" r="9" fill="{color}" stroke="#fff" stroke-width="2"/>'
                         f'<text x="{px:.1f}" y="{py + 4:.1f}" text-anchor="middle" font-size="10" font-weight="700" '
                         f'fill="#fff">{p.number or ""}</text></g>')
    parts.append(f'<g class="hub"><title>Centro de acopio</title>'
                 f'<rect x="{hx - 7:.1f}" y="{hy - 7:.1f}" width="14" height="14" fill="#1b1b1b"/></g></svg>')
    return Markup("".join(parts))
