"""Deterministic random content: ids, people, messages, calls and the other event payloads.

Everything comes from the one ``random.Random`` the World owns, so the same seed and the same calls
give the same data. Timestamps are not chosen here (the World's clock stamps them); this module
only decides what a record says and in which style its timestamps are written. Some content is
hostile on purpose: ids with ``/ ? # % + .. spaces unicode``, quotes and SQL in texts,
undocumented event types, unknown fields inside ``data``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from attent_assets.simulator.timestamps import MILLIS, TimeStyle

DOCUMENTED_TYPES: Final = ("MESSAGE", "CALL", "EMAIL", "TOOL_CALL", "CUSTOM", "COMPLIANCE_BLOCKED")
UNDOCUMENTED_TYPES: Final = ("SMS_REACTION", "VOICEMAIL_DROP")
_TYPE_WEIGHTS: Final = (60, 12, 10, 7, 5, 4, 1, 1)

_HARD_ID_TEMPLATES: Final = (
    "../{h}/..",
    "room/{h}?q=1#top %2F+ü 🚀",
    "./{h}",
    "Zoë & Łukasz {h}",
    "room%{h}%2E%2E",
    "+{h}+ /",
    "ルーム/{h}",
)
"""Hard ids, nastiest first, cycled; the random part keeps them unique. (Ids that are exactly
"." or ".." are left for tests to craft with ``World.put_lead``.)"""

_FIRST_NAMES: Final = (
    ("Ava", "ava"), ("Liam", "liam"), ("Zoë", "zoe"), ("José", "jose"), ("Mia", "mia"),
    ("Noah", "noah"), ("Siobhán", "siobhan"), ("Łukasz", "lukasz"), ("Amara", "amara"),
    ("Kenji", "kenji"), ("Fatima", "fatima"), ("Olivia", "olivia"), ("Mateo", "mateo"),
)  # fmt: skip
_LAST_NAMES: Final = (
    ("Smith", "smith"), ("O'Brien", "obrien"), ("García", "garcia"), ("Nguyen", "nguyen"),
    ("Müller", "muller"), ("Johnson", "johnson"), ("Kowalski", "kowalski"), ("Tanaka", "tanaka"),
    ("Okafor", "okafor"), ("Brown", "brown"),
)  # fmt: skip
_PROFILES: Final = (
    "First-time buyer looking for a two-bedroom flat",
    "Investor comparing rental yields",
    "Homeowner asking about refinancing",
    "Small business owner, prefers email",
    "Returning customer; price sensitive",
)
_SUMMARIES: Final = (
    "Interested, wants a call back next week.",
    "Asked for pricing; no decision yet.",
    "Booked a viewing for Saturday.",
    "Not interested right now.",
    'Said "maybe later" — follow up in a month.',
)
_TEXTS: Final = (
    "Hi! Are you still interested in the property?",
    "Yes, what times work for a viewing?",
    "Sounds good 👍",
    'He said "maybe"\nCall me after 5pm',
    "Robert'); DROP TABLE leads;--",
    "Can you send the brochure?",
    "STOP",
    "Thanks, talk soon.",
    "Ça marche, à demain !",
)
_TAGS: Final = (
    {"id": "tag_hot", "name": "Hot lead", "condition": "score >= 80"},
    {"id": "tag_vip", "name": "VIP", "condition": "budget > 1000000"},
    {"id": "tag_cold", "name": "Cold", "condition": "no reply in 30 days"},
    {"id": "tag_ref", "name": "Referral", "condition": "source = referral"},
)
_OFFSETS_MINUTES: Final = (120, -300, 330)


class ContentGenerator:
    """Random record content drawn from a shared, seeded ``random.Random``.

    ``running_tool_calls`` is the fraction of new tool calls that start RUNNING and finish later
    (``finished``); at 0 (the default) every tool call is born finished and no random number is
    drawn for it, so a default world stays exactly what it was."""

    def __init__(self, rng: random.Random, *, running_tool_calls: float = 0.0) -> None:
        self._rng = rng
        self._hard_ids_made = 0
        self._running_tool_calls = running_tool_calls

    def hex(self, digits: int) -> str:
        return f"{self._rng.getrandbits(4 * digits):0{digits}x}"

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def org_id(self) -> str:
        return f"org_{self.hex(12)}"

    def lead_id(self, hard: bool) -> str:
        """``room_<hex>``, or an id full of characters that break naive URL and path handling."""
        if not hard:
            return f"room_{self.hex(24)}"
        template = _HARD_ID_TEMPLATES[self._hard_ids_made % len(_HARD_ID_TEMPLATES)]
        self._hard_ids_made += 1
        return template.replace("{h}", self.hex(8))

    def time_style(self) -> TimeStyle:
        """Mostly milliseconds with ``Z``; a small fraction whole seconds or a UTC offset."""
        roll = self._rng.random()
        if roll < 0.05:
            return TimeStyle(whole_seconds=True)
        if roll < 0.10:
            return TimeStyle(offset_minutes=self._rng.choice(_OFFSETS_MINUTES))
        return MILLIS

    def lead(self, lead_id: str, created_at: str) -> dict[str, Any]:
        """A new lead record, fields in the order of the API reference; no activity yet."""
        rng = self._rng
        first, first_ascii = rng.choice(_FIRST_NAMES)
        last, last_ascii = rng.choice(_LAST_NAMES)
        external = (
            {"externalLeadId": f"crm_{rng.randrange(10**8):08d}"} if rng.random() < 0.7 else {}
        )
        return {
            "id": lead_id,
            "firstName": first,
            "lastName": last,
            "phone": f"+1{rng.randrange(200, 1000)}{rng.randrange(10**7):07d}",
            "email": f"{first_ascii}.{last_ascii}{rng.randrange(1000)}@example.com",
            "customerProfile": rng.choice(_PROFILES),
            "createdAt": created_at,
            "updatedAt": created_at,
            "lastActivityAt": None,
            "additionalInfo": self._additional_info(),
            "hasReplied": False,
            "isHot": rng.random() < 0.2,
            "isQualified": rng.random() < 0.3,
            "isUnsubscribed": False,
            "isAiOn": rng.random() < 0.8,
            "tags": self._tags(),
            "summary": rng.choice(_SUMMARIES),
            **external,
            "deleted": False,
            "deletedAt": None,
        }

    def profile_changes(self) -> dict[str, Any]:
        """One to three profile fields with new values."""
        rng = self._rng
        makers = {
            "isHot": lambda: rng.random() < 0.3,
            "isQualified": lambda: rng.random() < 0.4,
            "isAiOn": lambda: rng.random() < 0.8,
            "isUnsubscribed": lambda: rng.random() < 0.1,
            "summary": lambda: rng.choice(_SUMMARIES),
            "customerProfile": lambda: rng.choice(_PROFILES),
            "tags": self._tags,
            "additionalInfo": self._additional_info,
        }
        chosen = rng.sample(sorted(makers), rng.randint(1, 3))
        return {name: makers[name]() for name in chosen}

    def event_type(self) -> str:
        """MESSAGE mostly; every documented type; rarely an undocumented one."""
        return self._rng.choices(DOCUMENTED_TYPES + UNDOCUMENTED_TYPES, weights=_TYPE_WEIGHTS)[0]

    def event(
        self,
        *,
        event_id: str,
        lead_id: str,
        org_id: str,
        event_type: str,
        timestamp: str,
        updated_at: str,
    ) -> dict[str, Any]:
        """An event envelope with a ``data`` payload shaped for its type."""
        data = self._event_data(event_type)
        if self._rng.random() < 0.04:
            data["sentiment"] = self._rng.choice(("positive", "neutral", "negative"))
        return {
            "id": event_id,
            "roomId": lead_id,
            "orgId": org_id,
            "type": event_type,
            "timestamp": timestamp,
            "updatedAt": updated_at,
            "data": data,
        }

    def completed_call(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The payload of an in-progress call once it ended: status, duration, who ended it and,
        when it was answered, a summary."""
        rng = self._rng
        ended = dict(data)
        if rng.random() < 0.75:
            ended.update(
                callStatus="COMPLETE",
                durationSeconds=rng.randint(20, 900),
                isTransfer=rng.random() < 0.1,
                summary=rng.choice(_SUMMARIES),
                endedBy=rng.choice(("lead", "agent", "ai")),
            )
        else:
            ended.update(callStatus="NO_ANSWER", durationSeconds=0, endedBy="timeout")
        return ended

    def is_running(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """A call still in progress or a tool call still running: it will change again."""
        if event_type == "CALL":
            return data.get("callStatus") == "IN_PROGRESS"
        return event_type == "TOOL_CALL" and data.get("status") == "RUNNING"

    def finished(self, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The payload of a running event (``is_running``) once it ended."""
        if event_type == "CALL":
            return self.completed_call(data)
        rng = self._rng
        ok = rng.random() < 0.9
        return {**data, "result": {"ok": ok}, "status": "SUCCESS" if ok else "ERROR"}

    def _event_data(self, event_type: str) -> dict[str, Any]:
        rng = self._rng
        direction = rng.choice(("INBOUND", "OUTBOUND"))
        match event_type:
            case "MESSAGE":
                return {
                    "direction": direction,
                    "content": {"text": rng.choice(_TEXTS)},
                    "isAiGenerated": direction == "OUTBOUND" and rng.random() < 0.8,
                    "deliveryChannel": rng.choice(("SMS", "SMS", "WHATSAPP", "WEBCHAT")),
                }
            case "CALL":
                ringing = {
                    "direction": direction,
                    "callStatus": "IN_PROGRESS",
                    "durationSeconds": 0,
                    "isTransfer": False,
                }
                return ringing if rng.random() < 0.4 else self.completed_call(ringing)
            case "EMAIL":
                return {
                    "direction": direction,
                    "content": {
                        "subject": rng.choice(("Your enquiry", "Viewing times", "Re: brochure")),
                        "text": rng.choice(_TEXTS),
                    },
                }
            case "TOOL_CALL":
                call = {
                    "toolName": rng.choice(("book_appointment", "lookup_crm", "send_brochure")),
                    "arguments": {"slot": f"2026-06-{rng.randint(1, 28):02d}T10:00"},
                }
                if self._running_tool_calls and rng.random() < self._running_tool_calls:
                    return {**call, "result": None, "status": "RUNNING"}
                return {
                    **call,
                    "result": {"ok": rng.random() < 0.9},
                    "status": rng.choice(("SUCCESS", "SUCCESS", "ERROR")),
                }
            case "CUSTOM":
                return {
                    "name": rng.choice(("form_submitted", "appointment_booked", "page_viewed")),
                    "properties": {"page": rng.choice(("/pricing", "/contact")), "score": 7},
                }
            case "COMPLIANCE_BLOCKED":
                blocked = {
                    "channel": rng.choice(("sms", "email", "voice")),
                    "reason": rng.choice(
                        ("STATE_DNC", "DNC", "COMPLIANCE_TARGET_MISSING", "quiet hours (local)")
                    ),
                    "source": rng.choice(("http", "apten-dnc", "configuration", "provider-error")),
                }
                if rng.random() < 0.5:
                    blocked["triggeredBy"] = rng.choice(("workflow", "ai-agent", "user"))
                return blocked
            case "SMS_REACTION":
                return {"reaction": rng.choice(("👍", "❤️", "😂")), "messageId": self.uuid()}
            case "VOICEMAIL_DROP":
                return {
                    "durationSeconds": rng.randint(5, 60),
                    "recordingUrl": f"https://media.example.com/vm/{self.hex(16)}.mp3",
                }
            case _:
                raise ValueError(f"no payload shape for event type {event_type!r}")

    def _additional_info(self) -> dict[str, str | None]:
        rng = self._rng
        return {
            "source": rng.choice(("facebook", "google_ads", "referral", "website")),
            "utm_campaign": rng.choice((None, "spring_sale", "retargeting")),
            "preferred_contact_time": rng.choice((None, "morning", "evening")),
        }

    def _tags(self) -> list[dict[str, str]]:
        return [dict(tag) for tag in self._rng.sample(_TAGS, self._rng.randint(0, 3))]
