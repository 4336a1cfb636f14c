"""web/common/dates.py: the console's UTC wall times (`utc`, the pages' `utctime` filter)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from web.common.dates import utc


def test_utc_says_the_wall_time_in_utc_to_the_precision_asked():
    moment = datetime(2026, 12, 1, 23, 59, 7, 123456, tzinfo=UTC)
    assert utc(moment) == "2026-12-01 23:59:07"
    assert utc(moment, "minutes") == "2026-12-01 23:59"
    assert utc(moment, "milliseconds") == "2026-12-01 23:59:07.123"
    # A whole second still has its milliseconds (the text an API body carries has none then).
    assert utc(moment.replace(microsecond=0), "milliseconds") == "2026-12-01 23:59:07.000"
    assert utc(moment.astimezone(timezone(timedelta(hours=-3)))) == "2026-12-01 23:59:07"
    assert utc(moment.replace(tzinfo=None)) == "2026-12-01 23:59:07"
    assert utc(None) == ""


def test_the_utctime_filter_reads_an_api_bodys_text(web_app):
    render = web_app.jinja_env.from_string
    with web_app.test_request_context():
        assert render('{{ "2026-12-01T23:59:07.5Z" | utctime }}').render() == "2026-12-01 23:59:07"
        assert render('{{ "2026-12-01T23:59:07+00:00" | utctime("milliseconds") }}').render() == "2026-12-01 23:59:07.000"
        assert render('{{ none | utctime(empty="running") }}').render() == "running"
        assert render('{{ "" | utctime(empty="—") }}').render() == "—"
