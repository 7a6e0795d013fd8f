"""A minimal Confluent Schema Registry client: register a subject's schema, fetch by id.

Only what the codec needs, over the registry's documented REST API; ids are cached so
each schema costs one request per process.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class SchemaRegistryError(RuntimeError):
    pass


class SchemaRegistryClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._schemas: dict[int, str] = {}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SchemaRegistryError(
                f"{method} {self.url}{path}: HTTP {exc.code} {exc.read()[:200]!r}"
            ) from exc
        except OSError as exc:
            raise SchemaRegistryError(f"{method} {self.url}{path}: {exc}") from exc

    def register(self, subject: str, schema: str) -> int:
        result = self._call("POST", f"/subjects/{subject}/versions", {"schema": schema})
        schema_id = int(result["id"])
        self._schemas[schema_id] = schema
        return schema_id

    def schema(self, schema_id: int) -> str:
        if schema_id not in self._schemas:
            self._schemas[schema_id] = self._call("GET", f"/schemas/ids/{schema_id}")["schema"]
        return self._schemas[schema_id]
