"""Every process's settings: one pydantic-settings class per process kind.

Each value comes, strongest first, from a command-line flag (``--bootstrap-servers``),
the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``OMS_TOPIC_PREFIX``, ...; a field's
variable is named in its ``--help``), or the default, which runs on a laptop. A secret
is a ``SecretStr`` field: never a flag (anyone can list a process's arguments), read
from ``NAME`` or, when ``NAME_FILE`` is set, from that file (Docker and Kubernetes
secrets); its ``repr`` and ``str`` are ``**********``.

:class:`Settings` is what every process shares (the broker, the topics, the state
folder, logging). :class:`ServiceSettings` adds the ``/metrics`` ``/health`` ``/ready``
listener of the threaded services; each process kind subclasses one of them. The CLI
derives its flags from these classes (``streams.shell.commands``), so a new field is a
new documented flag and variable at once.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(StrEnum):
    AUTO = "auto"
    """Text when stderr is a terminal, JSON lines otherwise (files, containers)."""
    TEXT = "text"
    JSON = "json"


class SettingsFileError(ValueError):
    """A ``NAME_FILE`` variable names a file that cannot be read."""


def _default_kafka_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kafka-iom"


def env_names(cls: type[BaseSettings], name: str) -> list[str]:
    """The environment variables a field is read from, strongest first."""
    field = cls.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [a for a in alias.choices if isinstance(a, str) and a.isupper()]
    return [f"{cls.model_config.get('env_prefix', '')}{name}".upper()]


def is_secret(field: FieldInfo) -> bool:
    return field.annotation in (SecretStr, SecretStr | None)


class _SecretFiles(PydanticBaseSettingsSource):
    """``NAME_FILE`` for every secret field: the file's content, trailing newline dropped."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            if not is_secret(field):
                continue
            for variable in env_names(self.settings_cls, name):
                path = os.environ.get(f"{variable}_FILE", "").strip()
                if path:  # keyed as the environment source keys it, so that this one wins
                    key = variable if field.validation_alias is not None else name
                    found[key] = _read_secret_file(f"{variable}_FILE", path)
                    break
        return found


def _read_secret_file(variable: str, path: str) -> str:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise SettingsFileError(f"{variable} names {path!r}, which cannot be read: {exc.strerror}") from exc


def env(*names: str) -> AliasChoices:
    """Read a field from these variables (the first set wins); flags still use the field name."""
    return AliasChoices(*names)


class ProcessSettings(BaseSettings):
    """What every process has, with Kafka or without (a simulator): its kind, its logging."""

    model_config = SettingsConfigDict(
        env_prefix="OMS_", frozen=True, populate_by_name=True, extra="ignore", env_ignore_empty=True
    )
    """A process's own fields are read from ``env_prefix`` + NAME (``OMS_BATCH_SIZE``; a
    connector's ``FNO_URL``); the shared ones below always from ``OMS_*`` (and
    ``KAFKA_BOOTSTRAP_SERVERS``), whatever the subclass's prefix."""

    process: ClassVar[str] = "oms"
    """The process kind, on every log line (``process``) and in the metrics' job."""

    log_level: LogLevel = Field(
        LogLevel.INFO, description="the least severe log lines shown", validation_alias=env("OMS_LOG_LEVEL")
    )
    log_format: LogFormat = Field(
        LogFormat.AUTO,
        description="text, or json lines (one jq filter follows an order); auto: text on a terminal",
        validation_alias=env("OMS_LOG_FORMAT"),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init), then ``NAME_FILE`` secrets, then the environment."""
        return init_settings, _SecretFiles(settings_cls), env_settings

    def secrets(self) -> list[str]:
        """Every secret value this process holds: the log formatter masks them."""
        values = (getattr(self, n) for n, f in type(self).model_fields.items() if is_secret(f))
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]


class Settings(ProcessSettings):
    """What every process of the OMS shares: the cluster, the topics, the state folder."""

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=env("KAFKA_BOOTSTRAP_SERVERS"), description="the Kafka brokers"
    )
    topic_prefix: str = Field(
        "",
        description="prepended to every topic name: tenants and tests share a broker",
        validation_alias=env("OMS_TOPIC_PREFIX"),
    )
    partitions: int = Field(
        6,
        ge=1,
        le=10_000,
        description="partitions of every order topic",
        validation_alias=env("OMS_PARTITIONS"),
    )
    replication_factor: int | None = Field(
        None,
        ge=1,
        le=16,
        description="replicas of every topic this creates (default: as many as the cluster has "
        "brokers, at most three; min.insync.replicas 2 from three on)",
        validation_alias=env("OMS_REPLICATION_FACTOR"),
    )
    schema_registry_url: str | None = Field(
        None,
        description="a Schema Registry: records then use the Confluent wire format",
        validation_alias=env("OMS_SCHEMA_REGISTRY_URL"),
    )
    schemas_dir: Path = Field(
        REPO_ROOT / "schemas" / "avro",
        description="the Avro schemas (.avsc)",
        validation_alias=env("OMS_SCHEMAS_DIR"),
    )
    state_dir: Path = Field(
        REPO_ROOT / ".oms" / "state",
        description="local stores (RocksDB caches of the topics, rebuildable); it remembers the "
        "cluster and topic prefix it belongs to",
        validation_alias=env("OMS_STATE_DIR"),
    )
    kafka_home: Path = Field(
        default_factory=_default_kafka_home,
        description="the local broker's jars, data and logs",
        validation_alias=env("OMS_KAFKA_HOME"),
    )
    transitions_file: Path | None = Field(
        None,
        description="a YAML status transition table replacing the built-in one",
        validation_alias=env("OMS_TRANSITIONS_FILE"),
    )
    order_handling_file: Path = Field(
        REPO_ROOT / "config" / "order-handling.yaml",
        description="order-handling settings: backorders, cancellation SLA, replacement, return window",
        validation_alias=env("OMS_ORDER_HANDLING_FILE"),
    )
    products_file: Path = Field(
        REPO_ROOT / "config" / "products.yaml",
        description="product master data: which SKUs are preorders, and their launch dates",
        validation_alias=env("OMS_PRODUCTS_FILE"),
    )
    state_rebuild: bool = Field(
        False,
        description="when the state folder belongs to another cluster or prefix, clear it",
        validation_alias=env("OMS_STATE_REBUILD"),
    )
    instance_id: str = Field(
        "writer-1",
        description="stable per process: a writer's transactional id (a restart fences its zombie)",
        validation_alias=env("OMS_INSTANCE_ID"),
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The environment with ``overrides`` on top (kept for the callers that predate the shell)."""
        return cls(**overrides)


