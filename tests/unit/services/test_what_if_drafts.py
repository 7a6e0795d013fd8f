"""A what-if draft with errors is refused with file, line and field; a good one loads."""

from __future__ import annotations

import pytest

from streams.adapters.flow_files import FlowFileError
from streams.services.what_if import load_draft_text
from streams.settings import REPO_ROOT


def test_a_shipped_flow_loads_as_a_draft() -> None:
    text = (REPO_ROOT / "flows" / "journey-1-bigcommerce-fno.yaml").read_text()
    assert load_draft_text(text).name == "bigcommerce-fno"


def test_a_draft_with_a_bad_step_is_refused_naming_line_and_field() -> None:
    text = (REPO_ROOT / "flows" / "journey-1-bigcommerce-fno.yaml").read_text()
    broken = text.replace("max_retries: 3", "max_retries: -1", 1)
    assert broken != text, "the shipped flow should set max_retries somewhere"
    line = next(n for n, row in enumerate(broken.splitlines(), start=1) if "max_retries: -1" in row)

    with pytest.raises(FlowFileError) as refused:
        load_draft_text(broken)

    assert f"draft.yaml:{line}: steps." in str(refused.value)
    assert "max_retries: Input should be greater than or equal to 0" in str(refused.value)
