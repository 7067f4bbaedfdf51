"""A report as one printable HTML page, its charts drawn on the server as inline SVG.

No script, no CDN and no web font: the page names installed CJK fonts (Noto Sans
CJK, WenQuanYi) and the browser or printer finds them on the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from dispatch.cadence.labels import Words

FONTS = (
    '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",'
    ' "Source Han Sans SC", sans-serif'
)
#: One colour per category, in the order categories appear (colour-blind safe first).
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#999999", "#332288", "#88CCEE", "#117733", "#AA4499", "#44AA99",
)  # fmt: skip
#: Rows of a unit or grid table: the lowest ranked (a town has over a thousand units).
MAX_ROWS = 20
KEYS = ("opened", "open", "overdue", "closed")
FOUR = ("response", "completion", "resolution", "satisfaction")

_CSS = """
@page { size: A4; margin: 14mm; }
body { font-family: FONTS; color: #222; margin: 0 auto; max-width: 190mm; font-size: 10.5pt; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 6mm 0 2mm; border-bottom: 1px solid #888; }
h3 { font-size: 11pt; margin: 4mm 0 1mm; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; }
th, td { border: 1px solid #bbb; padding: 1mm 2mm; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; } .meta { color: #555; } .note { color: #a00; }
svg { display: block; margin: 2mm 0; } svg text { font-family: FONTS; }
""".replace("FONTS", FONTS)

Name = Callable[[str | None], str]


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def el(tag: str, text: str | None = None, **attrs: object) -> str:
    """One SVG element; ``font_size`` is written ``font-size``."""
    a = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f"<{tag}{a}/>" if text is None else f"<{tag}{a}>{escape(text)}</{tag}>"


def svg(title: str, width: int, height: float, shapes: Sequence[str]) -> str:
    return (
        f"<h3>{escape(title)}</h3>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}"'
        f' viewBox="0 0 {width} {height:.0f}" role="img" aria-label="{escape(title)}">'
        + "".join(shapes)
        + "</svg>"
    )


def render_html(
    report: Mapping[str, Any], lang: str = "zh", names: Mapping[str, str] | None = None
) -> str:
    """The whole page. ``names`` gives areas', departments' and people's names by id."""
    known = names or {}
    w = Words(lang)

    def name(i: str | None) -> str:
        return known.get(i or "", i or "—")

    p = report["period"]
    title = f"{w(report['kind'])} {p['first_day']}"
    if p["first_day"] != p["last_day"]:
        title += f" – {p['last_day']}"
    scope = name(report["scope"]) if report["scope"] else w("whole_town")
    as_of = p["as_of"][:16].replace("T", " ")
    running = "" if p["complete"] else w("in_progress")
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(w("scope"))}: {escape(scope)} · {escape(w("as_of"))}'
        f" {escape(as_of)} ({escape(p['tz'])}){escape(running)}</p>",
        *_offline(report.get("devices_offline"), w),
        *_counts(report, w, name),
        *_times(report, w),
        *_rates(report["rates"], w, name),
        _on_time_svg(report["charts"]["on_time_by_village"], w, name),
        *_mediation(report["mediation"], w),
    ]
    parts += _points(report["points"], w, name)
    if "ranking" in report:
        parts += _ranking(report["ranking"], w, name, p["complete"])
    else:
        people = sorted(report["people"], key=lambda r: (r["on_time_rate"], r["person"]))
        parts += [
            f"<h2>{escape(w('people') + w('lowest').format(MAX_ROWS))}</h2>",
            _people(people[:MAX_ROWS], w, name),
        ]
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _offline(rows: Sequence[Mapping[str, Any]] | None, w: Words) -> list[str]:
    if rows is None:
        return []
    keys = ("device", "kind", "state", "last_seen", "hours_offline")
    body = [
        [
            r["device"],
            w(r["kind"]) if r["kind"] in ("camera", "sensor") else "—",
            r["state"],
            r["last_seen"][:16].replace("T", " "),
            num(r["hours_offline"]),
        ]
        for r in rows
    ]
    return [
        f"<h2>{escape(w('devices_offline'))}</h2>",
        table([w(k) for k in keys], body or [[w("none"), "", "", "", ""]]),
    ]


