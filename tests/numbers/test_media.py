from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.media import service
from herald.media.limits import MB
from herald.models import Media
from herald.simulator import SimulatorServer
from herald.whatsapp import CloudAPIClient
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.numbers.helpers import (
    ANSWERED,
    ASKED,
    OTHER_PHONE_NUMBER_ID,
    WROTE,
    field_names,
    move_in_database,
    register_number,
    sim_media_count,
    watch_whatsapp,
    while_whatsapp_answers,
    write_in_another_session,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"x" * 100


async def upload(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, name: str, content: bytes, mime: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/whatsapp-numbers/{number_id}/media", files={"file": (name, content, mime)}, headers=org.auth
    )


class TestUploadMedia:
    async def test_uploads_and_keeps_the_bytes(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        response = await upload(client, org, number["id"], "banner.png", PNG, "image/png")
        assert response.status_code == 201, response.text
        media = response.json()
        assert media["mime_type"] == "image/png" and media["size"] == len(PNG) and media["kind"] == "image"
        assert sim_media_count(sim) == 1
        assert sim.call(lambda: sim.state.media.items[media["media_id"]].data) == PNG
        got = await client.get(f"/api/v1/media/{media['id']}", headers=org.headers(Role.viewer))
        assert got.json()["media_id"] == media["media_id"]
        assert got.json()["expires_at"] > got.json()["uploaded_at"]

    async def test_generic_type_is_taken_from_the_file_name(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        response = await upload(client, org, number["id"], "terms.pdf", PDF, "application/octet-stream")
        assert response.status_code == 201
        assert response.json()["mime_type"] == "application/pdf"
        assert response.json()["kind"] == "document"

    @pytest.mark.parametrize(
        ("name", "content", "mime", "words"),
        [
            ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * MB), "image/png", "up to 5 MB"),
            ("big.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (16 * MB), "video/mp4", "up to 16 MB"),
            ("anim.gif", b"GIF89a", "image/gif", "cannot be used"),
            ("song.mp3", b"ID3", "audio/mpeg", "cannot be used"),
            ("empty.png", b"", "image/png", "empty"),
            ("fake.png", b"GIF89a" + b"\x00" * 10, "image/png", "not image/png"),
        ],
    )
    async def test_refused_before_anything_reaches_whatsapp(
        self,
        client: httpx.AsyncClient,
        org: OrgHandle,
        sim: SimulatorServer,
        name: str,
        content: bytes,
        mime: str,
        words: str,
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        before = sim.stats()
        response = await upload(client, org, number["id"], name, content, mime)
        assert response.status_code == 422
        assert field_names(response) == {"file"}
        assert words in response.json()["error"]["message"]
        assert sim_media_count(sim) == 0
        assert sim.stats()["rejected"] == before["rejected"]

    async def test_whatsapp_refusal_is_a_502_with_metas_reason(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        await client.patch(f"/api/v1/whatsapp-numbers/{number['id']}", json={"access_token": "bad"}, headers=org.auth)
        response = await upload(client, org, number["id"], "banner.png", PNG, "image/png")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "whatsapp_error"
        assert (await client.get("/api/v1/media", headers=org.auth)).json()["items"] == []

    async def test_another_orgs_media_is_404(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        media = (await upload(client, org, number["id"], "banner.png", PNG, "image/png")).json()
        assert (await client.get(f"/api/v1/media/{media['id']}", headers=other_org.auth)).status_code == 404
        assert (await client.delete(f"/api/v1/media/{media['id']}", headers=other_org.auth)).status_code == 404
        assert (await client.get("/api/v1/media", headers=other_org.auth)).json()["items"] == []
        listed = await client.get("/api/v1/media", params={"whatsapp_number_id": number["id"]}, headers=org.auth)
        assert [m["id"] for m in listed.json()["items"]] == [media["id"]]

    async def test_no_transaction_is_open_while_whatsapp_answers(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        watched = await watch_whatsapp(app, sim)
        response = await while_whatsapp_answers(
            watched,
            upload(client, org, number["id"], "banner.png", PNG, "image/png"),
            write_in_another_session(database, watched, org.id),
        )
        assert response.status_code == 201, response.text
        assert sim.call(lambda: sim.state.media.items[response.json()["media_id"]].data) == PNG
        assert watched.events == [ASKED, WROTE, ANSWERED]

    async def test_number_deleted_during_the_upload_is_404_and_nothing_is_kept(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        watched = await watch_whatsapp(app, sim)

        async def delete() -> None:
            deleted = await client.delete(f"/api/v1/whatsapp-numbers/{number['id']}", headers=org.auth)
            assert deleted.status_code == 204

        response = await while_whatsapp_answers(
            watched, upload(client, org, number["id"], "banner.png", PNG, "image/png"), delete
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "whatsapp_number_not_found"
        async with database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Media)) == 0

    async def test_number_moved_during_the_upload_is_409(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        watched = await watch_whatsapp(app, sim)
        move = move_in_database(database, number["id"], phone_number_id=OTHER_PHONE_NUMBER_ID)
        response = await while_whatsapp_answers(
            watched, upload(client, org, number["id"], "banner.png", PNG, "image/png"), move
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "whatsapp_number_changed"
        assert (await client.get("/api/v1/media", headers=org.auth)).json()["items"] == []


class TestEnsureFreshMediaId:
    async def test_expired_media_is_uploaded_again_from_the_stored_bytes(
        self,
        client: httpx.AsyncClient,
        org: OrgHandle,
        sim: SimulatorServer,
        database: Database,
        settings: Settings,
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        media = (await upload(client, org, number["id"], "banner.png", PNG, "image/png")).json()
        box = SecretBox(settings.encryption_keys)
        async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as cloud:
            async with database.session() as session:
                same = await service.ensure_fresh_media_id(session, cloud, box, media_row_id=media["id"])
            assert same == media["media_id"] and sim_media_count(sim) == 1

            sim.advance_clock(31 * 86_400)
            async with database.session() as session:
                await session.execute(
                    update(Media).where(Media.id == media["id"]).values(expires_at=utcnow() - timedelta(hours=1))
                )
            async with database.session() as session:
                fresh = await service.ensure_fresh_media_id(
                    session, cloud, box, media_row_id=media["id"], org_id=org.id
                )
        assert fresh != media["media_id"]
        assert sim.call(lambda: sim.state.media.get(fresh, sim.state.now()) is not None)
        assert sim.call(lambda: sim.state.media.get(media["media_id"], sim.state.now()) is None)
        assert sim.call(lambda: sim.state.media.items[fresh].data) == PNG
        stored = (await client.get(f"/api/v1/media/{media['id']}", headers=org.auth)).json()
        assert stored["media_id"] == fresh
        assert stored["expires_at"] > media["expires_at"]

    async def test_media_within_a_day_of_expiry_is_refreshed(
        self,
        client: httpx.AsyncClient,
        org: OrgHandle,
        sim: SimulatorServer,
        database: Database,
        settings: Settings,
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        media = (await upload(client, org, number["id"], "banner.png", PNG, "image/png")).json()
        async with database.session() as session:
            await session.execute(
                update(Media).where(Media.id == media["id"]).values(expires_at=utcnow() + timedelta(hours=20))
            )
        async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as cloud, database.session() as session:
            fresh = await service.ensure_fresh_media_id(
                session, cloud, SecretBox(settings.encryption_keys), media_row_id=media["id"]
            )
        assert fresh != media["media_id"] and sim_media_count(sim) == 2
