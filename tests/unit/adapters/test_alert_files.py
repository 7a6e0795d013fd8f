"""Alert rule files: the shipped one loads; one with errors is refused with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.adapters.alert_files import DEFAULT_RULES, AlertRulesError, load_alert_rules


def test_the_shipped_rules_load() -> None:
    rules = load_alert_rules(DEFAULT_RULES)
    assert {r.kind for r in rules.rules} == {
        "not_sent_to_fulfillment",
        "not_shipped",
        "on_hold_longer_than",
        "provider_failure_rate",
        "dead_letters_present",
    }


def test_rules_with_errors_are_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n"
        "  - name: late\n"
        "    kind: not_shipped\n"
        "    hours_before_delivery: -3\n"
        "  - name: failing\n"
        "    kind: provider_failure_rate\n"
        "    percent: 150\n"
        "  - name: odd\n"
        "    kind: nonsense\n"
    )

    with pytest.raises(AlertRulesError) as refused:
        load_alert_rules(path)

    lines = str(refused.value).splitlines()
    assert lines[0] == f"{path}:4: rules.0.hours_before_delivery: Input should be greater than 0"
    assert lines[1] == f"{path}:7: rules.1.percent: Input should be less than or equal to 100"
    assert lines[2].startswith(f"{path}:8: rules.2: Input tag 'nonsense'")


def test_two_rules_of_one_name_and_broken_yaml_are_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text(
        "rules:\n  - {name: a, kind: dead_letters_present}\n  - {name: a, kind: dead_letters_present}\n"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: [unclosed\n")

    with pytest.raises(AlertRulesError, match="repeated: \\['a'\\]"):
        load_alert_rules(twice)
    with pytest.raises(AlertRulesError, match=f"{broken}:2: not valid YAML"):
        load_alert_rules(broken)
