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
from pydantic import TypeAdapter, ValidationError

from streams.domain.flows import Flow, Policy

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


def _is_union_tag(key: int | str, node: yaml.Node) -> bool:
    """A union member's name (``AllOf``), or a discriminator's value: the ``kind: x`` of
    the mapping itself (an alert rule's)."""
    if not isinstance(key, str):
        return False
    if key[:1].isupper() or "[" in key:
        return True
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(v, yaml.ScalarNode) and v.value == key for _, v in node.value
    )


def _group(parts: list[str]) -> str:
    """Errors compete for "deepest" within one item: a top-level key, or one list entry."""
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1].isdigit() else (parts[0] if parts else "")


def _locate(node: yaml.Node, loc: tuple[int | str, ...]) -> tuple[yaml.Node, list[str], int]:
    """The deepest YAML node on the path ``loc``, and the path as the file spells it.

    Pydantic puts the names of union members (``AllOf``, ``ValidationPolicy``...) into
    error locations; the file has no such keys, so they are skipped.
    """
    path: list[str] = []
    depth = 0
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            if not _is_union_tag(key, node):
                path.append(str(key))  # a key the file lacks (e.g. a missing field)
            continue
        path.append(str(key))
        depth += 1
        node = match
    return node, path, depth


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    text = path.read_text()
    try:
        return yaml.load(text, Loader=_Loader), yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark  # where the broken construct starts
        line = mark.line + 1 if mark is not None else 1
        raise FlowFileError(f"{path}:{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise FlowFileError(f"{path}:1: not valid YAML: {exc}") from exc


def explain(path: Path, root: yaml.Node | None, exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """One line per error, ``file:line: field.path: message``.

    A value that fits no member of a union (a filter condition, a policy) fails in every
    member; only the errors that reach deepest into the file say what the author meant.
    """
    located = []
    for error in exc.errors():
        if root is None:
            parts, depth, line = [str(p) for p in error["loc"]], 0, 1
        else:
            node, parts, depth = _locate(root, prefix + tuple(error["loc"]))
            parts, line = parts[len(prefix) :], node.start_mark.line + 1
        located.append((parts, depth, line, error["msg"]))
    deepest: dict[str, int] = {}
    for parts, depth, _, _ in located:
        deepest[_group(parts)] = max(depth, deepest.get(_group(parts), 0))
    lines: list[str] = []
    for parts, depth, line, msg in located:
        if depth < deepest[_group(parts)]:
            continue
        text = f"{path}:{line}: {'.'.join(parts) or '(top level)'}: {msg}"
        if text not in lines:
            lines.append(text)
    return "\n".join(lines)


def _policy_bodies(path: Path, policies: Any) -> dict[str, Any]:
    if policies is None:
        return {}
    if not isinstance(policies, dict):
        raise FlowFileError(f"{path}: 'policies' must be a mapping of name to policy")
    out = {}
    for name, body in policies.items():
        if not isinstance(body, dict):
            raise FlowFileError(
                f"{path}: policy '{name}' must be a mapping (scope, rules... or header, lines)"
            )
        out[str(name)] = {"name": str(name), **body}
    return out


_POLICY: TypeAdapter[Policy] = TypeAdapter(Policy)


def load_policies(path: Path) -> dict[str, Any]:
    """The shared policies, each validated here, so an error points into this file."""
    if not path.exists():
        return {}
    data, root = load_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise FlowFileError(f"{path}:1: expected a mapping with 'policies'")
    policies = _policy_bodies(path, (data or {}).get("policies"))
    for name, body in policies.items():
        try:
            _POLICY.validate_python(body)
        except ValidationError as exc:
            raise FlowFileError(explain(path, root, exc, ("policies", name))) from exc
    return policies


def load_flow(path: Path, shared: dict[str, Any] | None = None) -> Flow:
    """One flow file, validated; policies from ``shared`` fill in what the file lacks."""
    data, root = load_yaml(path)
    if not isinstance(data, dict):
        raise FlowFileError(f"{path}:1: a flow file is a mapping with name, steps, ...")
    own = _policy_bodies(path, data.get("policies"))
    steps: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    used = {s.get("policy") for s in steps if isinstance(s, dict) and isinstance(s.get("policy"), str)}
    available = {**(shared or {}), **own}
    data = {**data, "policies": {n: p for n, p in available.items() if n in used}}
    try:
        return Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowFileError(explain(path, root, exc)) from exc


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
