"""Event and reaction ids are uuid5s, spelled out for speed: the spelling must be exactly uuid5."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.ids import _COMMANDS, _EVENTS, event_id, reaction_id


@given(command_id=st.text(), index=st.integers(min_value=0, max_value=10_000))
def test_an_event_id_is_the_uuid5_of_its_command_and_index(command_id: str, index: int) -> None:
    try:
        expected = str(uuid.uuid5(_EVENTS, f"{command_id}/{index}"))
    except UnicodeEncodeError:  # a lone surrogate: no command id carries one
        return
    assert event_id(command_id, index) == expected


@given(event_id=st.uuids().map(str), what=st.text())
def test_a_reaction_id_is_the_uuid5_of_its_event_and_step(event_id: str, what: str) -> None:
    try:
        expected = str(uuid.uuid5(_COMMANDS, f"{event_id}/{what}"))
    except UnicodeEncodeError:
        return
    assert reaction_id(event_id, what) == expected
