"""Configuration from the environment, with defaults that run on a laptop.

Every process reads the broker address from ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parents[1]


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kafka-iom"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    """Prepended to every topic name: lets tests and tenants share one broker."""
    partitions: int = Field(default=6, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    """Replicas per new topic; ``None``: as many as the cluster has brokers, at most three."""
    schema_registry_url: str | None = None
    """When set, records use the Confluent wire format; otherwise Avro single-object encoding."""
    schemas_dir: Path = REPO_ROOT / "schemas" / "avro"
    state_dir: Path = REPO_ROOT / ".oms" / "state"
    """Where RocksDB stores live (a cache: always rebuildable from the event topics)."""
    kafka_home: Path = Field(default_factory=_default_cache)
    """Where the fetched broker jars and the local broker's data and logs live."""
    transitions_file: Path | None = None
    """A YAML status transition table replacing the built-in one."""
    order_handling_file: Path = REPO_ROOT / "config" / "order-handling.yaml"
    """Order-handling settings: backorders, cancellation SLA, replacement policy, return window."""
    products_file: Path = REPO_ROOT / "config" / "products.yaml"
    """Product master data: which SKUs are preorders, and their launch dates."""
    instance_id: str = "writer-1"
    """Stable per writer process: its transactional id, so a restarted writer fences its zombie."""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        mapping = {
            "KAFKA_BOOTSTRAP_SERVERS": "bootstrap_servers",
            "OMS_TOPIC_PREFIX": "topic_prefix",
            "OMS_PARTITIONS": "partitions",
            "OMS_REPLICATION_FACTOR": "replication_factor",
            "OMS_SCHEMA_REGISTRY_URL": "schema_registry_url",
            "OMS_SCHEMAS_DIR": "schemas_dir",
            "OMS_STATE_DIR": "state_dir",
            "OMS_KAFKA_HOME": "kafka_home",
            "OMS_TRANSITIONS_FILE": "transitions_file",
            "OMS_ORDER_HANDLING_FILE": "order_handling_file",
            "OMS_PRODUCTS_FILE": "products_file",
            "OMS_INSTANCE_ID": "instance_id",
        }
        for var, field in mapping.items():
            if env.get(var):
                values[field] = env[var]
        values.update(overrides)
        return cls.model_validate(values)
