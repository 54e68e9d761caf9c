"""Audience segments: the SQL selects exactly the contacts a plain evaluation of the rules selects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from herald.campaigns.segments import segment_filter
from herald.kit.db import Database
from herald.models import Contact
from tests.factories import fr_mobile, make_contacts
from tests.properties.helpers import new_org

TAGS = ["vip", "new", "lyon", "Vip"]
KEYS = ["plan", "city"]
VALUES = ["pro", "free", "Pro"]

contact_specs = st.fixed_dictionaries({
    "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
    "valued_tags": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
})
# "unknown" is a tag no contact has: asked for, it must match nobody rather than be ignored.
audience_tags = st.lists(st.sampled_from([*TAGS, "unknown"]), unique=True, max_size=3)
valued_rules = st.lists(
    st.one_of(
        st.fixed_dictionaries({"key": st.sampled_from([*KEYS, "nokey"])}),
        st.fixed_dictionaries({"key": st.sampled_from(KEYS), "value": st.sampled_from(VALUES)}),
    ),
    max_size=2,
)
audiences = st.fixed_dictionaries({}, optional={"tags_any": audience_tags, "tags_all": audience_tags,
                                                "valued_tags": valued_rules})


def matches(contact: dict[str, Any], audience: dict[str, Any]) -> bool:
    """The rules, read plainly: clauses given are ANDed; an empty audience matches nobody."""
    tags, valued = set(contact["tags"]), contact["valued_tags"]
    any_of, all_of, rules = audience.get("tags_any"), audience.get("tags_all"), audience.get("valued_tags")
    if not (any_of or all_of or rules):
        return False
    return (
        (not any_of or bool(tags & set(any_of)))
        and set(all_of or []) <= tags
        and all(r["key"] in valued and ("value" not in r or valued[r["key"]] == r["value"]) for r in rules or [])
    )


class TestSegmentSql:
    @pytest.mark.slow
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(specs=st.lists(contact_specs, max_size=8), others=st.lists(contact_specs, max_size=3), audience=audiences)
    async def test_sql_segment_equals_the_rules_evaluated_in_python(
        self, database: Database, specs: list[dict[str, Any]], others: list[dict[str, Any]], audience: dict[str, Any]
    ) -> None:
        org_id, other_org_id = await new_org(database), await new_org(database)
        ids = await make_contacts(database, org_id=org_id,
                                  specs=[{**s, "phone": fr_mobile(i)} for i, s in enumerate(specs)])
        # Another organization with the same tags and phones: never part of this one's audience.
        await make_contacts(database, org_id=other_org_id,
                            specs=[{**s, "phone": fr_mobile(i)} for i, s in enumerate(others)])

        async with database.read_session() as session:
            where = await segment_filter(session, org_id=org_id, audience=audience)
            selected = set(await session.scalars(select(Contact.id).where(where)))

        expected = {contact_id for contact_id, spec in zip(ids, specs, strict=True) if matches(spec, audience)}
        assert selected == expected
        untagged = {contact_id for contact_id, spec in zip(ids, specs, strict=True)
                    if not spec["tags"] and not spec["valued_tags"]}
        assert not selected & untagged
