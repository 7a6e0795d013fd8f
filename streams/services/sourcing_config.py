"""DOM configuration files: sources and strategies (``config/dom.yaml``) and opening stock
(``config/inventory.yaml``), validated on load with errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.adapters.config_files import ConfigFileError, explain, read_yaml
from streams.domain.sourcing import DomConfig
from streams.settings import REPO_ROOT

__all__ = ["ConfigFileError", "load_dom_config", "load_opening_stock"]

DEFAULT_DOM_CONFIG = REPO_ROOT / "config" / "dom.yaml"
DEFAULT_OPENING_STOCK = REPO_ROOT / "config" / "inventory.yaml"


def load_dom_config(path: Path = DEFAULT_DOM_CONFIG) -> DomConfig:
    try:
        return DomConfig.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigFileError(explain(path, exc)) from exc


class OpeningStock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    on_hand: dict[str, dict[str, int]] = Field(default_factory=dict)
    """sku -> source id -> units."""

    def entries(self) -> list[tuple[str, str, int]]:
        return [
            (sku, source, units)
            for sku, by_source in self.on_hand.items()
            for source, units in by_source.items()
        ]


def load_opening_stock(path: Path = DEFAULT_OPENING_STOCK, config: DomConfig | None = None) -> OpeningStock:
    """The stock file; with ``config``, every source it names must be a configured source."""
    try:
        stock = OpeningStock.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigFileError(explain(path, exc)) from exc
    if config is not None:
        known = {s.id for s in config.sources}
        unknown = sorted({source for _, source, _ in stock.entries()} - known)
        if unknown:
            raise ConfigFileError(
                f"{path}: unknown sources {unknown}; the DOM configuration has {sorted(known)}"
            )
    negative = [f"{sku}@{source}" for sku, source, units in stock.entries() if units < 0]
    if negative:
        raise ConfigFileError(f"{path}: on-hand cannot be negative: {negative}")
    return stock
