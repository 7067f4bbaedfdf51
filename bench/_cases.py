"""A year of cases for a town, generated with NumPy and loaded with COPY.

Used by ``bench/api.py``. The distribution is meant to look like a running
deployment, so the list's indexes and row-level security see realistic data:

- opened over the last ``days`` days, ids in opening order (as the dispatcher
  writes them); busy and quiet units (a Pareto weight per unit);
- categories weighted like a town's mix (parking, loitering and sanitation most
  often), reports for disputes, "other" and half the sanitation cases;
- statuses by age: nearly all older cases closed (or rejected / duplicate), the
  last days spread over new ... resolved;
- the unit's leader as assignee (the grid's leader where the post is vacant), a
  tenth escalated to the grid, village or town leader; deadlines from the
  default table by severity; acceptance, resolution and closing times that follow.

No history rows: the list reads ``cases`` alone.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from dispatch.lifecycle import OPEN_STATUSES, Status
from gridwatch.domain import CATEGORY_NAMES, Category

#: How often each category is seen (sums to 1).
CATEGORY_WEIGHTS: dict[Category, float] = {
    Category.ILLEGAL_PARKING: 0.18,
    Category.LOITERING: 0.16,
    Category.SANITATION: 0.14,
    Category.CROWDING: 0.10,
    Category.INTRUSION: 0.08,
    Category.DISPUTE: 0.08,
    Category.LINE_CROSSING: 0.05,
    Category.ABANDONED_OBJECT: 0.05,
    Category.SENSOR_ALARM: 0.05,
    Category.CAMERA_TAMPER: 0.03,
    Category.FLOOD: 0.03,
    Category.OTHER: 0.03,
    Category.FIRE_SMOKE: 0.02,
}
S = Status
#: (oldest age in days, statuses, weights): the mix of statuses by a case's age.
STATUS_BY_AGE: tuple[tuple[float, tuple[Status, ...], tuple[float, ...]], ...] = (
    (
        2.0,
        (
            S.NEW,
            S.ASSIGNED,
            S.ACCEPTED,
            S.IN_PROGRESS,
            S.RESOLVED,
            S.REOPENED,
            S.CLOSED,
            S.DUPLICATE,
        ),
        (0.08, 0.20, 0.20, 0.25, 0.15, 0.02, 0.05, 0.05),
    ),
    (
        14.0,
        (S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.VERIFIED, S.CLOSED, S.REJECTED, S.DUPLICATE),
        (0.03, 0.06, 0.12, 0.12, 0.60, 0.03, 0.04),
    ),
    (
        float("inf"),
        (S.RESOLVED, S.VERIFIED, S.CLOSED, S.REJECTED, S.DUPLICATE),
        (0.01, 0.02, 0.88, 0.04, 0.05),
    ),
)
_ACCEPTED = {S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.VERIFIED, S.CLOSED, S.REOPENED}
_RESOLVED = {S.RESOLVED, S.VERIFIED, S.CLOSED}
_ENDED = {S.CLOSED, S.REJECTED, S.DUPLICATE}
#: Default deadline table (config/deadlines.yaml) by severity 1..4: minutes to accept, resolve.
ACCEPT_MIN = np.array([15, 30, 120, 480])
RESOLVE_MIN = np.array([240, 1440, 4320, 10080])

COLUMNS = (
    "source", "category", "department_id", "severity", "status", "summary", "lon", "lat",
    "unit_id", "grid_id", "village_id", "town_id", "assignee", "assignee_name",
    "assignee_area", "route_note", "device_id", "escalation_level", "escalated_to",
    "escalated_to_name", "recurrence", "returns", "rating", "satisfied", "opened_at",
    "first_event_at", "last_event_at", "accept_by", "resolve_by", "next_escalation_at",
    "accepted_at", "resolved_at", "closed_at", "updated_at",
)  # fmt: skip
NULL = "\\N"


@dataclass(frozen=True)
class UnitInfo:
    """What every case of one unit shares, as COPY text fields."""

    fields: str  # unit_id .. device_id, tab-separated
    name: str
    lon: float
    lat: float
    escalated: tuple[str, str, str]  # "id\tname" of the grid, village and town leader


def _contact(town: Any, area_id: str) -> tuple[str, str] | None:
    leader = town.hierarchy.area(area_id).leader
    return None if leader is None else (leader.person_id, leader.name)


def unit_infos(town: Any) -> list[UnitInfo]:
    """One :class:`UnitInfo` per unit of ``town`` (a ``gridwatch.town.Town``), sorted by id."""
    h = town.hierarchy
    out = []
    for unit_id in sorted(h.unit_ids):
        loc = h.location_of_unit(unit_id)
        chain = [_contact(town, a) for a in (loc.grid_id, loc.village_id, loc.town_id)]
        own = _contact(town, unit_id)
        if own is not None:
            assignee, area, note = own, unit_id, NULL
        else:  # the vacant posts the synthesized town keeps on purpose
            assignee, area, note = chain[0] or ("", ""), loc.grid_id, "单元长空缺 / unit vacant"
        devices = town.devices_in(unit_id)
        point = h.geometries[unit_id].representative_point()
        out.append(
            UnitInfo(
                fields="\t".join(
                    (
                        *(unit_id, loc.grid_id, loc.village_id, loc.town_id),
                        *(assignee[0] or NULL, assignee[1] or NULL, area, note),
                        devices[0].id if devices else NULL,
                    )
                ),
                name=h.area(unit_id).name,
                lon=float(point.x),
                lat=float(point.y),
                escalated=tuple(  # type: ignore[arg-type]
                    f"{c[0]}\t{c[1]}" if c else f"{NULL}\t{NULL}" for c in chain
                ),
            )
        )
    return out


def _times(base: npt.NDArray[np.datetime64], mask: npt.NDArray[np.bool_]) -> list[str]:
    # Without a zone: the loading session runs with TimeZone UTC.
    text = np.datetime_as_string(base, unit="s")
    out: list[str] = np.where(mask, text, NULL).tolist()
    return out


def _chunk(
    rng: np.random.Generator,
    infos: list[UnitInfo],
    unit_p: npt.NDArray[np.float64],
    departments: dict[str, str],
    opened_s: npt.NDArray[np.float64],
    now: np.datetime64,
) -> str:
    """COPY text for cases opened ``opened_s`` seconds before ``now`` (ascending ages)."""
    n = len(opened_s)
    cats = list(CATEGORY_WEIGHTS)
    cat = rng.choice(len(cats), n, p=list(CATEGORY_WEIGHTS.values()))
    unit = rng.choice(len(infos), n, p=unit_p)
    sev = rng.choice(4, n, p=[0.05, 0.25, 0.45, 0.25])
    age_days = opened_s / 86400
    status = np.empty(n, dtype="<U11")
    lo = 0.0
    for hi, names, weights in STATUS_BY_AGE:
        sel = (age_days >= lo) & (age_days < hi)
        status[sel] = rng.choice([s.value for s in names], int(sel.sum()), p=weights)
        lo = hi
    opened = now - (opened_s * 1e6).astype("timedelta64[us]")
    rec = rng.geometric(0.55, n)
    last = opened + (rec - 1) * np.timedelta64(90, "s")
    accept_by = opened + ACCEPT_MIN[sev] * np.timedelta64(60, "s")
    resolve_by = opened + RESOLVE_MIN[sev] * np.timedelta64(60, "s")
    accepted = opened + (rng.exponential(1200, n) * 1e6).astype("timedelta64[us]")
    resolved = accepted + (rng.exponential(6 * 3600, n) * 1e6).astype("timedelta64[us]")
    closed = resolved + (rng.exponential(86400, n) * 1e6).astype("timedelta64[us]")
    st = status
    is_acc = np.isin(st, [s.value for s in _ACCEPTED])
    is_res = np.isin(st, [s.value for s in _RESOLVED])
    is_end = np.isin(st, [s.value for s in _ENDED])
    is_open = np.isin(st, [s.value for s in OPEN_STATUSES])
    # Rejected and duplicate cases end soon after opening, without being worked on.
    closed = np.where(is_res, closed, accepted)
    worked = np.where(is_res, resolved, np.where(is_acc, accepted, opened))
    updated = np.where(is_end, closed, worked)
    updated = np.minimum(updated, now)
    esc = rng.choice(4, n, p=[0.85, 0.10, 0.04, 0.01])
    returns = (rng.random(n) < 0.04).astype(int)
    rated = (st == S.CLOSED.value) & (rng.random(n) < 0.6)
    rating = rng.choice([1, 2, 3, 4, 5], n, p=[0.03, 0.05, 0.12, 0.35, 0.45])
    is_report = (cat == cats.index(Category.DISPUTE)) | (cat == cats.index(Category.OTHER))
    is_report |= (cat == cats.index(Category.SANITATION)) & (rng.random(n) < 0.5)
    jitter = rng.uniform(-3e-4, 3e-4, (2, n))

    cat_fields = [
        f"{c.value}\t{departments.get(c.value, NULL)}" for c in cats
    ]  # category, department_id
    cat_zh = [CATEGORY_NAMES[c][0] for c in cats]
    cat_l, unit_l = cat.tolist(), unit.tolist()
    unit_lon = np.array([i.lon for i in infos])[unit] + jitter[0]
    unit_lat = np.array([i.lat for i in infos])[unit] + jitter[1]
    cols: list[list[str]] = [
        np.where(is_report, "report", "event").tolist(),
        [cat_fields[c] for c in cat_l],
        (sev + 1).astype(str).tolist(),
        st.tolist(),
        [f"{cat_zh[c]} · {infos[u].name}" for c, u in zip(cat_l, unit_l, strict=True)],
        np.round(unit_lon, 7).astype(str).tolist(),
        np.round(unit_lat, 7).astype(str).tolist(),
        [infos[u].fields for u in unit_l],
        esc.astype(str).tolist(),
        [
            f"{NULL}\t{NULL}" if e == 0 else infos[u].escalated[e - 1]
            for e, u in zip(esc.tolist(), unit_l, strict=True)
        ],
        rec.astype(str).tolist(),
        returns.astype(str).tolist(),
        np.where(rated, rating.astype(str), NULL).tolist(),
        np.where(rated, np.where(rating >= 3, "t", "f"), NULL).tolist(),
        opened_text := _times(opened, np.ones(n, dtype=bool)),
        opened_text,  # first_event_at
        _times(last, np.ones(n, dtype=bool)),
        _times(accept_by, np.ones(n, dtype=bool)),
        _times(resolve_by, np.ones(n, dtype=bool)),
        _times(np.where(is_acc, resolve_by, accept_by), is_open),
        _times(accepted, is_acc | is_end),
        _times(resolved, is_res),
        _times(closed, is_end),
        _times(updated, np.ones(n, dtype=bool)),
    ]
    return "\n".join(map("\t".join, zip(*cols, strict=True))) + "\n"


def chunks(
    town: Any, cases: int, days: float, seed: int = 11, chunk: int = 100_000, workers: int = 2
) -> Iterator[str]:
    """COPY text (``COLUMNS`` order) for ``cases`` cases, oldest first, ``chunk`` at a time.

    Chunks are generated by ``workers`` processes (each from its own seed, so the
    result does not depend on their number), at most ``workers + 1`` ahead of the
    consumer; ``workers=0`` generates in this process.
    """
    rng = np.random.default_rng(seed)
    infos = unit_infos(town)
    weights = rng.pareto(1.5, len(infos)) + 1.0
    unit_p = weights / weights.sum()
    departments = {c: d.id for d in town.departments.values() for c in d.categories}
    # Ages in seconds, oldest first, so ids follow opening time as the dispatcher's do.
    ages = np.sort(rng.uniform(0, days * 86400, cases))[::-1]
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    jobs = [
        (np.random.default_rng([seed, k]), infos, unit_p, departments, ages[lo : lo + chunk], now)
        for k, lo in enumerate(range(0, cases, chunk))
    ]
    if workers <= 0:
        for job in jobs:
            yield _chunk(*job)
        return
    # fork: the workers inherit the town's strings instead of unpickling them.
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        ahead: deque[Future[str]] = deque()
        for job in jobs:
            ahead.append(pool.submit(_chunk, *job))
            if len(ahead) > workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def load(conn: Any, town: Any, cases: int, days: float = 365.0) -> dict[str, float]:
    """COPY ``cases`` cases into ``conn``'s ``cases`` table, then ANALYZE; seconds per phase.

    As PostgreSQL's "Populating a Database" advises, the secondary indexes are
    dropped for the COPY and rebuilt after it from their own definitions
    (``pg_indexes``), so the table ends with exactly the indexes it had.
    """
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    t0 = time.perf_counter()
    conn.execute("SET TimeZone = 'UTC'")  # the generated times carry no zone
    conn.execute("SET maintenance_work_mem = '256MB'")
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i"
        " LEFT JOIN pg_constraint c ON c.conname = i.indexname"
        " WHERE i.schemaname = current_schema() AND i.tablename = 'cases' AND c.oid IS NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    stmt = sql.SQL("COPY cases ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    t = time.perf_counter()
    # The first chunk before the COPY starts its writer thread: the generator's
    # worker processes fork from a process with one thread.
    it = chunks(town, cases, days)
    block = next(it, None)
    gen_s = time.perf_counter() - t
    # The queued writer sends from a thread, so PostgreSQL stores one chunk while
    # the next ones are generated.
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
        while block is not None:
            copy.write(block)
            t = time.perf_counter()
            block = next(it, None)
            gen_s += time.perf_counter() - t
    copy_s = time.perf_counter() - t0
    t = time.perf_counter()
    for _, definition in indexes:
        conn.execute(definition)
    conn.commit()
    index_s = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("ANALYZE cases")
    conn.commit()
    return {
        "load_s": round(time.perf_counter() - t0, 1),
        "copy_s": round(copy_s, 1),
        "generate_s": round(gen_s, 1),
        "index_s": round(index_s, 1),
        "analyze_s": round(time.perf_counter() - t, 1),
        "indexes_rebuilt": len(indexes),
    }
