from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MediaOut(BaseModel):
    id: int
    media_id: str
    mime_type: str
    size: int
    kind: str
    filename: str
    whatsapp_number_id: int
    uploaded_at: datetime
    expires_at: datetime
    created_at: datetime
