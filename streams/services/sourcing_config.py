"""DOM configuration files: sources and strategies (``config/dom.yaml``) and opening stock
(``config/inventory.yaml``), validated on load with errors that name the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.domain.sourcing import DomConfig
from streams.settings import REPO_ROOT

DEFAULT_DOM_CONFIG = REPO_ROOT / "config" / "dom.yaml"
DEFAULT_OPENING_STOCK = REPO_ROOT / "config" / "inventory.yaml"


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message says where and what."""


def _explain(path: Path, exc: ValidationError) -> str:
    rows = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        rows.append(f"{path}: {where}: {error['msg']}")
    return "\n".join(rows)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc


def load_dom_config(path: Path = DEFAULT_DOM_CONFIG) -> DomConfig:
    try:
        return DomConfig.model_validate(_read(path))
    except ValidationError as exc:
        raise ConfigFileError(_explain(path, exc)) from exc


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
        stock = OpeningStock.model_validate(_read(path))
    except ValidationError as exc:
        raise ConfigFileError(_explain(path, exc)) from exc
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