class ServiceSettings(Settings):
    """A threaded long-running service: it serves ``/metrics``, ``/health`` and ``/ready``."""

    default_metrics_port: ClassVar[int] = 9300

    metrics_host: str = Field("127.0.0.1", description="address of the /metrics, /health, /ready listener")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="its port (0: any free one; default: the process kind's own)"
    )

    @property
    def health_port(self) -> int:
        return self.default_metrics_port if self.metrics_port is None else self.metrics_port


CONFIG_DIR = REPO_ROOT / "config"


class WriterSettings(ServiceSettings):
    """``oms writer``: the order writer."""

    process: ClassVar[str] = "order-writer"
    default_metrics_port: ClassVar[int] = 9301

    batch_size: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="commands per transaction at most: a batch is handed on as soon as one "
        "command is there, so this only bounds a backlog's transactions (fewer commits)",
    )


class InventoryWriterSettings(WriterSettings):
    """``oms inventory-writer``: the inventory writer."""

    process: ClassVar[str] = "inventory-writer"
    default_metrics_port: ClassVar[int] = 9302


class DomSettings(ServiceSettings):
    """``oms dom``: fulfillment optimization (the DOM saga)."""

    process: ClassVar[str] = "dom"
    default_metrics_port: ClassVar[int] = 9303

    config: Path = Field(
        CONFIG_DIR / "dom.yaml", validation_alias=env("OMS_DOM_CONFIG"), description="sources and strategies"
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="requests per poll")


class BackorderSettings(ServiceSettings):
    """``oms backorders run``: the backorder job."""

    process: ClassVar[str] = "backorders"
    default_metrics_port: ClassVar[int] = 9304

    config: Path = Field(
        CONFIG_DIR / "dom.yaml", validation_alias=env("OMS_DOM_CONFIG"), description="sources (safety stock)"
    )
    every: float | None = Field(
        None,
        gt=0,
        validation_alias=env("OMS_BACKORDERS_EVERY"),
        description="seconds between runs (default: run once)",
    )


class ApiSettings(Settings):
    """``oms api``: the read side (projection, query API, dashboard); /metrics on its own port."""

    process: ClassVar[str] = "api"

    host: str = Field("127.0.0.1", validation_alias=env("OMS_API_HOST"), description="address to listen on")
    port: int = Field(
        8080, ge=0, le=65535, validation_alias=env("OMS_API_PORT"), description="port to listen on"
    )
    name: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_.-]+$",
        validation_alias=env("OMS_PROJECTION_NAME"),
        description="the projection's name: its store (STATE_DIR/projection-NAME) and consumer group",
    )
    shards: int = Field(
        1,
        ge=1,
        le=64,
        validation_alias=env("OMS_PROJECTION_SHARDS"),
        description="shards of the partitions, each its own store (STATE_DIR/projection-NAME-shards/); "
        "a rebuild, or a start far behind, folds them in a process each",
    )
    api_token: SecretStr | None = Field(
        None,
        validation_alias=env("OMS_API_TOKEN"),
        description="when set, data routes need this bearer token",
    )
    alert_rules: Path = Field(
        REPO_ROOT / "config" / "alerts.yaml",
        validation_alias=env("OMS_ALERT_RULES"),
        description="the alert rules file (YAML)",
    )
    alert_webhook_url: str | None = Field(
        None,
        validation_alias=env("OMS_ALERT_WEBHOOK_URL"),
        description="where alert changes are POSTed, signed as Standard Webhooks say (none: not sent)",
    )
    alert_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=env("OMS_ALERT_WEBHOOK_SECRET"),
        description="the webhook's signing secret (whsec_<base64>); needed with the URL",
    )