def _counts(report: Mapping[str, Any], w: Words, name: Name) -> list[str]:
    c = report["counts"]
    out = [
        f"<h2>{escape(w('counts'))}</h2>",
        table([w(k) for k in KEYS], [[str(c["all"][k]) for k in KEYS]]),
        _per_day_svg(report["charts"]["per_day"], w),
    ]
    for dim in ("category", "village", "department"):
        label = w.category if dim == "category" else name
        rows = [[label(r["id"]) if r["id"] else "—", *(str(r[k]) for k in KEYS)] for r in c[dim]]
        if rows:
            out += [
                f"<h3>{escape(w('by').format(w(dim)))}</h3>",
                table([w(dim), *(w(k) for k in KEYS)], rows),
            ]
    return out


def _times(report: Mapping[str, Any], w: Words) -> list[str]:
    t = report["times"]
    rows = [
        [w(k), str(t[k]["n"]), num(t[k]["median_min"]), num(t[k]["p90_min"])]
        for k in ("accept", "resolve")
    ]
    levels = w("levels").split(",")
    esc = [
        [levels[e["level"]] if 0 <= e["level"] < len(levels) else str(e["level"]), str(e["count"])]
        for e in report["escalations"]
    ]
    return [
        f"<h2>{escape(w('times'))}</h2>",
        table(["", w("n"), w("median"), w("p90")], rows),
        f"<h2>{escape(w('escalations'))}</h2>",
        table([w("level"), w("count")], esc or [[w("none"), "0"]]),
    ]


def _rates(rates: Mapping[str, Any], w: Words, name: Name) -> list[str]:
    a = rates["all"]
    out = [
        f"<h2>{escape(w('rates'))}</h2>",
        table([w("cases"), *(w(k) for k in FOUR)], [[str(a["cases"]), *(pct(a[k]) for k in FOUR)]]),
    ]
    for dim in ("village", "department", "grid", "unit"):
        rows = rates[dim]
        title = w("by").format(w(dim))
        if len(rows) > MAX_ROWS:
            rows = rows[-MAX_ROWS:]
            title += w("lowest").format(MAX_ROWS)
        if rows:
            body = [
                [str(r["rank"]), name(r["id"]), str(r["cases"]), *(pct(r[k]) for k in FOUR)]
                for r in rows
            ]
            head = [w("rank"), w(dim), w("cases"), *(w(k) for k in FOUR)]
            out += [f"<h3>{escape(title)}</h3>", table(head, body)]
    return out


def _mediation(m: Mapping[str, Any], w: Words) -> list[str]:
    head = [w("disputes"), w("with_outcome"), w("mediated"), w("success_rate")]
    row = [str(m["disputes"]), str(m["with_outcome"]), str(m["mediated"]), pct(m["rate"])]
    return [f"<h2>{escape(w('mediation'))}</h2>", table(head, [row])]


def _points(rows: Sequence[Mapping[str, Any]], w: Words, name: Name) -> list[str]:
    keys = ("earned", "lost", "redeemed", "balance")
    body = [[name(r["person"]), *(str(r[k]) for k in keys)] for r in rows]
    head = [w("person"), *(w(k) for k in keys)]
    return [f"<h2>{escape(w('points'))}</h2>", table(head, body or [[w("none"), "", "", "", ""]])]


def _person_cells(r: Mapping[str, Any], name: Name) -> list[str]:
    return [
        r["name"] or name(r["person"]),
        str(r["cases"]),
        pct(r["on_time_rate"]),
        str(r["overdue"]),
        pct(r["reopen_rate"]),
        num(r["accept_hours"]),
    ]


PERSON_HEAD = ("person", "cases", "on_time_rate", "overdue", "reopen_rate", "accept_hours")


def _people(rows: Sequence[Mapping[str, Any]], w: Words, name: Name) -> str:
    return table([w(k) for k in PERSON_HEAD], [_person_cells(r, name) for r in rows])


