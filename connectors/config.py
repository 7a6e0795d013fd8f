"""Every connector's settings: one pydantic-settings class per provider, in the process shell.

A connector's own settings are read from ``<PROVIDER>_<NAME>`` (``FNO_URL``,
``FLEXE_OWNER_ID``...), the shared ones from ``OMS_*`` (``OMS_HTTP_TRIES``,
``KAFKA_BOOTSTRAP_SERVERS``...), flags on top (``oms connector fno --help`` lists them).
Secrets are ``SecretStr`` fields, never flags: ``NAME`` or ``NAME_FILE`` (a file that holds
it). The connector code receives them as :class:`Secret`, whose ``repr`` hides the value;
the shell's log formatter masks every secret value in every line as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.http import RetryPolicy
from streams.shell.settings import Settings, env


class Secret:
    """A credential. Print it, log it, put it in an f-string: you get ``***``."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConnectorSettings(Settings):
    """What every connector has: its consumer group, webhook listener and HTTP policy."""

    provider: ClassVar[str] = ""
    title: ClassVar[str] = ""
    default_port: ClassVar[int] = 9100

    group_id: str | None = Field(
        None, description="consumer group (default <prefix>oms-connector-<provider>)"
    )
    instance_id: str = Field(
        "1", description="stable per process of this connector: its static group membership"
    )
    host: str = Field(
        "127.0.0.1", description="address the webhook server binds (also /metrics /health /ready)"
    )
    port: int | None = Field(
        None, ge=0, le=65535, description="webhook server port (default: the provider's own)"
    )
    max_body_bytes: int = Field(
        256 * 1024,
        ge=1024,
        validation_alias=env("OMS_WEBHOOK_MAX_BYTES"),
        description="larger webhooks get 413",
    )
    in_flight: int = Field(
        16,
        ge=1,
        le=1024,
        validation_alias=env("OMS_CONNECTOR_IN_FLIGHT"),
        description="provider actions performed at once; one order's actions always run in order",
    )
    http_tries: int = Field(
        4,
        ge=1,
        le=20,
        validation_alias=env("OMS_HTTP_TRIES"),
        description="tries per call, the first included",
    )
    http_timeout: float = Field(
        10.0, gt=0, validation_alias=env("OMS_HTTP_TIMEOUT"), description="seconds per try"
    )
    http_backoff: float = Field(
        0.5,
        ge=0,
        validation_alias=env("OMS_HTTP_BACKOFF"),
        description="base of the jittered exponential backoff, s",
    )

    def secret(self, field: str) -> Secret | None:
        """A secret field as the connector code takes it (``None`` when not set)."""
        value = getattr(self, field)
        if not isinstance(value, SecretStr) or not value.get_secret_value():
            return None
        return Secret(f"{self.provider.upper()}_{field.upper()}", value.get_secret_value())

    def required_secret(self, field: str) -> Secret:
        found = self.secret(field)
        if found is None:  # the validators below make this unreachable for the required ones
            raise ValueError(f"set {self.provider.upper()}_{field.upper()}")
        return found


def _missing(cls: type[ConnectorSettings], *names: str) -> str:
    variable = f"{cls.provider.upper()}_{names[0].upper()}"
    return f"set {variable} (or {variable}_FILE, a file that holds it)"


class BigCommerceSettings(ConnectorSettings):
    """``oms connector bigcommerce``: orders in (signed webhooks, or polling), status written back."""

    model_config = SettingsConfigDict(env_prefix="BIGCOMMERCE_")
    process: ClassVar[str] = "connector-bigcommerce"
    title: ClassVar[str] = "BigCommerce"
    provider: ClassVar[str] = "bigcommerce"
    default_port: ClassVar[int] = 9101

    api_url: str = Field("https://api.bigcommerce.com", description="API host")
    store_hash: str = Field(description="the store hash in every API path (required)")
    order_id_prefix: str = Field("BC-", description="our order id is this + the BigCommerce id")
    default_attributes: str = Field(
        "",
        description="key=value;... every order gets unless its staff notes say otherwise "
        "(e.g. fulfillment=fno)",
    )
    poll: bool = Field(False, description="also take orders in by polling GET /v2/orders")
    poll_interval: float = Field(30.0, gt=0, description="seconds between polls")
    poll_since: str | None = Field(
        None, description="the first poll's min_date_modified (default: every order)"
    )
    returns_poll_interval: float = Field(
        30.0,
        ge=0,
        description="seconds between reads of the store's return requests (GET /v3/orders/returns; "
        "BigCommerce has no webhook for them); 0: never",
    )
    access_token: SecretStr | None = Field(None, description="the API account's X-Auth-Token")
    client_secret: SecretStr | None = Field(
        None, description="verifies webhook signatures (needed unless --poll)"
    )

    @model_validator(mode="after")
    def _credentials(self) -> BigCommerceSettings:
        if self.access_token is None:
            raise ValueError(_missing(type(self), "access_token"))
        if self.client_secret is None and not self.poll:
            raise ValueError(_missing(type(self), "client_secret") + ", or take orders in with --poll")
        return self


