"""Contacts, tags and the CSV import as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from herald.contacts.rules import MAX_VALUED_TAG_VALUE_LENGTH, VALUED_TAG_KEY_RULE

VALUED_TAGS_DESCRIPTION = f"KEY → value. A KEY is {VALUED_TAG_KEY_RULE}; a value at most {MAX_VALUED_TAG_VALUE_LENGTH} characters."


USER_ID_DESCRIPTION = (
    "The WhatsApp business-scoped user id (BSUID) of a user who may hide their phone behind a username, "
    "e.g. US.13491208655302741918. A contact has a phone, a wa_user_id, or both."
)


class ContactCreate(BaseModel):
    phone: str | None = Field(
        default=None, max_length=64,
        description="With its country code; '+' optional. Stored in E.164. Required unless wa_user_id is given.",
    )
    wa_user_id: str | None = Field(default=None, max_length=256, description=USER_ID_DESCRIPTION)
    name: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list)
    valued_tags: dict[str, str] = Field(default_factory=dict, description=VALUED_TAGS_DESCRIPTION)
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, e.g. Europe/Paris")
    locale: str | None = Field(default=None, max_length=16)


class ContactUpdate(BaseModel):
    """Only the fields sent change. ``tags`` replaces the set; ``valued_tags`` merges, null deletes a key."""

    phone: str | None = Field(default=None, max_length=64, description="null removes it (the contact keeps its wa_user_id).")
    wa_user_id: str | None = Field(default=None, max_length=256, description=USER_ID_DESCRIPTION + " null removes it.")
    name: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = None
    valued_tags: dict[str, str | None] | None = Field(
        default=None, description=VALUED_TAGS_DESCRIPTION + " null deletes the key (any key stored, even one from before this rule)."
    )
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    opted_out: bool | None = None


class MergeNeededOut(BaseModel):
    """Another contact this one should be merged with, and why (e.g. WhatsApp moved this contact to a
    phone the other already has). Listed while both contacts exist."""

    contact_id: int = Field(description="The other contact.")
    phone: str | None = Field(description="The other contact's phone now.")
    reason: str
    at: datetime


class ContactOut(BaseModel):
    id: int
    phone: str | None = Field(description="E.164; null for a contact known only by its wa_user_id.")
    phone_raw: str | None
    wa_user_id: str | None = Field(description=USER_ID_DESCRIPTION)
    name: str | None
    tags: list[str]
    valued_tags: dict[str, str]
    timezone: str | None
    locale: str | None
    opted_out: bool
    opted_out_at: datetime | None = None
    opted_out_reason: str | None = Field(default=None, description="e.g. 'replied STOP', or Meta's user_preferences.")
    merge_needed: list[MergeNeededOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class TagCount(BaseModel):
    name: str
    contacts: int


class ValuedTagCount(BaseModel):
    key: str
    contacts: int


class ValuedTagValueCount(BaseModel):
    value: str
    contacts: int


class ImportRejection(BaseModel):
    line: int = Field(description="The file's line number where the row starts; the header is line 1.")
    reason: str


class ImportDuplicate(BaseModel):
    line: int = Field(description="A row whose phone an earlier row of the file gave; its values were applied over that row's.")
    duplicate_of: int = Field(description="The line where the phone first appeared.")


class ImportResult(BaseModel):
    imported: int = Field(description="Contacts created.")
    updated: int = Field(description="Rows that updated an existing contact (or one created earlier in the file).")
    rejected: list[ImportRejection] = Field(description="The first rejected rows (at most 1,000).")
    rejected_count: int = Field(description="Every rejected row, listed or not.")
    duplicates: list[ImportDuplicate] = Field(
        default_factory=list, description="The first rows (at most 1,000) repeating a phone given earlier in the file."
    )
    duplicate_count: int = Field(default=0, description="Every row repeating an earlier row's phone, listed or not.")


class ContactPage(BaseModel):
    """A page of contacts in id order; ``prev_cursor`` (pass it as ``before``) goes back a page."""

    items: list[ContactOut]
    next_cursor: str | None = None
    prev_cursor: str | None = Field(default=None, description="Pass as `before` for the previous page.")
    total: int | None = Field(default=None, description="Every contact matching the search (with `total=true`).")


class ContactSearch(BaseModel):
    """Contacts matching all of these, as ``GET /contacts`` filters them."""

    q: str | None = Field(default=None, max_length=200)
    tag: list[str] = Field(default_factory=list)
    valued_tag: list[str] = Field(default_factory=list)


MAX_BULK_IDS = 1000


class BulkTagsIn(BaseModel):
    """Tags to add and to remove, on the contacts listed in ``contact_ids`` or on every contact matching
    ``search`` (give exactly one). Applied chunk by chunk: one statement per chunk, not per contact."""

    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)
    contact_ids: list[int] | None = Field(default=None, max_length=MAX_BULK_IDS)
    search: ContactSearch | None = None


class BulkTagsOut(BaseModel):
    matched: int = Field(description="Contacts the change applied to.")
    added: int = Field(description="(contact, tag) pairs added; a contact that had the tag counts nothing.")
    removed: int = Field(description="(contact, tag) pairs removed.")
    skipped: int = Field(description="Contacts left untagged: they would hold more than 100 tags.")


class EngagedIn(BaseModel):
    campaign_id: int
    campaign_name: str | None
    campaign_status: str
    engaged_at: datetime


class ContactReply(BaseModel):
    id: int
    type: str
    text: str | None
    sent_at: datetime


class ContactCampaignMessage(BaseModel):
    """The message a campaign sent (or did not send) to the contact, with what the contact answered."""

    campaign_id: int
    campaign_name: str | None
    campaign_status: str
    campaign_kind: str
    status: str
    attempts: int
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    error_code: int | None
    error: str | None = Field(description="Why it failed or was not sent.")
    replies: list[ContactReply]


class ContactCampaignsOut(BaseModel):
    engaged_in: EngagedIn | None = Field(description="The campaign the contact is engaged in now (one at a time).")
    opted_out: bool
    opted_out_at: datetime | None
    opted_out_reason: str | None
    messages: list[ContactCampaignMessage] = Field(description="Newest campaign first (the latest 100).")
