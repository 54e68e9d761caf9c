"""Template variables: each position gets exactly its bound value, or the contact is not sent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.dispatch.render import DEFAULT_NAME_FALLBACK, MissingValue, render_parameters

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
values = st.text(min_size=1, max_size=20)
names = st.one_of(st.none(), st.just(""), st.just("   "), st.text(max_size=20))
bindings = st.one_of(
    st.fixed_dictionaries({"source": st.just("text"), "value": st.text(max_size=20)}),
    st.fixed_dictionaries({"source": st.just("contact_name")}, optional={"fallback": st.text(max_size=10)}),
    st.fixed_dictionaries({"source": st.just("valued_tag"), "key": keys}),
)


def expected(binding: dict[str, Any], name: str | None, valued_tags: dict[str, str]) -> str | None:
    """The value a position gets, or None when the valued tag is missing."""
    if binding["source"] == "text":
        return str(binding["value"])
    if binding["source"] == "contact_name":
        return (name or "").strip() or binding.get("fallback") or DEFAULT_NAME_FALLBACK
    return valued_tags.get(binding["key"]) or None


class TestRenderParameters:
    @settings(max_examples=200, deadline=None)
    @given(bound=st.lists(bindings, max_size=6), name=names, valued_tags=st.dictionaries(keys, values, max_size=4))
    def test_positions_get_exactly_their_bound_values_in_order(
        self, bound: list[dict[str, Any]], name: str | None, valued_tags: dict[str, str]
    ) -> None:
        positions = [str(i + 1) for i in range(len(bound))]
        variables = dict(zip(positions, bound, strict=True))
        wanted = [expected(b, name, valued_tags) for b in bound]
        missing = [b["key"] for b, w in zip(bound, wanted, strict=True) if w is None]
        if missing:
            with pytest.raises(MissingValue) as raised:
                render_parameters(positions, variables, name=name, valued_tags=valued_tags)
            assert raised.value.reason == f"valued tag '{missing[0]}' missing"
        else:
            assert render_parameters(positions, variables, name=name, valued_tags=valued_tags) == wanted

    @settings(max_examples=100, deadline=None)
    @given(key=keys, empty=st.sampled_from([None, ""]), name=names)
    def test_a_missing_or_empty_valued_tag_names_its_key(self, key: str, empty: str | None, name: str | None) -> None:
        valued_tags = {} if empty is None else {key: empty}
        with pytest.raises(MissingValue) as raised:
            render_parameters(["1"], {"1": {"source": "valued_tag", "key": key}}, name=name, valued_tags=valued_tags)
        assert raised.value.reason == f"valued tag '{key}' missing"
        assert str(raised.value) == raised.value.reason

    @settings(max_examples=50, deadline=None)
    @given(positions=st.lists(st.integers(1, 9).map(str), min_size=1, max_size=4, unique=True))
    def test_an_unbound_position_is_a_missing_value_not_a_crash(self, positions: list[str]) -> None:
        with pytest.raises(MissingValue) as raised:
            render_parameters(positions, {}, name="Ana", valued_tags={})
        assert raised.value.reason == f"variable {positions[0]} is not bound"
