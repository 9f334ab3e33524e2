"""The dashboard: what arrived, what is wrong, who is at high risk and what is overdue, per village."""

from __future__ import annotations

from server.web.clerk import bp, stats
from server.web.clerk.common import clerk, model, render, today, villages

CHART_W, CHART_H = 640, 160


@bp.get("/dashboard")
def dashboard():
    user = clerk()
    visible = villages(user)
    day = today()
    model().refresh(v.code for v in visible)
    figures = model().memo(("dashboard", tuple(visible), day), lambda: _figures(visible, day))
    return render("dashboard.html", **figures, today=day.isoformat())


def _figures(visible: list, day) -> dict:
    """Everything the dashboard counts, from the read model (memoised per version of it)."""
    codes = [v.code for v in visible]
    households = model().household_rows(codes)
    reviews = model().review_rows(codes)
    rows, totals = stats.village_table(visible, households, reviews, day)
    per_day = stats.arrivals(reviews, day)
    top = max((n for _, n in per_day), default=0) or 1
    bar_w = CHART_W / len(per_day)
    bars = [
        {"x": round(i * bar_w, 1), "w": round(bar_w - 2, 1), "h": round(n / top * (CHART_H - 20), 1), "day": d, "n": n}
        for i, (d, n) in enumerate(per_day)
    ]
    overdue = sorted((h for h in households if stats.overdue(h, day)), key=lambda h: h["deadline"])[:20]
    return {
        "rows": rows,
        "totals": totals,
        "bars": bars,
        "chart": {"w": CHART_W, "h": CHART_H, "top": top},
        "points": stats.scatter(households),
        "overdue": overdue,
    }
