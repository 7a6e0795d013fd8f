"""Two instances of a connector on the real broker, in one consumer group on the same
request topic and behind one webhook URL: the requests are shared out and each answered,
also after one instance is SIGKILLed (the other takes its partitions over; still one
order at Flexe per order); a shipment webhook handed to both instances at once is two
records on ``order.commands`` under one command id, which the order writer decides once.
"""

from __future__ import annotations

import signal
from pathlib import Path

from conn_processes import action_request, call, flexe_rig, read_answers, read_commands, send_requests
from waits import wait_for

from streams.adapters.kafka import admin
from streams.adapters.lag import members_with_partitions, wait_until_caught_up
from streams.bootstrap import Components
from streams.domain.commands import Command, RecordShipped


def _both_in_the_group(c: Components, timeout: float = 60.0) -> str:
    group = f"{c.topics.prefix}oms-connector-flexe"
    wait_for(
        f"two members of {group} holding partitions",
        lambda: members_with_partitions(admin(c.settings), group) == 2,
        timeout,
        every=0.5,
    )
    return group


def test_two_instances_share_the_requests_and_one_takes_over_when_the_other_is_killed(
    oms: Components, tmp_path: Path
) -> None:
    with flexe_rig(oms, tmp_path) as flexe:
        first = flexe.start_connector(1)
        flexe.start_connector(2)
        group = _both_in_the_group(oms)
        before = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-TWO-{n}", 2) for n in range(9)]
        send_requests(oms, before, transactional=True)
        read_answers(oms, {r.action_id for r in before}, linger=0)

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        after = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-TWO-{n}", 2) for n in range(9, 15)]
        send_requests(oms, after, transactional=True)
        # the survivor gets the killed one's partitions once its session times out (30 s)
        answered = read_answers(oms, {r.action_id for r in before + after}, timeout=120)
        outbound = call(f"{flexe.sim_url}/_sim/outbound_orders")["outbound_orders"]
        behind = wait_until_caught_up(admin(oms.settings), [group], timeout=60)

    for r in before + after:
        assert {a.envelope.command_id for _, a in answered[r.action_id]} == {
            f"flexe/{r.action_id}/{r.attempt}/result"
        }
        assert all(a.success for _, a in answered[r.action_id])
    assert sorted(o["externalId"] for o in outbound) == sorted(r.order_id for r in before + after)
    assert behind == {}


def test_a_shipment_webhook_given_to_both_instances_is_one_command_id(
    oms: Components, tmp_path: Path
) -> None:
    with flexe_rig(oms, tmp_path) as flexe:
        flexe.start_connector(1)
        flexe.start_connector(2)
        flexe.start_front()
        _both_in_the_group(oms)
        requests = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-SHIP-{n}", 2) for n in range(3)]
        send_requests(oms, requests, transactional=True)
        answered = read_answers(oms, {r.action_id for r in requests}, linger=0)
        for r in requests:
            [(_, result), *_] = answered[r.action_id]
            call(f"{flexe.sim_url}/_sim/outbound_orders/{result.data['provider_order_id']}/ship", {})

        def shipped(command: Command) -> str | None:
            return command.envelope.order_id if isinstance(command, RecordShipped) else None

        reported = read_commands(oms, {r.order_id for r in requests}, shipped, linger=3.0)

    for r in requests:
        copies = [command for _, command in reported[r.order_id]]
        assert len(copies) >= 2, f"{r.order_id}: one instance only took the webhook"
        assert len({c.envelope.command_id for c in copies}) == 1, copies
