"""Product master data for preorders, and which lines wait for a launch. Pure.

IOM puts the line of a product that is *Pre-order eligible* and has a *Launch date* on
*Preorder hold* until that date; the background job then sources it, and a preorder that
finds no stock moves to *Backorder hold*. Products live in ``config/products.yaml``.
Here the hold is taken when the flow reaches fulfillment optimization (DOM): releasing a
preorder is sourcing it, which only a flow with DOM does.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import model_validator

from streams.domain.order import OrderState
from streams.domain.transitions import CANCELED
from streams.domain.values import LineLaunch, Value


class Product(Value):
    sku: str
    name: str = ""
    preorder: bool = False
    launch_date: date | None = None

    @model_validator(mode="after")
    def _launch(self) -> Product:
        if self.preorder and self.launch_date is None:
            raise ValueError(f"{self.sku}: a preorder product needs a launch_date")
        return self


class ProductCatalog(Value):
    products: tuple[Product, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ProductCatalog:
        skus = [p.sku for p in self.products]
        dupes = sorted({s for s in skus if skus.count(s) > 1})
        if dupes:
            raise ValueError(f"products listed twice: {dupes}")
        return self

    def get(self, sku: str) -> Product | None:
        return next((p for p in self.products if p.sku == sku), None)


NO_PRODUCTS = ProductCatalog()


def preorder_launches(state: OrderState, catalog: ProductCatalog, at: datetime) -> list[LineLaunch]:
    """The open lines whose product launches after ``at``: they wait in Preorder hold."""
    launches = []
    for line in state.lines:
        product = catalog.get(line.sku)
        if line.parked or state.line_status(line) == CANCELED or product is None or not product.preorder:
            continue
        if product.launch_date is not None and product.launch_date > at.date():
            launches.append(LineLaunch(line_id=line.line_id, launch_date=product.launch_date))
    return launches
