"""Micro-benchmark of the typed vCon conversion (service/vconstore/domain/typed.py).

Times, in one run and on the same ~4 KB vCon, the hand-written converter in
both directions against protobuf's json_format (ParseDict / MessageToDict),
which it exists to replace on the Create/Get hot path (target: <= 150 µs
each way). Also times parties_only and, for scale, json.loads + json.dumps.

    .venv/bin/python bench/bench_typed_conversion.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

from google.protobuf import json_format
from google.protobuf.internal import api_implementation

from vconstore.domain.typed import parties_only, vcon_from_json_value, vcon_to_json_value
from vconstore_proto.vcon.v1 import vcon_pb2


def sample_vcon() -> dict[str, object]:
    """A ~4 KB draft-03 style call: parties, recording + text dialogs, a JSON
    transcript, a summary, tags, and extension members at several levels."""
    parties: list[object] = [
        {
            "tel": "+12025551234",
            "name": "Alice Martin",
            "mailto": "alice.martin@example.com",
            "role": "customer",
            "meta": {"crm_id": "C-88213", "vip": True},
        },
        {
            "tel": "+18005550199",
            "name": "Bob Okafor",
            "mailto": "bob.okafor@support.example.net",
            "role": "agent",
            "uuid": "0190b2d6-3c4e-7a21-9f3e-1b2c3d4e5f60",
        },
    ]
    texts = [
        "Hi, I was charged twice for my subscription this month.",
        "Sorry about that! Let me look at your account right away.",
        "Thanks. The second charge was on the 14th.",
        "I see it. I've issued a refund; it should post in 3-5 business days.",
        "Great. Could you also make sure it does not happen again next month?",
        "Done: the duplicate billing profile is removed. Anything else today?",
        "No, that's all. Thank you for the quick help, Bob!",
    ]
    dialog: list[object] = [
        {
            "type": "recording",
            "start": "2025-03-14T15:02:11.123Z",
            "duration": 312.48,
            "parties": [0, 1],
            "originator": 1,
            "mediatype": "audio/x-wav",
            "filename": "call-0190b2d6.wav",
            "url": "https://media.example.com/rec/0190b2d6.wav",
            "content_hash": (
                "sha512-GLy6IPaIUM1GqzZqfIPZlWjaDsNgNvZM0iCONNThnH0a75fhUM6cYC0eNeKvWw0y"
            ),
            "session_id": {"local": "a84b4c76e66710", "remote": "c2f0b1e9d1a3"},
            "disposition": "hung-up",
        }
    ]
    for i, text in enumerate(texts):
        dialog.append(
            {
                "type": "text",
                "start": f"2025-03-14T15:0{3 + i}:00Z",
                "duration": 0,
                "parties": [i % 2],
                "originator": i % 2,
                "mediatype": "text/plain",
                "encoding": "none",
                "body": text,
                "x_channel": "web-chat",
            }
        )
    segments = [
        {
            "start": round(i * 7.5, 2),
            "end": round(i * 7.5 + 6.9, 2),
            "speaker": i % 2,
            "text": texts[i],
            "confidence": 0.93 + i / 100,
        }
        for i in range(len(texts))
    ]
    return {
        "uuid": "0190b2d6-3c4e-7a21-9f3e-1b2c3d4e5f60",
        "created_at": "2025-03-14T15:10:42.512Z",
        "updated_at": "2025-03-14T15:12:00Z",
        "subject": "Billing dispute: duplicate subscription charge",
        "extensions": ["lawful_basis"],
        "parties": parties,
        "dialog": dialog,
        "analysis": [
            {
                "type": "transcript",
                "dialog": 0,
                "mediatype": "application/json",
                "vendor": "deepgram",
                "product": "nova-2",
                "schema": "deepgram_prerecorded",
                "encoding": "json",
                "body": {"language": "en", "segments": segments},
            },
            {
                "type": "summary",
                "dialog": list(range(len(dialog))),
                "vendor": "openai",
                "product": "gpt-4o",
                "encoding": "none",
                "body": "Customer reported a duplicate charge; agent refunded it.",
            },
        ],
        "attachments": [
            {
                "purpose": "tags",
                "party": 1,
                "dialog": 0,
                "encoding": "json",
                "body": ["queue:billing", "resolution:refund", "sentiment:positive"],
            },
            {
                "purpose": "lawful_basis",
                "start": "2025-03-14T15:02:11Z",
                "party": 0,
                "dialog": 0,
                "encoding": "json",
                "body": {"lawful_basis": "consent", "expiration": "2026-03-14T00:00:00Z"},
            },
        ],
        "x_tenant": {"id": 42, "region": "eu-west-1"},
    }


def per_op_us(fn: Callable[[], object], seconds: float) -> float:
    """Best of five runs, each about seconds/5 long, in µs per call."""
    fn()
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > 0.02:
            break
        loops *= 2
    loops = max(1, int(loops * (seconds / 5) / elapsed))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()

    doc = sample_vcon()
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    message = vcon_from_json_value(doc)
    assert vcon_to_json_value(message) == doc
    # json_format does not know the lossless rules (extra_members is just a
    # Struct to it), so it is fed the typed form's own protobuf-JSON shape:
    # the same amount of data, converted the generic way.
    proto_json = json_format.MessageToDict(message)
    assert json_format.ParseDict(proto_json, vcon_pb2.Vcon()) == message

    print(
        f"python {platform.python_version()}, protobuf backend "
        f"{api_implementation.Type()}, vCon {len(text.encode())} bytes compact JSON, "
        f"{message.ByteSize()} bytes protobuf"
    )
    rows = [
        ("typed.vcon_from_json_value", lambda: vcon_from_json_value(doc)),
        ("typed.vcon_to_json_value", lambda: vcon_to_json_value(message)),
        ("json_format.ParseDict", lambda: json_format.ParseDict(proto_json, vcon_pb2.Vcon())),
        ("json_format.MessageToDict", lambda: json_format.MessageToDict(message)),
        ("typed.parties_only", lambda: parties_only(message)),
        ("json.loads + json.dumps", lambda: json.dumps(json.loads(text))),
    ]
    results = {name: per_op_us(fn, args.seconds) for name, fn in rows}
    for name, us in results.items():
        print(f"{name:30s} {us:8.1f} µs/op")
    print(
        f"speed-up over json_format: from JSON "
        f"{results['json_format.ParseDict'] / results['typed.vcon_from_json_value']:.1f}x, "
        f"to JSON "
        f"{results['json_format.MessageToDict'] / results['typed.vcon_to_json_value']:.1f}x"
    )


if __name__ == "__main__":
    main()
