"""Ledger benchmark: registrations/s against ES256 verification on one core,
time to receipt, and inclusion-proof generation on a large tree.

    python bench/bench_ledger.py                      # registrations (~1 min)
    python bench/bench_ledger.py --proof-leaves 1000000   # + proofs at 1M (~3 min more)

Registrations: `vconstore ledger serve` runs as a real process on embedded
SQLite; the client sends RegisterStatements calls of --batch pre-signed
statements from --concurrency callers at once. Every statement is new, so
the ledger parses it and verifies its issuer signature, sequences it, makes
it durable and answers its receipt. In the same run the bench measures how
many ES256 verifications one core does (cryptography, one thread) and prints
registrations/s as a ratio to that (target >= 0.7), with the p50/p99 time
from sending a call to holding its receipts (target p99 < 100 ms).

Proofs (--proof-leaves N): a SQLite ledger of N leaves is filled directly
through the storage port, then inclusion proofs (plan, one nodes() read,
assembly) for random leaves at the latest size and at random older sizes are
timed in process (target p99 < 2 ms at 1,000,000).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

from vconstore.ledger.merkle import CompactRange, inclusion_plan, root_plan
from vconstore.ledger.ports import AppendBatch, LeafRecord, TreeHead
from vconstore.ledger.signing import SigningKey
from vconstore.ledger.statements import (
    IssuerTrust,
    OperationRecord,
    make_statement,
    parse_statement,
)
from vconstore.ledger.storage.sqlite import SqliteLedgerRepository
from vconstore_client.transparency.cose import verify_es256
from vconstore_client.transparency.merkle import leaf_hash
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2 as pb
from vconstore_proto.vcon.ledger.v1 import ledger_service_pb2_grpc

ISSUER = "vconstore"
CREDENTIAL = "bench-ledger-credential-0123456789"


def _statements(key: SigningKey, count: int) -> list[bytes]:
    now = datetime.now(UTC)
    org = hashlib.sha256(b"bench-org").hexdigest()
    return [
        make_statement(
            OperationRecord(
                operation="register",
                vcon_uuid=f"{n:08x}-0000-7000-8000-{n:012x}",
                org=org,
                content_hash="sha256:" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest(),
                issued_at=now,
            ),
            key,
            ISSUER,
        )
        for n in range(count)
    ]


def verifications_per_second(key: SigningKey, statements: list[bytes], seconds: float) -> float:
    """ES256 verifications of statement signatures on ONE thread (cryptography)."""
    parsed = [parse_statement(raw).sign1 for raw in statements[:512]]
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for sign1 in parsed:
            verify_es256(key.public_key, sign1)
        done += len(parsed)
    return done / (time.perf_counter() - started)


def statement_checks_per_second(key: SigningKey, statements: list[bytes], seconds: float) -> float:
    """What admission does per new statement, on ONE thread: decode the COSE
    message and its payload, check the format, verify the signature."""
    trust = IssuerTrust([(ISSUER, key.public_key)])
    sample = statements[:512]
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for raw in sample:
            trust.verify(parse_statement(raw))
        done += len(sample)
    return done / (time.perf_counter() - started)


def _start_ledger(data_dir: Path, trust: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vconstore",
            "ledger",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--trusted-issuer",
            f"{ISSUER}={trust}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "VCON_LEDGER_CREDENTIAL": CREDENTIAL},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ledger ready on "):
        process.kill()
        raise SystemExit(f"ledger did not start: {line!r}")
    return process, line.removeprefix("ledger ready on ").strip()


async def register_all(
    address: str, statements: list[bytes], *, batch: int, concurrency: int
) -> tuple[float, list[float]]:
    """Registrations/s and per-call latencies (seconds) over all statements."""
    chunks = [statements[i : i + batch] for i in range(0, len(statements), batch)]
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ledger_service_pb2_grpc.LedgerServiceStub(channel)
        # The credential the store presents: the register RPCs demand it.
        metadata = (("authorization", f"Bearer {CREDENTIAL}"),)
        # Warm-up (connection, first batch), not counted.
        await stub.RegisterStatements(
            pb.RegisterStatementsRequest(signed_statements=chunks[0]), metadata=metadata
        )
        queue = iter(chunks[1:])

        async def caller() -> None:
            for chunk in queue:
                sent = time.perf_counter()
                answer = await stub.RegisterStatements(
                    pb.RegisterStatementsRequest(signed_statements=chunk), metadata=metadata
                )
                latencies.append(time.perf_counter() - sent)
                if any(r.WhichOneof("result") != "registration" for r in answer.results):
                    raise SystemExit("a statement was refused")

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return (len(statements) - len(chunks[0])) / elapsed, latencies


def _percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


async def fill(repository: SqliteLedgerRepository, leaves: int, batch: int = 1024) -> None:
    tree = CompactRange.empty()
    now = datetime.now(UTC)
    key = SigningKey.generate()
    shown = time.perf_counter()
    while tree.size < leaves:
        records, nodes = [], []
        for _ in range(min(batch, leaves - tree.size)):
            statement = tree.size.to_bytes(8, "big") * 50
            hashed = leaf_hash(statement)
            records.append(
                LeafRecord(
                    tree.size,
                    hashed,
                    statement,
                    f"{tree.size:08x}-0000-7000-8000-000000000000",
                    "register",
                    now,
                )
            )
            nodes.extend(tree.append(hashed))
        head = TreeHead(tree.size, tree.root(), now, b"", key.sign(tree.root()), "")
        await repository.append(AppendBatch(records, nodes, head))
        if time.perf_counter() - shown > 2:
            print(f"  filled {tree.size:,} / {leaves:,}", file=sys.stderr, flush=True)
            shown = time.perf_counter()


async def proof_latencies(path: Path, leaves: int, samples: int) -> tuple[list[float], list[float]]:
    repository = SqliteLedgerRepository(path)
    await repository.open()
    try:
        head = await repository.latest_head()
        if head is None or head.size < leaves:
            await fill(repository, leaves)
        rng = random.Random(7)
        latest, older = [], []
        for sizes, out in ((lambda: leaves, latest), (lambda: rng.randint(1, leaves), older)):
            for _ in range(samples):
                size = sizes()
                index = rng.randrange(size)
                started = time.perf_counter()
                plan, root = inclusion_plan(index, size), root_plan(size)
                nodes = await repository.nodes(plan.keys | root.keys)
                plan.assemble(nodes)
                root.assemble(nodes)
                out.append(time.perf_counter() - started)
        return latest, older
    finally:
        await repository.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--proof-leaves", type=int, default=0)
    parser.add_argument("--proof-samples", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vconstore-bench-ledger-") as tmp:
        root = Path(tmp)
        issuer = SigningKey.generate()
        trust = root / "issuer.pem"
        trust.write_text(issuer.public_pem(), encoding="ascii")
        print(f"signing {args.statements:,} statements...", file=sys.stderr, flush=True)
        statements = _statements(issuer, args.statements)
        verify_rate = verifications_per_second(issuer, statements, 3.0)
        check_rate = statement_checks_per_second(issuer, statements, 3.0)
        process, address = _start_ledger(root / "ledger", trust)
        try:
            rate, latencies = asyncio.run(
                register_all(address, statements, batch=args.batch, concurrency=args.concurrency)
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
        p50, p99 = _percentile(latencies, 50) * 1000, _percentile(latencies, 99) * 1000
        ratio = rate / verify_rate
        print(
            f"ledger: {args.statements:,} statements of {len(statements[0])} bytes, "
            f"{args.batch} per RegisterStatements call, {args.concurrency} calls at once, "
            f"{os.cpu_count()} CPUs, embedded SQLite"
        )
        print(f"ES256 verify, one core   {verify_rate:8.0f} /s   (the target's denominator)")
        print(f"statement decode+check+verify, one core {check_rate:8.0f} /s")
        print(
            f"registrations            {rate:8.0f} /s   time to receipt p50 {p50:6.1f} ms"
            f"   p99 {p99:6.1f} ms"
        )
        print(
            f"ratio registrations/verify {ratio:.2f} (target >= 0.7) "
            f"{'OK' if ratio >= 0.7 else 'BELOW TARGET'}; "
            f"p99 time to receipt {'OK' if p99 < 100 else 'ABOVE TARGET'} (target < 100 ms)"
        )
        print(
            f"ratio registrations/statement checks {rate / check_rate:.2f}; registrations "
            f"{'>=' if rate >= 5000 else '<'} 5,000/s (target >= 5,000/s)"
        )
        if args.proof_leaves:
            latest, older = asyncio.run(
                proof_latencies(root / "proofs.sqlite3", args.proof_leaves, args.proof_samples)
            )
            for name, values in (("latest size", latest), ("older sizes", older)):
                print(
                    f"inclusion proof at {args.proof_leaves:,} leaves, {name}: "
                    f"p50 {_percentile(values, 50) * 1000:.3f} ms "
                    f"p99 {_percentile(values, 99) * 1000:.3f} ms (target p99 < 2 ms)"
                )


if __name__ == "__main__":
    main()
