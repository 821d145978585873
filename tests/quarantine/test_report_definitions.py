"""One definition of a message and of an incident in every section of the report
(docs/reports.md "Counting"): a seeded store whose traps made the old sections disagree."""
from __future__ import annotations

from datetime import date

from sqlalchemy import insert

from quarantine.report_data import custom_period, gather_sync
from quarantine.report_render import csv_rows, render_html
from quarantine.store import QuarantineStore, messages
from tests.quarantine.test_reports import LONDON, at, put_decision, put_hold

PERIOD = custom_period(date(2026, 11, 2), date(2026, 11, 8), LONDON)


def seed(store: QuarantineStore) -> None:
    with store.engine.begin() as conn:
        # s1: self-harm, two recipients (one message, one incident)
        put_hold(conn, "s1", at(2, 9), direction="internal", role="student", sender="a@x",
                 findings=[("SELF_HARM_INTENT", "self_harm", "critical")])
        # s2: self-harm and grooming at once: one incident in each category, one in the total
        put_hold(conn, "s2", at(3, 9), direction="inbound", role="external", sender="b@x",
                 findings=[("SELF_HARM_INTENT", "self_harm", "high"), ("GROOMING_SECRECY", "grooming", "high")],
                 status="deleted")
        # s3: grooming whose copy the next hop refused later: a second decision row, same message
        put_hold(conn, "s3", at(4, 9), direction="inbound", role="external", sender="c@x",
                 findings=[("GROOMING_MEETING", "grooming", "high")])
        put_decision(conn, at(4, 9.1), "inbound", "external", "hold", cats="grooming delivery",
                     codes="GROOMING_MEETING NEXT_HOP_REFUSED_RECIPIENT", mid="s3")
        # s4: a self-harm hold whose decision row was lost (a crash inside the flush interval)
        put_hold(conn, "s4", at(5, 9), direction="internal", role="student", sender="d@x",
                 findings=[("SELF_HARM_INTENT", "self_harm", "high")], status="released")
        # plain traffic that must not count anywhere in the categories
        for i in range(5):
            put_decision(conn, at(6, 9 + i), "inbound", "external", "pass")
        # the hold of s4 keeps its record; its decision row goes
        from quarantine.store import decisions
        conn.execute(decisions.delete().where(decisions.c.message_id == "s4"))
        # an attachment hold decided twice in the log (retry after 4xx from the next hop)
        put_hold(conn, "a1", at(6, 12), direction="inbound", role="external", sender="e@x",
                 findings=[("ATTACHMENT_EXECUTABLE", "attachment", "high")])
        put_decision(conn, at(6, 12.1), "inbound", "external", "hold", cats="attachment", mid="a1")


def test_categories_and_safeguarding_sections_count_the_same_messages(tmp_path):
    store = QuarantineStore(tmp_path / "q").open_sync()
    seed(store)
    data = gather_sync(store.engine, PERIOD, school="Hillside")
    store.close_sync()
    cats = {c["category"]: c for c in data.categories}
    sg = {r["category"]: r for r in data.safeguarding["rows"]}
    assert cats["self_harm"]["messages"] == sg["self_harm"]["incidents"] == 3  # s1 s2 s4
    assert cats["grooming"]["messages"] == sg["grooming"]["incidents"] == 2  # s2 s3
    assert data.safeguarding["total"] == 4  # s2 once
    assert cats["attachment"]["messages"] == 1  # a1 once despite two decision rows
    assert data.safeguarding["open"] == 2 and sg["self_harm"]["open"] == 1 and sg["grooming"]["open"] == 1
    # the CSV carries the same numbers as the tables
    rows = {(s, i, b): v for s, i, b, v in csv_rows(data)}
    assert rows[("category", "self_harm", "messages")] == rows[("safeguarding", "self_harm", "incidents")] == 3
    assert rows[("category", "grooming", "messages")] == rows[("safeguarding", "grooming", "incidents")] == 2
    # no "too strict" reading of a safeguarding release rate
    assert cats["self_harm"]["strictness_hint"] is False and cats["attachment"]["strictness_hint"] is True
    html = render_html(data).html
    assert "n/a" in html


def test_every_section_counts_a_message_once(tmp_path):
    """Volume, Who and Trends count the same messages as the categories: s3's second decision row
    and a1's retry are one message each; s4, whose decision row was lost, still counts."""
    store = QuarantineStore(tmp_path / "q").open_sync()
    seed(store)
    data = gather_sync(store.engine, PERIOD, school="Hillside")
    with store.engine.begin() as conn:
        from quarantine.report_data import _holds, message_categories
        ids = message_categories(conn, _holds(conn, PERIOD.start_ts, PERIOD.end_ts), PERIOD.start_ts, PERIOD.end_ts)
    store.close_sync()
    assert len(ids) == 10  # s1 s2 s3 s4 a1 + 5 plain
    assert data.volume["total"] == len(ids) == sum(sum(c.values()) for c in data.who["by_role"].values())
    assert sum(sum(s["counts"].values()) for s in data.volume["series"]) == len(ids)
    assert data.volume["by_action"]["hold"] == 5 and data.volume["by_action"]["pass"] == 5
    assert {r["key"]: r["now"] for r in data.trends["rows"]}["messages"] == len(ids)
