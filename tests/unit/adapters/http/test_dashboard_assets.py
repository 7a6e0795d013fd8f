"""The dashboard's scripts find what they look up: every element id they ask for with
``$("...")`` is in the page, so a view (the what-if's form and report, the error
filters...) cannot lose its wiring without a test failing. The browser test
(tests/e2e/test_dashboard_browser.py) checks what the page draws."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[4] / "streams" / "adapters" / "http" / "static"
PAGE_IDS = set(re.findall(r'\bid="([^"]+)"', (STATIC / "index.html").read_text()))


@pytest.mark.parametrize("script", ["dashboard.js", "operations.js"])
def test_every_element_a_script_looks_up_is_in_the_page(script: str) -> None:
    wanted = set(re.findall(r'\$\("([\w-]+)"\)', (STATIC / script).read_text()))

    assert wanted, f"{script} looks nothing up: the pattern is stale"
    assert sorted(wanted - PAGE_IDS) == []


def test_the_what_if_form_posts_the_draft_and_shows_the_last_report() -> None:
    script = (STATIC / "operations.js").read_text()

    assert {"whatif-form", "whatif-flow", "whatif-since", "whatif-report"} <= PAGE_IDS
    assert 'api("/what-if", { method: "POST"' in script and 'api("/what-if")' in script
