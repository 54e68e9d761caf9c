from __future__ import annotations

import pytest

from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import World, make_world


@pytest.fixture
async def world(database: Database, org: OrgHandle) -> World:
    return await make_world(database, org.id)