class FnoSettings(ConnectorSettings):
    """``oms connector fno``: fulfillment and billing out; business events and dual-write in."""

    model_config = SettingsConfigDict(env_prefix="FNO_")
    process: ClassVar[str] = "connector-fno"
    title: ClassVar[str] = "Dynamics 365 F&O"
    provider: ClassVar[str] = "fno"
    default_port: ClassVar[int] = 9102

    url: str = Field(description="the environment, e.g. https://contoso.operations.dynamics.com (required)")
    tenant: str | None = Field(None, description="Entra tenant (or --token-url)")
    token_url: str | None = Field(
        None,
        description="token endpoint (default https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token)",
    )
    client_id: str = Field(description="the app registration (required)")
    lines_collection: str = Field("SalesOrderLines", description="the sales order lines entity set")
    status_field: str = Field(
        "IOMOrderStatus",
        description="the header field that receives the status of F&O orders: an extension field "
        "(CustomerRequisitionNumber is the customer's requisition; see connectors/fno.py)",
    )
    order_id_prefix: str = Field("FNO-", description="F&O orders become <prefix><COMPANY>-<number>")
    origin_attributes: str | None = Field(None, description="sales origin code -> order attributes")
    client_secret: SecretStr | None = Field(None, description="the app registration's client secret")
    webhook_key: SecretStr | None = Field(None, description="optional: webhooks must then call ?key=<it>")

    @model_validator(mode="after")
    def _credentials(self) -> FnoSettings:
        if not self.token_url and not self.tenant:
            raise ValueError("set --tenant (FNO_TENANT) or --token-url (FNO_TOKEN_URL)")
        if self.client_secret is None:
            raise ValueError(_missing(type(self), "client_secret"))
        return self

    @property
    def token_endpoint(self) -> str:
        return self.token_url or f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/token"


class FlexeSettings(ConnectorSettings):
    """``oms connector flexe``: orders out for fulfillment; shipments in."""

    model_config = SettingsConfigDict(env_prefix="FLEXE_")
    process: ClassVar[str] = "connector-flexe"
    title: ClassVar[str] = "Flexe"
    provider: ClassVar[str] = "flexe"
    default_port: ClassVar[int] = 9103

    api_url: str = Field("https://api.flexe.com", description="API base URL")
    owner_id: str = Field(description="the shipper account (required)")
    shipping_method: str = Field("ground", description="for every outbound order")
    api_token: SecretStr | None = Field(None, description="the API token")
    webhook_key: SecretStr | None = Field(None, description="optional: webhooks must then call ?key=<it>")

    @model_validator(mode="after")
    def _credentials(self) -> FlexeSettings:
        if self.api_token is None:
            raise ValueError(_missing(type(self), "api_token"))
        return self


class SapSettings(ConnectorSettings):
    """``oms connector sap``: sales orders for billing out; billing documents in."""

    model_config = SettingsConfigDict(env_prefix="SAP_")
    process: ClassVar[str] = "connector-sap"
    title: ClassVar[str] = "SAP S/4HANA"
    provider: ClassVar[str] = "sap"
    default_port: ClassVar[int] = 9104

    api_url: str = Field(description="the S/4HANA host (required)")
    user: str | None = Field(None, description="communication user (with SAP_PASSWORD)")
    sales_organization: str = Field("1710", description="of every sales order")
    distribution_channel: str = Field("10", description="of every sales order")
    division: str = Field("00", description="of every sales order")
    order_type: str = Field("OR", description="of every sales order")
    sold_to_party: str = Field("17100001", description="the SAP customer of every order")
    password: SecretStr | None = Field(None, description="the communication user's password (with --user)")
    bearer_token: SecretStr | None = Field(None, description="an OAuth access token (instead of --user)")
    webhook_key: SecretStr | None = Field(None, description="optional: events must then call ?key=<it>")

    @model_validator(mode="after")
    def _credentials(self) -> SapSettings:
        if self.bearer_token is None and (not self.user or self.password is None):
            raise ValueError(
                "set --user (SAP_USER) and SAP_PASSWORD (or SAP_PASSWORD_FILE), or SAP_BEARER_TOKEN"
            )
        return self


@dataclass(frozen=True)
class RuntimeConfig:
    """Where a connector runs: its broker, consumer group, state, web listener, HTTP policy."""

    provider: str
    settings: ConnectorSettings
    group_id: str
    instance_id: str
    state_dir: Path
    listen_host: str
    listen_port: int
    max_body_bytes: int
    in_flight: int
    http: RetryPolicy
    log_level: str


def runtime_config(settings: ConnectorSettings) -> RuntimeConfig:
    provider, prefix = settings.provider, settings.topic_prefix
    return RuntimeConfig(
        provider=provider,
        settings=settings,
        group_id=settings.group_id or f"{prefix}oms-connector-{provider}",
        instance_id=f"{provider}-{settings.instance_id}",
        # two instances on one host must not share a RocksDB (it is locked by its process)
        state_dir=settings.state_dir / "connectors" / f"{prefix}{provider}-{settings.instance_id}",
        listen_host=settings.host,
        listen_port=settings.default_port if settings.port is None else settings.port,
        max_body_bytes=settings.max_body_bytes,
        in_flight=settings.in_flight,
        http=RetryPolicy(
            tries=settings.http_tries, timeout=settings.http_timeout, backoff=settings.http_backoff
        ),
        log_level=settings.log_level.value,
    )
