"""Alert rule files (YAML) to validated ``AlertRules``, with errors that point into the file.

    default_promise_hours: 72
    rules:
      - name: not-shipped-24h
        kind: not_shipped
        hours_before_delivery: 24

The same loader as the flow files (``flow_files``): a rule with errors is refused with
``file:line: field.path: message``, nothing is half-loaded.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from streams.adapters.flow_files import FlowFileError, explain, load_yaml
from streams.domain.alerts import AlertRules
from streams.settings import REPO_ROOT

DEFAULT_RULES = REPO_ROOT / "config" / "alerts.yaml"


class AlertRulesError(FlowFileError):
    """An alert rule file that cannot be used; the message says where and what."""


def load_alert_rules(path: Path) -> AlertRules:
    if not path.exists():
        raise AlertRulesError(f"{path}: no such alert rule file")
    try:
        data, root = load_yaml(path)
    except FlowFileError as exc:
        raise AlertRulesError(str(exc)) from exc
    if data is None:
        return AlertRules()
    if not isinstance(data, dict):
        raise AlertRulesError(f"{path}:1: an alert rule file is a mapping with 'rules'")
    try:
        return AlertRules.model_validate(data)
    except ValidationError as exc:
        raise AlertRulesError(explain(path, root, exc)) from exc
