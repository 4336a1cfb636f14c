"""The queues' depths over the last day, as the dead-letter monitor recorded them (queue_samples):
the readings, 24 hourly maxima and an SVG sparkline drawn on the server (no script, no CDN)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.ops import QueueSample
from web.common.dates import iso

SAMPLES_WINDOW = timedelta(hours=24)


def samples(session: Session, now: datetime) -> list[dict[str, Any]]:
    """The queue depths the dead-letter monitor recorded over the last day, oldest first
    (a range of the primary key: ~288 readings per queue at one every five minutes)."""
    rows = session.scalars(
        sa.select(QueueSample).where(QueueSample.taken_at >= now - SAMPLES_WINDOW)
        .order_by(QueueSample.taken_at, QueueSample.queue).limit(2_000)
    )
    return [{"taken_at": iso(s.taken_at), "queue": s.queue, "visible": s.visible, "in_flight": s.in_flight,
             "delayed": s.delayed} for s in rows]


def hourly(points: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The samples as 24 hourly rows, newest first: the largest depth of each queue in the hour."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    rows = [{"hour": end - timedelta(hours=k + 1), "main": None, "dead": None} for k in range(24)]
    for point in points:
        taken = datetime.fromisoformat(point["taken_at"])
        k = int((end - taken) / timedelta(hours=1))
        if 0 <= k < 24 and point["queue"] in ("main", "dead"):
            depth = point["visible"] + point["in_flight"]
            previous = rows[k][point["queue"]]
            rows[k][point["queue"]] = depth if previous is None else max(previous, depth)
    return rows


def sparkline(points: list[dict[str, Any]], queue: str, now: datetime, width: int = 480,
              height: int = 60) -> dict[str, Any]:
    """An SVG polyline of one queue's depth over the last day (drawn server-side, no script)."""
    start = now - SAMPLES_WINDOW
    values = [(datetime.fromisoformat(p["taken_at"]), p["visible"] + p["in_flight"])
              for p in points if p["queue"] == queue]
    top = max((v for _, v in values), default=0)
    scale = (height - 4) / top if top else 0
    coordinates = " ".join(
        f"{(at - start) / SAMPLES_WINDOW * width:.1f},{height - 2 - v * scale:.1f}" for at, v in values)
    return {"points": coordinates, "max": top, "width": width, "height": height, "readings": len(values)}
