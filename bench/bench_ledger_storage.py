"""The ledger's SQLite storage at scale: how long filling it takes, how large
the file grows, and how fast `nodes()` answers the keys of an inclusion proof.

Run (default 100,000 leaves, about 10 s):

    .venv/bin/python bench/bench_ledger_storage.py

The 1M-leaf run (about 3,900 batches, each one durable transaction):

    .venv/bin/python bench/bench_ledger_storage.py --leaves 1000000

What it does:
* fill: appends batches of `--batch` leaves (256, the sequencer's default)
  through SqliteLedgerRepository, each with `--statement-bytes` of statement
  (~400 in production), the nodes computed by the ledger's own CompactRange
  (real SHA-256 Merkle nodes, exactly what the sequencer stores) and a head
  of realistic size. One append at a time, as the single sequencer does.
* size: the database file after close (the WAL is checkpointed into it).
* proofs: `--proofs` random inclusion proofs at the latest size, and as many
  at random historical sizes (batch boundaries, where heads are), each one
  `nodes()` call for the keys of merkle.inclusion_plan (~log2(n) keys);
  latency measured around the call, so it includes the hop to a reader
  thread and back. The page cache is warm (the file was just written).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from vconstore.ledger.merkle import CompactRange, inclusion_plan
from vconstore.ledger.ports import AppendBatch, LeafRecord, NodeKey, TreeHead
from vconstore.ledger.storage.sqlite import SqliteLedgerRepository


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _head(tree: CompactRange, now: datetime) -> TreeHead:
    root = tree.root()
    return TreeHead(
        size=tree.size,
        root=root,
        signed_at=now,
        # Sizes of the real ones: a COSE protected header and an ES256 signature,
        # and a C2SP checkpoint with one signature line.
        receipt_protected=os.urandom(60),
        receipt_signature=os.urandom(64),
        checkpoint=f"ledger.example.com/vcons\n{tree.size}\n{root.hex()}\n\n— sig {'A' * 90}\n",
    )


async def fill(
    repository: SqliteLedgerRepository, leaves: int, batch: int, statement_bytes: int
) -> list[int]:
    """Appends `leaves` leaves; returns the batch boundaries (the heads' sizes)."""
    rng = random.Random(1)
    vcons = [f"{rng.getrandbits(128):032x}" for _ in range(max(1, leaves // 4))]
    tree = CompactRange.empty()
    boundaries: list[int] = []
    while tree.size < leaves:
        now = datetime.now(UTC)
        records: list[LeafRecord] = []
        nodes: list[tuple[NodeKey, bytes]] = []
        for _ in range(min(batch, leaves - tree.size)):
            statement = rng.randbytes(statement_bytes)
            leaf_hash = hashlib.sha256(b"\x00" + statement).digest()
            records.append(
                LeafRecord(
                    index=tree.size,
                    leaf_hash=leaf_hash,
                    statement=statement,
                    vcon_uuid=rng.choice(vcons),
                    operation="register",
                    registered_at=now,
                )
            )
            nodes.extend(tree.append(leaf_hash))
        await repository.append(AppendBatch(leaves=records, nodes=nodes, head=_head(tree, now)))
        boundaries.append(tree.size)
        if len(boundaries) % 500 == 0:
            print(f"  ... {tree.size:,} leaves", file=sys.stderr)
    return boundaries


async def proof_latencies(
    repository: SqliteLedgerRepository, sizes: list[int], rng: random.Random
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    key_counts: list[int] = []
    for size in sizes:
        keys = inclusion_plan(rng.randrange(size), size).keys
        started = time.perf_counter()
        found = await repository.nodes(keys)
        latencies.append(time.perf_counter() - started)
        if len(found) != len(keys):
            raise AssertionError(f"{len(keys) - len(found)} proof nodes missing at size {size}")
        key_counts.append(len(keys))
    return latencies, key_counts


def _report(label: str, latencies: list[float], key_counts: list[int]) -> None:
    micros = [value * 1e6 for value in latencies]
    print(
        f"nodes() {label}: keys/proof mean {statistics.mean(key_counts):.1f}"
        f" (max {max(key_counts)}); p50 {_percentile(micros, 0.50):.0f} us,"
        f" p99 {_percentile(micros, 0.99):.0f} us, mean {statistics.mean(micros):.0f} us"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--statement-bytes", type=int, default=400)
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the file goes (a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        path = Path(scratch) / "ledger" / "ledger.sqlite3"
        repository = SqliteLedgerRepository(path)
        await repository.open()
        started = time.perf_counter()
        boundaries = await fill(repository, args.leaves, args.batch, args.statement_bytes)
        elapsed = time.perf_counter() - started
        await repository.close()
        size_bytes = path.stat().st_size
        print(
            f"fill: {args.leaves:,} leaves in {len(boundaries):,} batches of {args.batch}:"
            f" {elapsed:.1f} s ({args.leaves / elapsed:,.0f} leaves/s,"
            f" {elapsed / len(boundaries) * 1e3:.1f} ms/batch)"
        )
        print(
            f"file: {size_bytes / 1e6:.1f} MB ({size_bytes / args.leaves:.0f} bytes/leaf,"
            f" statements {args.statement_bytes} bytes)"
        )

        repository = SqliteLedgerRepository(path)
        await repository.open()
        try:
            rng = random.Random(2)
            latest = [boundaries[-1]] * args.proofs
            historical = [rng.choice(boundaries) for _ in range(args.proofs)]
            _report("at the latest size", *await proof_latencies(repository, latest, rng))
            _report("at historical sizes", *await proof_latencies(repository, historical, rng))
        finally:
            await repository.close()


if __name__ == "__main__":
    asyncio.run(main())
