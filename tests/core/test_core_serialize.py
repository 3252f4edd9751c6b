"""to_jsonable / from_jsonable: dataclass trees to JSON-ready values and back, by type hint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from harness.core.serialize import from_jsonable, to_jsonable

Colour = Literal["red", "green"]


@dataclass(frozen=True)
class Leaf:
    name: str
    shape: tuple[int | str | None, ...]
    scale: float = 1.0


@dataclass(frozen=True)
class Tree:
    leaves: tuple[Leaf, ...]
    pair: tuple[int, str]
    counts: dict[str, int]
    colour: Colour
    where: Path
    label: str | None
    flag: bool
    extra: Any = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Holder:
    inputs: tuple[Leaf, ...]


def make_tree() -> Tree:
    return Tree(
        leaves=(Leaf("x", (1, "seq", None), 0.5), Leaf("y", ())),
        pair=(3, "three"),
        counts={"Add": 2, "MatMul": 1},
        colour="green",
        where=Path("out/report.html"),
        label=None,
        flag=True,
        extra={"free": [1, "form"]},
        tags=("a", "b"),
    )


def test_to_jsonable_gives_plain_json_values() -> None:
    data = to_jsonable(make_tree())
    assert data == {
        "leaves": [
            {"name": "x", "shape": [1, "seq", None], "scale": 0.5},
            {"name": "y", "shape": [], "scale": 1.0},
        ],
        "pair": [3, "three"],
        "counts": {"Add": 2, "MatMul": 1},
        "colour": "green",
        "where": "out/report.html",
        "label": None,
        "flag": True,
        "extra": {"free": [1, "form"]},
        "tags": ["a", "b"],
    }
    assert list(data) == [
        "leaves",
        "pair",
        "counts",
        "colour",
        "where",
        "label",
        "flag",
        "extra",
        "tags",
    ]


def test_round_trip_through_json_text() -> None:
    tree = make_tree()
    back = from_jsonable(Tree, json.loads(json.dumps(to_jsonable(tree))))
    assert back == tree
    assert isinstance(back.leaves, tuple)
    assert isinstance(back.leaves[0].shape, tuple)
    assert isinstance(back.pair, tuple)
    assert isinstance(back.where, Path)


def test_missing_fields_with_defaults_take_the_default() -> None:
    data = to_jsonable(make_tree())
    del data["tags"], data["extra"]
    data["leaves"][1] = {"name": "y", "shape": []}
    back = from_jsonable(Tree, data)
    assert back.tags == ()
    assert back.extra is None
    assert back.leaves[1].scale == 1.0


def test_integer_json_number_becomes_a_float_field() -> None:
    leaf = from_jsonable(Leaf, {"name": "x", "shape": [], "scale": 2})
    assert leaf.scale == 2.0
    assert isinstance(leaf.scale, float)


@pytest.mark.parametrize(
    ("hint", "data"),
    [
        (int, True),
        (float, False),
        (tuple[int, ...], [1, True]),
        (dict[str, int], {"a": False}),
    ],
)
def test_bool_is_not_accepted_as_a_number(hint: Any, data: Any) -> None:
    with pytest.raises(TypeError, match="got bool"):
        from_jsonable(hint, data)


def test_bool_is_kept_where_a_union_allows_it() -> None:
    hint = bool | int | float
    assert from_jsonable(hint, True) is True
    value = from_jsonable(hint, 3)
    assert value == 3 and type(value) is int
    assert from_jsonable(hint, 0.25) == 0.25


def test_int_does_not_accept_a_float() -> None:
    with pytest.raises(TypeError, match="expected int, got float"):
        from_jsonable(int, 1.0)


@pytest.mark.parametrize(
    ("hint", "data"),
    [(str, 3), (bool, 1), (Path, 3), (tuple[int, ...], (1, 2)), (dict[str, int], [])],
)
def test_wrong_json_kinds_are_rejected(hint: Any, data: Any) -> None:
    with pytest.raises(TypeError, match=r"^\$: expected"):
        from_jsonable(hint, data)


def test_fixed_tuple_checks_length_and_item_types() -> None:
    assert from_jsonable(tuple[int, str], [1, "a"]) == (1, "a")
    with pytest.raises(ValueError, match=r"\$: expected 2 items, got 3"):
        from_jsonable(tuple[int, str], [1, "a", "b"])
    with pytest.raises(TypeError, match=r"\$\[1\]: expected str, got int"):
        from_jsonable(tuple[int, str], [1, 2])


def test_optional_accepts_null_and_the_type() -> None:
    assert from_jsonable(str | None, None) is None
    assert from_jsonable(str | None, "a") == "a"
    assert from_jsonable(Path | None, "a/b") == Path("a/b")


def test_null_is_rejected_where_the_hint_has_no_none() -> None:
    with pytest.raises(ValueError, match="null is not allowed"):
        from_jsonable(int | str, None)
    with pytest.raises(TypeError):
        from_jsonable(str, None)


def test_union_reports_every_arm_that_failed() -> None:
    with pytest.raises(ValueError, match=r"\$: 1.5 fits none of") as info:
        from_jsonable(int | str | None, 1.5)
    assert "expected int" in str(info.value) and "expected str" in str(info.value)


def test_literal_accepts_only_its_values() -> None:
    assert from_jsonable(Colour, "red") == "red"
    with pytest.raises(ValueError, match=r"\$: 'blue' is not one of \('red', 'green'\)"):
        from_jsonable(Colour, "blue")


def test_any_passes_data_through() -> None:
    data = {"nested": [1, {"x": None}]}
    assert from_jsonable(Any, data) is data


def test_unknown_dataclass_field_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"\$: unknown field\(s\) \['size'\] for Leaf"):
        from_jsonable(Leaf, {"name": "x", "shape": [], "size": 3})


def test_missing_required_field_is_named() -> None:
    with pytest.raises(ValueError, match=r"\$: missing field 'shape' of Leaf"):
        from_jsonable(Leaf, {"name": "x"})


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"inputs": [{"name": "x", "shape": [1.5]}]}, r"\$\.inputs\[0\]\.shape"),
        (
            {"inputs": [{"name": "x", "shape": []}, {"name": 3, "shape": []}]},
            r"\$\.inputs\[1\]\.name",
        ),
        ({"inputs": [{"name": "x", "shape": [], "scale": "big"}]}, r"\$\.inputs\[0\]\.scale"),
        ({"inputs": {"name": "x"}}, r"\$\.inputs: expected list"),
    ],
)
def test_errors_name_the_json_path(data: Any, path: str) -> None:
    with pytest.raises((TypeError, ValueError), match=path):
        from_jsonable(Holder, data)


def test_dict_errors_name_the_key() -> None:
    with pytest.raises(TypeError, match=r"\$\.counts\.MatMul: expected int, got str"):
        from_jsonable(dict[str, dict[str, int]], {"counts": {"Add": 1, "MatMul": "1"}})


def test_to_jsonable_turns_lists_and_keys_into_json_kinds() -> None:
    assert to_jsonable({1: (Path("a"), [2, 3])}) == {"1": ["a", [2, 3]]}
    assert to_jsonable(None) is None
    assert to_jsonable(2.5) == 2.5
