"""The order desk in the demo: a cancel, an edit, a return with replacement, a return a
shopper asks for in BigCommerce, a preorder release, played beside the six journeys by the
same world (simulators and connectors).

The people at the providers act through the simulators' control planes, as in
``world.Driver``; the desk clerk acts as the CLI does (``desk_requests``: the domain's own
check, then the command on ``order.commands``), and the backorder job runs as
``oms backorders run --as-of`` on the preorder's launch date.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devkit.world import DriveError, Driver
from streams.adapters.command_bus import CommandBus
from streams.adapters.desk_requests import (
    CancelBody,
    EditBody,
    Plan,
    ReturnBody,
    plan_cancel,
    plan_edit,
    plan_return,
)
from streams.domain.order import OrderState, ReturnStatus
from streams.domain.order_handling import OrderHandling
from streams.domain.values import Address
from streams.settings import Settings

SOURCE = "operator:demo"
PREORDER_SKU = "SKU-CONSOLE-X"
LAUNCH = "2030-01-15T08:00:00+00:00"
"""config/products.yaml: when SKU-CONSOLE-X launches."""


@dataclass
class DeskScenes:
    driver: Driver
    settings: Settings
    bus: CommandBus
    handling: OrderHandling
    played: dict[str, str] = field(default_factory=dict)
    """scene -> the order it played on."""

    async def until(self, order_id: str, what: str, done: Callable[[OrderState], bool]) -> OrderState:
        """Like ``Driver.wait``, but an order on hold or canceled may be what the scene waits for."""
        deadline = time.monotonic() + self.driver.step_timeout
        while True:
            self.driver.world.check()
            state = self.driver.watch.state(order_id)
            if state is not None and done(state):
                return state
            if time.monotonic() > deadline:
                seen = f"{state.status} / {state.status_reason}" if state else "nothing yet"
                raise DriveError(f"{order_id}: no '{what}' within {self.driver.step_timeout:.0f}s ({seen})")
            await asyncio.sleep(0.1)

    def send(self, plan: Plan) -> None:
        command, problem = plan
        if problem is not None:
            raise DriveError(f"the desk's request was refused: {problem}")
        self.bus.send(command)
        self.bus.flush()

    async def fulfil_in_fno(self, order_id: str, sent: Callable[[OrderState], bool]) -> None:
        """The F&O warehouse and accounting play their part for an order sent there."""
        await self.until(order_id, "sent to F&O", sent)
        number = await self.driver.fno_number(order_id)
        for to, reason in (("picked", "Picked"), ("packed", "Packed"), ("invoiced", "Completed")):
            await self.driver.call("fno", "POST", f"/_sim/salesorders/{number}/advance", {"to": to})
            await self.until(order_id, reason, _reached(reason))

    async def cancel(self) -> str:
        """A shopper's order canceled by the desk once it is with F&O: F&O and BigCommerce hear."""
        order_id = await self.driver.bigcommerce_order(1)
        state = await self.until(order_id, "sent to F&O", lambda s: s.fulfillment_provider == "fno")
        self.send(
            plan_cancel(state, CancelBody(reason="Customer changed their mind", requested_by="desk"), SOURCE)
        )
        await self.until(order_id, "canceled everywhere", _canceled_everywhere)
        return order_id

    async def edit(self) -> str:
        """An order held for a ship-to outside the US and Canada, fixed by the desk, resumed."""
        order_id = await self.driver.bigcommerce_order(1, country=("Germany", "DE"))
        state = await self.until(
            order_id, "held for validation", lambda s: s.status_reason == "Validation failed"
        )
        fixed = state.ship_to.model_copy(update={"country": "US", "city": "Seattle", "postal_code": "98101"})
        body = EditBody(
            editor="desk", reason="the customer gave a US address", ship_to=Address(**fixed.model_dump())
        )
        self.send(plan_edit(state, body, SOURCE))
        await self.fulfil_in_fno(order_id, lambda s: s.fulfillment_provider == "fno")
        return order_id

    async def return_with_replacement(self, order_id: str) -> str:
        """A completed order's first unit comes back: F&O's return order is received, DOM
        restocks it, F&O credits it, BigCommerce refunds it; the replacement ships."""
        state = await self.until(order_id, "completed", lambda s: s.status == "Completed")
        line = state.lines[0]
        rma = f"RMA-{order_id}-{len(state.returns) + 1}"
        body = ReturnBody(
            rma_id=rma,
            lines={line.line_id: 1},
            reason="arrived damaged",
            replacement=True,
            requested_by="desk",
        )
        self.send(plan_return(state, body, SOURCE, self.handling))
        await self.until(order_id, "F&O's return order", lambda s: _step(s, f"{rma}:create-return-order"))
        returned = await self._return_order(rma)
        await self.driver.call("fno", "POST", f"/_sim/returnorders/{returned}/receive", {"warehouse": "11"})
        done = await self.until(
            order_id, "refunded", lambda s: _return_status(s, rma) is ReturnStatus.REFUNDED
        )
        found = done.return_(rma)
        replacement = found.replacement_order_id if found else None
        if replacement is None:
            raise DriveError(f"{order_id}: return {rma} ordered no replacement")
        await self.fulfil_in_fno(replacement, lambda s: s.fulfillment_provider == "fno")
        self.played["replacement"] = replacement
        return order_id

    async def store_return(self) -> str:
        """A shopper returns a unit of a completed order in BigCommerce: the connector reads
        the store's return, F&O takes the return order, receives and credits it, the store
        refunds it."""
        order_id = await self.driver.bigcommerce_order(1)
        await self.fulfil_in_fno(order_id, lambda s: s.fulfillment_provider == "fno")
        bc_id = order_id.removeprefix(self.driver.world.bigcommerce_prefix)
        await self._until_store_says_shipped(bc_id)
        state = await self.until(order_id, "completed", lambda s: s.status == "Completed")
        item = {
            "reference_id": {"type": "ORDER_PRODUCT", "value": state.lines[0].line_id},
            "quantity": 1,
            "reason_id": 3,  # Not Satisfied with Product
            "preferred_outcome_id": 3,  # Receive Store Credit
        }
        made = await self.driver.call(
            "bigcommerce", "POST", f"/_sim/orders/{bc_id}/returns", {"items": [item], "comment": "too small"}
        )
        rma = f"BC-RMA-{made['id']}"
        await self.until(order_id, f"{rma} from the store", lambda s: s.return_(rma) is not None)
        await self.until(order_id, "F&O's return order", lambda s: _step(s, f"{rma}:create-return-order"))
        returned = await self._return_order(rma)
        await self.driver.call("fno", "POST", f"/_sim/returnorders/{returned}/receive", {"warehouse": "11"})
        await self.until(order_id, "refunded", lambda s: _return_status(s, rma) is ReturnStatus.REFUNDED)
        return order_id

    async def _until_store_says_shipped(self, bc_id: str) -> None:
        """The store takes a return once it says the order shipped (the flow writes it)."""
        deadline = time.monotonic() + self.driver.step_timeout
        while (await self.driver.call("bigcommerce", "GET", f"/_sim/orders/{bc_id}"))["order"][
            "status_id"
        ] not in (2, 10):
            if time.monotonic() > deadline:
                raise DriveError(f"BigCommerce order {bc_id} never read Shipped")
            await asyncio.sleep(0.2)

    async def _return_order(self, rma: str) -> str:
        listing = await self.driver.call("fno", "GET", "/_sim/returnorders")
        for found in listing["returns"]:
            if found["header"].get("RMANumber") == rma:
                return str(found["header"]["ReturnOrderNumber"])
        raise DriveError(f"no return order in F&O for {rma}")

    async def preorder_release(self) -> str:
        """A preorder waits for its launch; the backorder job, run on the launch date,
        has DOM source it and the flow sends it to F&O."""
        order_id = await self.driver.bigcommerce_order(6, products=[(PREORDER_SKU, 1, "499.00")])
        await self.until(order_id, "Preorder hold", lambda s: s.status_reason == "Preorder hold")
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "OMS_LOG_LEVEL": "WARNING",
        }
        job = [sys.executable, "-m", "streams.cli", "backorders", "run", "--as-of", LAUNCH]
        await asyncio.to_thread(subprocess.run, job, env=env, check=True, stdout=subprocess.DEVNULL)
        await self.fulfil_in_fno(order_id, lambda s: s.billing_provider == "fno")
        return order_id

    async def play(self, completed: str) -> dict[str, str]:
        """Every scene, at once; ``completed`` is a journey-1 order to return."""
        scenes = {
            "cancel": self.cancel(),
            "edit": self.edit(),
            "return": self.return_with_replacement(completed),
            "store return": self.store_return(),
            "preorder": self.preorder_release(),
        }
        results = await asyncio.gather(*scenes.values(), return_exceptions=True)
        for name, result in zip(scenes, results, strict=True):
            if isinstance(result, BaseException):
                self.driver.notes[f"desk:{name}"] = str(result)
            else:
                self.played[name] = result
        return self.played


def _reached(reason: str) -> Callable[[OrderState], bool]:
    return lambda s: reason in (s.status_reason, s.status)


def _step(state: OrderState, step: str) -> bool:
    outcome = state.steps.get(step)
    return outcome is not None and outcome.result == "succeeded"


def _return_status(state: OrderState, rma: str) -> ReturnStatus | None:
    found = state.return_(rma)
    return found.status if found else None


def _canceled_everywhere(state: OrderState) -> bool:
    told = [o for s, o in state.steps.items() if s.startswith("cancel-at-")]
    return state.status == "Canceled" and bool(told) and all(o.result == "succeeded" for o in told)
