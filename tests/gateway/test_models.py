"""Response models take their fields from the stored rows (``fields_of``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from dispatch.rows import CaseRow
from gateway.api.models.base import Public, fields_of
from gateway.api.models.cases import CaseDetailPublic, CasePublic


def test_a_column_added_to_the_case_row_shows_in_the_detail() -> None:
    shown = set(CaseDetailPublic.model_fields)
    columns = {f.name for f in dataclasses.fields(CaseRow)}
    own = {"events", "history", "participants", "tasks", "allowed_actions"}
    assert shown - own == columns - {"assignee_area"}


def test_the_list_schema_keeps_the_status_enum_and_the_descriptions() -> None:
    props = CasePublic.model_json_schema()["properties"]
    assert props["status"] == {"$ref": "#/$defs/Status"}
    assert "受理期限" in props["accept_by"]["description"]
    assert "description" not in props["summary"]


def test_a_description_of_a_field_the_row_lacks_is_refused_by_name() -> None:
    @dataclass(frozen=True)
    class Row:
        shown: int

    with pytest.raises(ValueError, match=r"described \['shwon'\] are not fields of Row"):

        @fields_of(Row, described={"shwon": "typo"})
        class RowPublic(Public):
            """A row."""
