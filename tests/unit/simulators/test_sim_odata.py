"""The shared OData slice: $filter expressions, key predicates and v2 dates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from simulators.odata import FilterError, compile_filter, parse_key, v2_date, v2_datetimeoffset

ROWS: list[dict[str, Any]] = [
    {"No": "000001", "Ref": "BC-100", "Status": "Backorder", "Qty": Decimal(2), "At": "2024-05-01T10:00:00Z"},
    {"No": "000002", "Ref": "bc-101", "Status": "Delivered", "Qty": Decimal(5), "At": "2024-05-02T10:00:00Z"},
    {"No": "000003", "Ref": "X-7", "Status": "Invoiced", "Qty": Decimal(1), "At": None},
]


def matching(text: str, **options: bool) -> list[str]:
    keep = compile_filter(text, ROWS[0].keys(), entity="T", **options)
    return [row["No"] for row in ROWS if keep(row)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ref eq 'BC-100'", ["000001"]),
        ("Ref ne 'BC-100'", ["000002", "000003"]),
        ("Qty gt 1 and Qty le 5", ["000001", "000002"]),
        (
            "Status eq Microsoft.Dynamics.DataEntities.SalesStatus'Delivered' or Qty eq 1",
            ["000002", "000003"],
        ),
        ("not (Status eq 'Backorder')", ["000002", "000003"]),
        ("At ge 2024-05-02T00:00:00Z", ["000002"]),
        ("At eq null", ["000003"]),
        ("startswith(Ref, 'BC')", ["000001"]),
        ("substringof('-7', Ref)", ["000003"]),
    ],
)
def test_filters_select_the_rows_they_describe(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


def test_fno_wildcards_and_case_folding_are_options() -> None:
    assert matching("Ref eq '*c-10*'", wildcards=True, case_insensitive=True) == ["000001", "000002"]
    assert matching("Ref eq 'bc-100'") == []


@pytest.mark.parametrize("text", ["Nope eq 'x'", "Ref eq", "Ref eq 'x' and", "(Ref eq 'x'", "Ref ~ 'x'"])
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text, ROWS[0].keys(), entity="T")


def test_keys_single_and_compound() -> None:
    assert parse_key("'4711'") == {"": "4711"}
    assert parse_key("dataAreaId='usmf',SalesOrderNumber='O''1'") == {
        "dataAreaId": "usmf",
        "SalesOrderNumber": "O'1",
    }


def test_v2_dates() -> None:
    moment = datetime(2019, 1, 9, 0, 0, tzinfo=UTC)
    assert v2_date(moment.date()) == "/Date(1546992000000)/"
    assert v2_datetimeoffset(moment) == "/Date(1546992000000+0000)/"