def _ranking(r: Mapping[str, Any], w: Words, name: Name, complete: bool) -> list[str]:
    head = [w("position"), *(w(k) for k in PERSON_HEAD)]
    head += [w(k) for k in ("term_on_time", "term_overdue", "term_reopen", "term_accept", "score")]
    rows = []
    for b in r["bottom"]:
        t = b["terms"]
        terms = [f"+{t['on_time']:.2f}", *(f"−{t[k]:.2f}" for k in ("overdue", "reopen", "accept"))]
        rows.append([str(b["position"]), *_person_cells(b, name), *terms, f"{b['score']:.2f}"])
    named = [[n["name"] or name(n["person"]), ", ".join(n["fortnights"])] for n in r["named_twice"]]
    not_ranked = r["not_ranked"]
    return [
        f"<h2>{escape(w('ranking'))}</h2>",
        f"<p>{escape(w('formula').format(**r['weights']))}</p>",
        f'<p class="note">{escape(w("recorded") if complete else w("provisional"))}</p>',
        f"<h3>{escape(w('bottom'))} {len(r['bottom'])}</h3>",
        table(head, rows),
        f"<h3>{escape(w('named_twice').format(r['named_limit']))}</h3>",
        table([w("person"), w("fortnights")], named or [[w("none"), ""]]),
        f"<h3>{escape(w('not_ranked').format(r['min_cases']))}</h3>",
        _people(not_ranked, w, name) if not_ranked else f"<p>{escape(w('none'))}</p>",
    ]


def _per_day_svg(per_day: Mapping[str, Mapping[str, int]], w: Words) -> str:
    """Stacked bars: one per day, one colour per category, a legend under them."""
    title = w("chart_per_day")
    days = sorted({d for row in per_day.values() for d in row})
    if not days:
        return f"<h3>{escape(title)}</h3><p>{escape(w('no_data'))}</p>"
    width, height, left, bottom, top = 700, 220, 40, 28, 10
    base = height - bottom
    peak = max(max(sum(row.get(d, 0) for row in per_day.values()) for d in days), 1)
    slot = (width - left - 10) / len(days)
    bar = max(slot * 0.7, 1.0)
    scale = (base - top) / peak
    shapes = [
        el("line", x1=left, y1=base, x2=width - 10, y2=base, stroke="#444"),
        el("text", str(peak), x=left - 4, y=top + 8, font_size=10, text_anchor="end"),
        el("text", "0", x=left - 4, y=base, font_size=10, text_anchor="end"),
    ]
    colours = {cat: PALETTE[i % len(PALETTE)] for i, cat in enumerate(per_day)}
    every = 1 if len(days) <= 16 else max(len(days) // 10, 1)
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        y = float(base)
        for cat, row in per_day.items():
            n = row.get(d, 0)
            if n:
                y -= n * scale
                shapes.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{n * scale:.1f}"'
                    f' fill="{colours[cat]}">'
                    + el("title", f"{w.category(cat)} {d}: {n}")
                    + "</rect>"
                )
        if i % every == 0:
            shapes.append(
                el("text", d[5:], x=f"{x + bar / 2:.1f}", y=base + 12, font_size=9,
                   text_anchor="middle")
            )  # fmt: skip
    for j, cat in enumerate(per_day):
        lx, ly = left + (j % 4) * 165, height + 6 + (j // 4) * 16
        shapes.append(el("rect", x=lx, y=ly, width=10, height=10, fill=colours[cat]))
        shapes.append(el("text", w.category(cat), x=lx + 14, y=ly + 9, font_size=11))
    return svg(title, width, height + 10 + (len(per_day) + 3) // 4 * 16, shapes)


def _on_time_svg(rates: Mapping[str, float | None], w: Words, name: Name) -> str:
    """Horizontal bars: each village's on-time closure rate, 0 to 100%."""
    title = w("chart_on_time")
    if not rates:
        return f"<h3>{escape(title)}</h3><p>{escape(w('no_data'))}</p>"
    width, left, row = 700, 170, 18
    height = row * len(rates) + 20
    span = width - left - 60
    shapes = [el("line", x1=left, y1=0, x2=left, y2=height - 16, stroke="#444")]
    for i, (vid, rate) in enumerate(rates.items()):
        y = 4 + i * row
        shapes.append(el("text", name(vid), x=left - 6, y=y + 12, font_size=11, text_anchor="end"))
        if rate is not None:
            shapes.append(
                el("rect", x=left, y=y + 2, width=f"{rate * span:.1f}", height=row - 6,
                   fill="#009E73")
            )  # fmt: skip
        shapes.append(
            el("text", pct(rate), x=f"{left + (rate or 0) * span + 4:.1f}", y=y + 12, font_size=10)
        )
    return svg(title, width, height, shapes)
