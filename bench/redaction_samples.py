"""~4 KB vCons shaped like the corpus's calls (two parties, a dozen text
dialogs, a summary analysis, tags), their texts full of what a redaction
removes: the parties' own names and numbers, third-party phones, emails, a
card, an IBAN, an SSN, an address, and order numbers and amounts that must
stay."""

from __future__ import annotations

import json

__all__ = ["redaction_sample"]

_LINES = (
    "Agent: Thanks for calling, am I speaking with {first} {last}?",
    "Customer: Yes, this is {first}. My number is {tel_national} if we get cut off.",
    "Agent: I can see order ORD-2026-{index:05d} for $1,249.99 placed on 2026-03-14.",
    "Customer: I was charged twice on my card 4111 1111 1111 1111, can you check?",
    "Agent: Of course. Can you confirm the email on file, {email}?",
    "Customer: Yes. You can also reach my husband on (415) 555-0132 or ben@partner.example.",
    "Agent: Please send the refund to IBAN GB82 WEST 1234 5698 7654 32 as before?",
    "Customer: Right, and my SSN for the tax form is 123-45-6789.",
    "Agent: The paperwork goes to 221B Baker Street, London NW1 6XE, correct?",
    "Customer: Correct. Ticket number is 4471-2290 from last week.",
    "Agent: Done, {first}. The refund of $1,249.99 will arrive in 3 to 5 days.",
    "Customer: Thank you, goodbye.",
)


def redaction_sample(index: int, target_bytes: int = 4096) -> str:
    uuid = f"018f0000-0000-7000-9000-{index:012d}"
    first, last = ("Maria", "Okafor") if index % 2 else ("Dev", "Patel")
    tel = f"+4477009{index % 100000:05d}"
    national = f"07700 9{index % 100000:05d}"
    email = f"{first.lower()}.{last.lower()}@example.com"
    dialog = []
    for line, template in enumerate(_LINES):
        dialog.append(
            {
                "type": "text",
                "start": f"2026-02-18T09:00:{line:02d}Z",
                "parties": [line % 2],
                "originator": line % 2,
                "mediatype": "text/plain",
                "encoding": "none",
                "body": template.format(
                    first=first, last=last, tel_national=national, email=email, index=index
                ),
            }
        )
    document: dict[str, object] = {
        "vcon": "0.4.0",
        "uuid": uuid,
        "created_at": f"2026-02-18T09:{index // 60 % 60:02d}:{index % 60:02d}Z",
        "subject": f"Refund call with {first} {last}",
        "parties": [
            {"tel": tel, "name": f"{first} {last}", "mailto": email},
            {"tel": "+14155550100", "name": "Sam Rivers", "mailto": "sam.rivers@shop.example"},
        ],
        "dialog": dialog,
        "analysis": [
            {
                "type": "summary",
                "vendor": "bench",
                "dialog": 0,
                "encoding": "none",
                "body": f"{first} {last} reported a duplicate charge on their card; "
                f"refund to be sent, call back on {national}.",
            }
        ],
        "attachments": [
            {
                "purpose": "tags",
                "encoding": "json",
                "body": ["dept:billing", f"batch:{index // 1_000_000}"],
            }
        ],
    }
    text = json.dumps(document)
    if len(text) < target_bytes:
        filler = " Customer: I'd also like to check the delivery date for the replacement."
        dialog[-1]["body"] = str(dialog[-1]["body"]) + (filler * 40)[: target_bytes - len(text)]
    return json.dumps(document)
