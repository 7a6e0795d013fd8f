"""Flow files: the shipped folder loads, a broken file is refused with ``file:line: field:
message``, ``on:`` stays a key, and a flow's content hash follows what the flow uses."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from streams.adapters.flow_files import (
    FlowFileError,
    content_hash,
    load_flow,
    load_flows,
    load_policies,
)
from streams.domain.policies import ValidationPolicy
from streams.settings import REPO_ROOT

FLOWS = REPO_ROOT / "flows"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def refusal(path: Path, shared: dict[str, object] | None = None) -> str:
    with pytest.raises(FlowFileError) as caught:
        load_flow(path, shared)
    return str(caught.value)


MINIMAL = """
    name: f
    steps:
      - id: send
        on: [New order]
        action: send_to_fulfillment
        provider: flexe
"""


# -- the shipped folder -------------------------------------------------------------------------


def test_the_shipped_flows_load_and_carry_only_the_policies_they_use() -> None:
    flows = {f.name: f for f in load_flows(FLOWS)}

    assert len(flows) == 7  # six journeys and the return flow
    assert flows["returns"].kind == "return"
    validation = {"order-header-validation", "order-line-validation"}
    assert set(flows["bigcommerce-fno"].policies) == validation | {"ecommerce-assignment"}
    assert set(flows["bigcommerce-dom-fno"].policies) == validation | {"ecommerce-company-and-site"}
    assert set(flows["fno-fno"].policies) == validation
    assert all(f.version == 0 for f in flows.values())  # drafts until published


def test_on_stays_a_key_and_yes_no_stay_words() -> None:
    flows = {f.name: f for f in load_flows(FLOWS)}
    j1 = flows["bigcommerce-fno"]

    assert j1.step("validate-header").on == ("New order",)
    assert j1.step("send-to-fno").on == ("assign-data succeeded",)
    assert j1.step("tell-bigcommerce-shipped").critical is False


def test_yaml_1_1_booleans_are_plain_words(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.yaml",
        """
        name: f
        steps:
          - id: ask
            on:
              - New order
            action: custom
            provider: sap
            params: {archive: yes, mail: off, country: NO}
            critical: false
        """,
    )

    step = load_flow(path).steps[0]

    assert step.on == ("New order",)
    assert step.params == {"archive": "yes", "mail": "off", "country": "NO"}
    assert step.critical is False  # true/false are still booleans


def test_a_flow_file_policy_wins_over_a_shared_one_of_the_same_name(tmp_path: Path) -> None:
    shared = load_policies(FLOWS / "policies.yaml")
    path = write(
        tmp_path,
        "f.yaml",
        """
        name: f
        steps:
          - id: check
            on: [New order]
            action: validate_header
            policy: order-header-validation
        policies:
          order-header-validation:
            scope: header
            rules:
              - require: {field: currency, op: eq, value: USD}
                message: dollars only
        """,
    )

    policy = load_flow(path, shared).policies["order-header-validation"]

    assert isinstance(policy, ValidationPolicy)
    assert [r.message for r in policy.rules] == ["dollars only"]


# -- broken files ---------------------------------------------------------------------------------


def test_an_unknown_action_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("send_to_fulfillment", "teleport"))
    assert f"{path}:5: steps.0.action: Input should be 'validate_header'" in refusal(path)


def test_an_unknown_provider_is_refused_at_its_line_naming_the_providers(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("provider: flexe", "provider: fedex"))
    assert f"{path}:6: steps.0.provider: Input should be 'bigcommerce', 'fno'" in refusal(path)


def test_a_step_without_on_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("        on: [New order]\n", ""))
    assert f"{path}:3: steps.0.on: Field required" in refusal(path)


def test_a_misspelt_key_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("provider:", "provder:"))
    assert f"{path}:6: steps.0.provder: Extra inputs are not permitted" in refusal(path)


def test_a_bad_operator_in_a_filter_is_refused_at_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    name: f\n", "    name: f\n    filter: {field: channel, op: like, value: big%}\n"
    )
    path = write(tmp_path, "f.yaml", text)

    assert (
        f"{path}:2: filter.op: Input should be 'eq', 'ne', 'gt', 'ge', 'lt', 'le', 'in', 'has_data' or "
        in (refusal(path))
    )


def test_an_input_event_naming_no_step_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("[New order]", "[validate succeeded]"))
    message = refusal(path)
    assert message.startswith(f"{path}:")
    assert "steps[0] (send): input event 'validate succeeded' names no step of this flow" in message


def test_a_file_that_is_not_yaml_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("[New order]", "[New order"))
    assert refusal(path).startswith(f"{path}:4: not valid YAML")


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", "- just\n- a list\n")
    assert refusal(path) == f"{path}:1: a flow file is a mapping with name, steps, ..."


def test_a_step_using_a_policy_nobody_defines_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.yaml",
        """
        name: f
        steps:
          - id: check
            on: [New order]
            action: validate_header
            policy: nowhere
        """,
    )
    assert "'validate_header' needs a policy; known: []" in refusal(path)


def test_a_folder_is_refused_when_two_files_define_the_same_flow(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", MINIMAL)
    write(tmp_path, "b.yml", MINIMAL)
    with pytest.raises(FlowFileError, match=r"several files define flows named \['f'\]"):
        load_flows(tmp_path)


def test_a_missing_folder_and_a_bad_policies_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FlowFileError, match="no such folder of flow files"):
        load_flows(tmp_path / "nowhere")
    write(tmp_path, "policies.yaml", "policies: [order-header-validation]\n")
    with pytest.raises(FlowFileError, match="'policies' must be a mapping of name to policy"):
        load_flows(tmp_path)


# -- content hash ---------------------------------------------------------------------------------


def _folder_with_journey(tmp_path: Path, journey: str = "journey-4-fno-fno.yaml") -> Path:
    shutil.copy(FLOWS / "policies.yaml", tmp_path)
    shutil.copy(FLOWS / journey, tmp_path)
    return tmp_path


def _hash(folder: Path) -> str:
    (flow,) = load_flows(folder)
    return content_hash(flow)


def test_the_hash_is_stable_and_ignores_the_version(tmp_path: Path) -> None:
    folder = _folder_with_journey(tmp_path)
    (flow,) = load_flows(folder)

    assert content_hash(flow) == _hash(folder)
    assert content_hash(flow.model_copy(update={"version": 7})) == content_hash(flow)


def test_the_hash_changes_when_a_shared_policy_the_flow_uses_changes(tmp_path: Path) -> None:
    folder = _folder_with_journey(tmp_path)
    before = _hash(folder)
    shared = folder / "policies.yaml"

    shared.write_text(shared.read_text().replace("value: [US, CA]", "value: [US, CA, MX]"))

    assert "[US, CA, MX]" in shared.read_text()

    assert _hash(folder) != before


def test_the_hash_does_not_change_when_an_unused_shared_policy_changes(tmp_path: Path) -> None:
    folder = _folder_with_journey(tmp_path)  # journey 4 assigns nothing
    before = _hash(folder)
    shared = folder / "policies.yaml"

    shared.write_text(
        shared.read_text().replace("set: {company: CAMF, invoice_customer: CA-001}", "set: {company: CAXX}")
    )

    assert "CAXX" in shared.read_text()
    assert _hash(folder) == before


def test_the_hash_changes_when_a_step_changes(tmp_path: Path) -> None:
    folder = _folder_with_journey(tmp_path)
    before = _hash(folder)
    path = folder / "journey-4-fno-fno.yaml"

    path.write_text(path.read_text() + "    critical: false\n")

    assert _hash(folder) != before


# -- defects found and fixed (kept as regression tests) --


def test_a_yaml_syntax_error_is_reported_as_file_colon_line(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL.replace("[New order]", "[New order"))
    assert refusal(path).startswith(f"{path}:4:")


def test_a_policy_with_an_empty_body_is_refused_as_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", textwrap.dedent(MINIMAL) + "policies:\n  mine:\n")
    refusal(path)


def test_a_step_naming_its_policy_as_a_list_is_refused_as_a_broken_file(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "action: send_to_fulfillment\n        provider: flexe",
        "action: validate_header\n        policy: [order-header-validation]",
    )
    refusal(write(tmp_path, "f.yaml", text), load_policies(FLOWS / "policies.yaml"))


def test_a_bad_operator_inside_a_group_is_refused_at_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.yaml",
        """
        name: f
        filter:
          all:
            - {field: channel, op: eq, value: bigcommerce}
            - {field: attributes.fulfillment, op: like, value: fno}
        steps:
          - id: send
            on: [New order]
            action: send_to_fulfillment
            provider: flexe
        """,
    )
    assert f"{path}:5: filter.all.1.op: Input should be 'eq'" in refusal(path)


def test_a_broken_shared_policy_is_reported_in_policies_yaml(tmp_path: Path) -> None:
    shared = (
        (FLOWS / "policies.yaml")
        .read_text()
        .replace("{field: quantity, op: gt, value: 0}", "{field: quantity, op: above, value: 0}")
    )
    assert "op: above" in shared
    write(tmp_path, "policies.yaml", shared)
    shutil.copy(FLOWS / "journey-4-fno-fno.yaml", tmp_path)
    with pytest.raises(FlowFileError) as caught:
        load_flows(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'policies.yaml'}:")
