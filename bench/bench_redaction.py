"""Redaction throughput: single RedactVcon calls and the two bulk streams.

Run: .venv/bin/python bench/bench_redaction.py [--vcons N] [--concurrency C]

`vconstore up` (store and ledger, embedded SQLite, two redaction worker
processes by default) runs as a real process,
holding N ~4 KB corpus-shaped vCons (bench/redaction_samples.py: a call with
its parties' names and numbers, third-party phones, an email, a card, an
IBAN, an SSN and an address in its texts). Then, each on fresh vCons:
* RedactVcon: C concurrent unary calls;
* RedactMatching: one server stream over a filter matching N vCons;
* RedactVcons: one bidirectional stream of N uuids.
Every redaction is stored, signed and registered on the ledger (operation
`redact`) before its result is sent. Printed: vCons/s for each, and the
target (bulk >= 300 vCons/s on the 2-core machine, issue 7).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vcon_service import cpu_seconds
from redaction_samples import redaction_sample

from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb
from vconstore_proto.vcon.v1 import vcon_service_pb2_grpc

KEY = "vcs_live_sk_" + "redactbench" * 4
METADATA = (("authorization", f"Bearer {KEY}"),)
TARGET_BULK = 300.0


def start(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "vconstore", "up", "--port", "0"),
            *("--data-dir", data_dir, "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "VCON_DEV_API_KEY": KEY},
    )
    assert process.stdout is not None
    for _ in range(3):
        line = process.stdout.readline()
        if line.startswith("vconstore ready on "):
            return process, line.removeprefix("vconstore ready on ").strip()
    process.kill()
    raise SystemExit(f"vconstore up did not start: {line!r}")


async def load(stub: vcon_service_pb2_grpc.VconServiceStub, first: int, count: int) -> list[str]:
    uuids: list[str] = []
    queue = iter(range(first, first + count))

    async def worker() -> None:
        for index in queue:
            created = await stub.CreateVcon(
                pb.CreateVconRequest(vcon_json=redaction_sample(index)), metadata=METADATA
            )
            uuids.append(created.uuid)

    await asyncio.gather(*(worker() for _ in range(32)))
    return uuids


async def single(stub: vcon_service_pb2_grpc.VconServiceStub, uuids: list[str], c: int) -> float:
    queue = iter(uuids)
    started = time.perf_counter()

    async def worker() -> None:
        for uuid in queue:
            answer = await stub.RedactVcon(pb.RedactVconRequest(uuid=uuid), metadata=METADATA)
            assert answer.redacted

    await asyncio.gather(*(worker() for _ in range(c)))
    return len(uuids) / (time.perf_counter() - started)


async def matching(stub: vcon_service_pb2_grpc.VconServiceStub, tag: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = errors = 0
    async for item in stub.RedactMatching(
        pb.RedactMatchingRequest(filter=pb.ListVconsRequest(tag=tag)), metadata=METADATA
    ):
        if item.HasField("result"):
            done += 1
            errors += item.result.HasField("error")
    assert errors == 0, f"{errors} redactions failed"
    return done / (time.perf_counter() - started), done


async def bidi(stub: vcon_service_pb2_grpc.VconServiceStub, uuids: list[str]) -> float:
    async def requests() -> AsyncIterator[pb.RedactVconsRequest]:
        for uuid in uuids:
            yield pb.RedactVconsRequest(uuid=uuid)

    started = time.perf_counter()
    done = 0
    async for item in stub.RedactVcons(requests(), metadata=METADATA):
        assert item.HasField("result"), item.error.message
        done += 1
    assert done == len(uuids)
    return done / (time.perf_counter() - started)


def process_tree(pid: int) -> dict[str, int]:
    """The store (`up`), its ledger and redaction workers, and this client."""
    found = {"store": pid, "client": os.getpid()}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        name = "ledger" if b"ledger" in command else "workers"
        found[name if name not in found else f"{name}+{child}"] = child
    return found


class CpuMeter:
    """CPU seconds per process over a phase, per vCon redacted."""

    def __init__(self, pid: int) -> None:
        self._tree = process_tree(pid)
        self._before = {name: cpu_seconds(p) for name, p in self._tree.items()}

    def line(self, vcons: int) -> str:
        used = {n: cpu_seconds(p) - self._before[n] for n, p in self._tree.items()}
        return "   CPU per vCon: " + "  ".join(
            f"{name} {seconds / max(vcons, 1) * 1e3:.2f} ms" for name, seconds in used.items()
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vcons", type=int, default=600, help="vCons per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    n = args.vcons
    with tempfile.TemporaryDirectory() as data_dir:
        process, address = start(data_dir)
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = vcon_service_pb2_grpc.VconServiceStub(channel)
                first = await load(stub, 0, n)
                # The bulk phase's vCons carry a tag of their own (batch:2).
                await load(stub, 2_000_000, n)
                third = await load(stub, 3_000_000, n)
                print(f"loaded {3 * n} vCons of ~4 KB", flush=True)
                meter = CpuMeter(process.pid)
                rate = await single(stub, first, args.concurrency)
                print(f"RedactVcon     {rate:7.0f} vCons/s  ({args.concurrency} concurrent calls)")
                print(meter.line(len(first)))
                meter = CpuMeter(process.pid)
                m_rate, m_done = await matching(stub, "batch:2")
                print(f"RedactMatching {m_rate:7.0f} vCons/s  ({m_done} matching one filter)")
                print(meter.line(m_done))
                meter = CpuMeter(process.pid)
                b_rate = await bidi(stub, third)
                print(f"RedactVcons    {b_rate:7.0f} vCons/s  ({len(third)} uuids on one stream)")
                print(meter.line(len(third)))
        finally:
            process.terminate()
            process.wait()
    best = max(m_rate, b_rate)
    verdict = "OK" if min(m_rate, b_rate) >= TARGET_BULK else "BELOW TARGET"
    print(
        f"bulk redaction {min(m_rate, b_rate):.0f}-{best:.0f} vCons/s "
        f"(target >= {TARGET_BULK:.0f}) {verdict}"
    )


if __name__ == "__main__":
    asyncio.run(main())
