"""The contact pages with a username user (issue 20, item 6): a contact without a phone is listed and
edited like any other, and its WhatsApp user id can be set and removed from its page."""

from __future__ import annotations

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_contacts
from tests.web.conftest import Browser
from tests.web.helpers import page_csrf

URSULA_ID = "US.13491208655302741918"


class TestUsernameContactPages:
    async def test_a_contact_without_a_phone_is_listed_and_shown_with_its_user_id(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        (ursula,) = await make_contacts(database, org_id=org.id, specs=[
            {"phone": None, "wa_user_id": URSULA_ID, "name": "Ursula", "tags": ["vip"]}])
        viewer = await browser(Role.viewer)
        listing = await viewer.get("/ui/contacts", params={"q": URSULA_ID})
        assert listing.status_code == 200
        assert f'href="/ui/contacts/{ursula}"' in listing.text and URSULA_ID in listing.text
        assert "None" not in listing.text
        page = await viewer.get(f"/ui/contacts/{ursula}")
        assert page.status_code == 200 and f'value="{URSULA_ID}"' in page.text
        assert "username user, no phone" in page.text and "None" not in page.text

    async def test_the_user_id_is_edited_on_the_page_and_a_contact_keeps_one_of_phone_and_user_id(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        pedro, ursula = await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+5511988887777", "name": "Pedro"}, {"phone": None, "wa_user_id": URSULA_ID, "name": "Ursula"}])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, f"/ui/contacts/{pedro}")
        saved = await editor.post(f"/ui/contacts/{pedro}", data={
            "csrf_token": token, "name": "Pedro", "wa_user_id": "BR.99887766554433221100"})
        assert saved.status_code == 303
        assert 'value="BR.99887766554433221100"' in (await editor.get(f"/ui/contacts/{pedro}")).text
        refused = await editor.post(f"/ui/contacts/{ursula}", data={"csrf_token": token, "name": "Ursula",
                                                                     "wa_user_id": ""})
        assert refused.status_code == 422 and 'id="wa_user_id-error"' in refused.text
        assert "cannot lose both" in refused.text
        malformed = await editor.post(f"/ui/contacts/{pedro}", data={"csrf_token": token, "name": "Pedro",
                                                                     "wa_user_id": "pedro"})
        assert malformed.status_code == 422 and "Invalid WhatsApp user id" in malformed.text
