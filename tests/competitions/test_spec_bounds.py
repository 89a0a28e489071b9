"""Hostile competition specs stop with one line naming the file and the key: ids past what int64 and float64 hold,
pixel patterns with attribute, index, conversion or format fields, and tables nested too deeply."""

from __future__ import annotations

import re

import pytest

from kit.competitions import load_spec
from kit.competitions._specfile import MAX_DEPTH, MAX_FIRST_ID
from kit.errors import KitError


def spec_error(tmp_path, text: str) -> str:
    path = tmp_path / "competition.toml"
    path.write_text(text)
    with pytest.raises(KitError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize("first_id", [2**63, 10**30, MAX_FIRST_ID + 1, -1])
def test_a_first_id_past_what_ids_hold_names_the_key(tmp_path, first_id):
    message = spec_error(tmp_path, f"[columns]\nfirst_id = {first_id}\n")
    assert message == f"key columns.first_id: must be a row number from 0 to 2**53 - 1, got {first_id}"


@pytest.mark.parametrize("first_id", [0, 1, MAX_FIRST_ID])
def test_first_ids_within_the_bound_load(tmp_path, first_id):
    path = tmp_path / "competition.toml"
    path.write_text(f"[columns]\nfirst_id = {first_id}\n")
    assert load_spec(path).first_id == first_id


@pytest.mark.parametrize(
    ("pattern", "field"),
    [
        ("p{i.attr}", "{i.attr}"),
        ("p{i.real}", "{i.real}"),
        ("{row}x{col[0]}", "{col[0]}"),
        ("p{i}{n}", "{n}"),
        ("p{i}{}", "{}"),
        ("p{i}{0}", "{0}"),
        ("p{i!r}", "{i!r}"),
        ("p{i:>999999999}", "{i:>999999999}"),
        ("p{i}{col:{row}}", "{col:{row}}"),
    ],
)
def test_a_pattern_field_that_is_not_a_plain_placeholder_names_the_key(tmp_path, pattern, field):
    message = spec_error(tmp_path, f"[pixels]\npattern = {pattern!r}\n")
    assert message == (
        f"key pixels.pattern: {pattern!r} has field {field}; use only {{i}}, {{row}}, {{col}}, {{channel}} "
        "(and '{{' for a brace)"
    )


def test_plain_patterns_and_escaped_braces_still_load(tmp_path):
    path = tmp_path / "competition.toml"
    path.write_text('[pixels]\npattern = "{{r}}{row}x{col}"\n[image]\nheight = 2\nwidth = 2\n')
    assert load_spec(path).pixel_columns == ["{r}0x0", "{r}0x1", "{r}1x0", "{r}1x1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" + ".".join(["files"] * 2000) + "]\nx = 1\n", rf"key files\.files\.files…: nested more than {MAX_DEPTH} "),
        ("[files]\nextra = " + "[" * 40 + "]" * 40 + "\n", rf"key files\.extra\.0…: nested more than {MAX_DEPTH} "),
        ("x = " + "{ a = " * 40 + "1" + " }" * 40 + "\n", rf"key x\.a\.a…: nested more than {MAX_DEPTH} "),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", r"invalid TOML \(nested too deeply\)"),
        ("x = " + "{ a = " * 2000 + "1" + " }" * 2000 + "\n", r"invalid TOML \(nested too deeply\)"),
    ],
)
def test_a_deeply_nested_spec_stops_with_one_line(tmp_path, text, message):
    assert re.match(message, spec_error(tmp_path, text))
