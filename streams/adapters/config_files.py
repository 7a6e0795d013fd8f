"""Configuration files (YAML) to validated models, with errors that name the file and field.

``config/order-handling.yaml`` holds the order-handling settings and
``config/products.yaml`` the product master data the order writer's engine reads; the
DOM files load through ``services.sourcing_config`` on the same helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from streams.domain.order_handling import OrderHandling
from streams.domain.preorders import ProductCatalog
from streams.settings import REPO_ROOT

DEFAULT_ORDER_HANDLING = REPO_ROOT / "config" / "order-handling.yaml"
DEFAULT_PRODUCTS = REPO_ROOT / "config" / "products.yaml"

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message says where and what."""


def explain(path: Path, exc: ValidationError) -> str:
    rows = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        rows.append(f"{path}: {where}: {error['msg']}")
    return "\n".join(rows)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc


def load_model(model: type[M], path: Path) -> M:
    """``path`` as a ``model``; an empty file gives the model's defaults."""
    try:
        return model.model_validate(read_yaml(path) or {})
    except ValidationError as exc:
        raise ConfigFileError(explain(path, exc)) from exc


def load_order_handling(path: Path = DEFAULT_ORDER_HANDLING) -> OrderHandling:
    return load_model(OrderHandling, path)


def load_products(path: Path = DEFAULT_PRODUCTS) -> ProductCatalog:
    return load_model(ProductCatalog, path)
