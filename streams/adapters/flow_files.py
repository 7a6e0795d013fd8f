"""Flow files (YAML) to validated ``Flow`` models, with errors that point into the file.

``flows/policies.yaml`` holds policies every flow may use; each flow file may add its own.
The flow that comes out carries only the policies it uses, so its content (and its
published version) changes exactly when something it runs changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streams.domain.flows import Flow

SHARED_POLICIES = "policies.yaml"


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on:`` (a step's input events) stays a key, not ``True``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class FlowFileError(ValueError):
    """A flow file that cannot be published; the message says where and what."""


def _node_at(node: yaml.Node, loc: tuple[int | str, ...]) -> yaml.Node:
    """The deepest YAML node on the path ``loc`` (as far as the file has it)."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node = match
    return node


def _load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    text = path.read_text()
    try:
        return yaml.load(text, Loader=_Loader), yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FlowFileError(f"{path}: not valid YAML: {exc}") from exc


def _explain(path: Path, root: yaml.Node | None, exc: ValidationError, offset: tuple[str, ...] = ()) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).endswith("]"))  # drop union tags
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = _node_at(root, offset + loc).start_mark.line + 1 if root is not None else "?"
        lines.append(f"{path}:{line}: {where}: {error['msg']}")
    return "\n".join(lines)


def load_policies(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data, _ = _load_yaml(path)
    policies = (data or {}).get("policies", {})
    if not isinstance(policies, dict):
        raise FlowFileError(f"{path}: 'policies' must be a mapping of name to policy")
    return {name: {"name": name, **body} for name, body in policies.items()}


def load_flow(path: Path, shared: dict[str, Any] | None = None) -> Flow:
    """One flow file, validated; policies from ``shared`` fill in what the file lacks."""
    data, root = _load_yaml(path)
    if not isinstance(data, dict):
        raise FlowFileError(f"{path}:1: a flow file is a mapping with name, steps, ...")
    own = {name: {"name": name, **body} for name, body in (data.get("policies") or {}).items()}
    used = {step.get("policy") for step in data.get("steps") or [] if isinstance(step, dict)}
    available = {**(shared or {}), **own}
    data = {**data, "policies": {n: p for n, p in available.items() if n in used}}
    try:
        return Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowFileError(_explain(path, root, exc)) from exc


def flow_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.name != SHARED_POLICIES)


def load_flows(folder: Path) -> list[Flow]:
    """Every ``*.yaml`` flow in ``folder`` (``policies.yaml`` being the shared policies)."""
    if not folder.is_dir():
        raise FlowFileError(f"{folder}: no such folder of flow files")
    shared = load_policies(folder / SHARED_POLICIES)
    flows = [load_flow(p, shared) for p in flow_paths(folder)]
    names = [f.name for f in flows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FlowFileError(f"{folder}: several files define flows named {dupes}")
    return flows


def content_hash(flow: Flow) -> str:
    """What makes a version: the flow's content without its version number."""
    body = flow.model_dump(mode="json", exclude={"version"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
