"""The review UI on two nodes sharing PostgreSQL and Redis: a session made on one works on the
other, a lockout on one holds on the other, a hold taken by one is opened and released on the
other, and a dead Redis refuses logins rather than skipping the limit."""
from __future__ import annotations

from tests.conftest import free_port
from tests.quarantine.conftest import PASSWORD, ROLES, Review, csrf_of
from tests.servers import pg_url, redis_url  # noqa: F401  (fixtures)
from quarantine.users import UserStore


async def two_nodes(review_gateway, sink, tmp_path, pg: str, redis: str):
    nodes = []
    for name in "ab":
        gw = await review_gateway(quarantine={"path": str(tmp_path / name), "database_url": pg},
                                  redis={"url": redis})
        nodes.append(Review(gw, sink))
    accounts = UserStore.for_settings(nodes[0].store.engine, nodes[0].gw.settings.web)

    def add_all() -> None:
        for role in ROLES:
            accounts.add(role, role, PASSWORD, email=f"{role}@example.org")
    await nodes[0].store.run(add_all)
    return nodes


async def try_login(node: Review, name: str, password: str) -> int:
    async with node.client() as client:
        page = await client.get("/login")
        reply = await client.post("/login", data={"username": name, "password": password,
                                                  "csrf": csrf_of(page.text)})
        return reply.status_code


async def test_sessions_lockouts_and_holds_cross_nodes(pg_url, redis_url, review_gateway, sink, tmp_path):
    node_a, node_b = await two_nodes(review_gateway, sink, tmp_path, pg_url, redis_url)
    # a session made on A is good on B (sessions live in the shared database)
    client = await node_a.login("reviewer")
    message_id = await node_a.hold(subject="cross-node invoice")
    cookies = dict(client.cookies)
    await client.aclose()
    async with node_b.client() as on_b:
        on_b.cookies.update(cookies)
        page = await on_b.get(f"/m/{message_id}")
        assert page.status_code == 200 and "cross-node invoice" in page.text
        release = await on_b.post(f"/m/{message_id}/act", data={
            "csrf": csrf_of(page.text), "action": "release", "reason": "expected invoice", "confirm": "yes"})
        assert release.status_code in (200, 303), release.text[:300]
    assert [m for m in sink.messages if b"cross-node invoice" in m.data]
    # five failures on A lock the name on B too, right password or not
    for _ in range(node_a.gw.settings.web.login_attempts):
        assert await try_login(node_a, "dsl", "wrong password") == 401
    assert await try_login(node_b, "dsl", PASSWORD) == 429


async def test_redis_down_refuses_logins(pg_url, review_gateway, sink, tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    (node,) = [Review(await review_gateway(quarantine={"path": str(tmp_path / "a"), "database_url": pg_url},
                                           redis={"url": dead}), sink)]
    accounts = UserStore.for_settings(node.store.engine, node.gw.settings.web)
    await node.store.run(lambda: accounts.add("dsl", "dsl", PASSWORD))
    assert await try_login(node, "dsl", PASSWORD) == 503


async def test_digests_come_from_one_node_and_another_takes_over(pg_url, review_gateway, sink, tmp_path):
    import asyncio

    from tests.factories import SCHOOL_DOMAIN
    from tests.quarantine.conftest import wait_for

    reviewer = f"rev@{SCHOOL_DOMAIN}"
    notify = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "reviewer_addresses": [reviewer],
              "digest_minutes": 0.01, "check_seconds": 0.2, "sender_notices": False}
    nodes = [Review(await review_gateway(quarantine={"path": str(tmp_path / n), "database_url": pg_url},
                                         gateway={"timers_lease_seconds": 5}, notify=notify), sink)
             for n in "ab"]

    def digests() -> list:
        return [m for m in sink.messages if reviewer in m.rcpt_tos]

    first = await nodes[0].hold(subject="first hold")
    assert await wait_for(lambda: len(digests()) == 1, timeout=15)
    await asyncio.sleep(2)  # ten more ticks on each node: still one digest
    assert len(digests()) == 1 and first.encode() in digests()[0].data
    holder = next(n for n in nodes if n.gw.gateway.timers_lease.holder_sync() == n.gw.gateway.timers_lease.holder)
    survivor = nodes[1] if holder is nodes[0] else nodes[0]
    await holder.gw.gateway.stop(grace=2)  # a clean stop hands the timers over at once
    second = await survivor.hold(subject="second hold")
    assert await wait_for(lambda: len(digests()) == 2, timeout=15)
    assert second.encode() in digests()[1].data
