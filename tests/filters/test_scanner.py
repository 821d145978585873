"""filters/scanner.py: a Scanner built before the fork and bound to a worker's stores scans as one built there."""
from __future__ import annotations

import pytest

from filters.message import Envelope
from filters.scanner import Scanner
from quarantine.sender_lists import CachedSenderLists
from quarantine.store import QuarantineStore
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings

PUPILS = f"pupils.{SCHOOL_DOMAIN}"


def _settings(tmp_path):
    return make_settings(tmp_path, directory={"domain_roles": {PUPILS: "student", SCHOOL_DOMAIN: "staff"}},
                         school={"name": "Hillside Academy", "domains": [SCHOOL_DOMAIN, PUPILS]})


MESSAGES = [
    ("head@" + SCHOOL_DOMAIN, ("parent@example.org",), "Dear parents, the concert is on Friday."),
    ("amy@" + PUPILS, ("ben@" + PUPILS,), "you are a f*cking idiot and everyone hates you"),
    ("someone@example.org", ("amy@" + PUPILS,), "Forward this to 10 friends or you will have bad luck!! "
                                               "Send it on within the hour, this is not a joke."),
]


async def test_a_scanner_built_before_the_fork_gives_the_same_verdicts(tmp_path):
    settings = _settings(tmp_path)
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    try:
        here = Scanner(settings, seen=store.seen, sender_lists=CachedSenderLists(store))
        before = Scanner.before_fork(settings)
        before.bind_worker(store.seen, CachedSenderLists(store))
        assert before.signals_off == here.signals_off == []  # the bulk signal is on: it has a seen store
        actions = []
        for mail_from, rcpts, body in MESSAGES:
            raw = make_message(body, sender=mail_from, to=", ".join(rcpts))
            envelope = Envelope(mail_from, rcpts, "127.0.0.1", "localhost")
            one, other = await here.scan(raw, envelope), await before.scan(raw, envelope)
            assert one.verdict.as_dict() == other.verdict.as_dict()
            actions.append(other.verdict.action.label)
        assert actions[0] == "pass" and actions[1] != "pass"  # the newsletter passes, the insult does not
    finally:
        await store.close()


async def test_an_unbound_scanner_says_so_instead_of_counting_nowhere(tmp_path):
    settings = _settings(tmp_path)
    scanner = Scanner.before_fork(settings)
    with pytest.raises(RuntimeError, match="before its worker bound"):
        await scanner.worker_stores.seen.count("bulk", "key", 60)
    with pytest.raises(RuntimeError, match="before_fork"):
        Scanner(settings).bind_worker(None, None)


async def test_the_bound_seen_store_forwards_every_protocol_method(tmp_path):
    import inspect

    from filters.base import SeenStore

    settings = _settings(tmp_path)
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    try:
        scanner = Scanner.before_fork(settings)
        scanner.bind_worker(store.seen, None)
        bound = scanner.worker_stores.seen
        protocol = {n for n, _ in inspect.getmembers(SeenStore, inspect.iscoroutinefunction)}
        assert protocol <= {n for n, _ in inspect.getmembers(type(bound), inspect.iscoroutinefunction)}
        for _ in range(3):
            await bound.refresh_many([("senders", "parent@example.org", "head@" + SCHOOL_DOMAIN)])
        assert await bound.has_value("senders", "parent@example.org", "head@" + SCHOOL_DOMAIN, 60)
        assert not await bound.has_value("senders", "parent@example.org", "amy@" + PUPILS, 60)
        assert await store.seen.distinct_values("senders", "parent@example.org", 60) == 1  # the worker's own
    finally:
        await store.close()
