"""CreateVcon and GetVcon throughput against a bare grpc.aio echo server.

Run: make bench   (or: .venv/bin/python bench/bench_vcon_service.py [--seconds S])

All three measurements run in one invocation on the same machine, so the
printed ratios are meaningful even where absolute numbers drift:
* echo: a bare grpc.aio server (default asyncio loop) in its own process that
  returns the request bytes, fed the same ~4 KB payload at the same
  concurrency; this is the reference of the targets. The same echo on uvloop
  (which vconstore runs on) is measured too and its ratios printed, so the
  gain from the faster loop is visible rather than hidden;
* CreateVcon: the store alone (`vconstore serve --no-ledger`, embedded
  SQLite) in its own process, each call a distinct ~4 KB vCon: the foundation's
  measurement, before any ledger existed;
* GetVcon (default view: typed + JSON) of the vCons just created;
* CreateVcon+ledger: `vconstore up` (the store and its ledger process), each
  create signed, registered and answered with its receipt; every answer is
  decoded to count how many came back REGISTERED within the wait.
The client sends pre-serialised bytes through identity serializers for all
of them, so client-side protobuf work is the same (none) everywhere, and the
same `authorization: Bearer` API key metadata (the store checks it; the echo
ignores it).
Targets: CreateVcon >= 0.35 x echo, GetVcon >= 0.6 x echo (issue 2);
CreateVcon+ledger >= 0.7 x CreateVcon (issue 5).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from vconstore_proto.vcon.v1 import vcon_service_pb2 as pb

ECHO_METHOD = "/bench.Echo/Echo"
CREATE_METHOD = "/vcon.v1.VconService/CreateVcon"
GET_METHOD = "/vcon.v1.VconService/GetVcon"
READY = "ready on "
# `up`'s development key in the ledger phase (VCON_DEV_API_KEY); the echo is
# sent it too, so every phase carries the same metadata.
BENCH_KEY = "vcs_live_sk_" + "bench" * 8

try:
    import uvloop

    HAVE_UVLOOP = True
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    HAVE_UVLOOP = False

ECHO_SERVER = r"""
import asyncio, sys, grpc
run = asyncio.run
if sys.argv[1:] == ["uvloop"]:
    import uvloop
    run = uvloop.run
async def main():
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo_async)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"echo ready on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()
async def echo_async(request, context):
    return request
run(main())
"""


DIALOGS = 12


def sample_vcon(index: int, target_bytes: int = 4096) -> str:
    """A realistic ~4 KB vCon: two parties, 12 text dialogs, an analysis, tags."""
    uuid = f"018f0000-0000-7000-8000-{index:012d}"
    dialog: list[dict[str, object]] = []
    document: dict[str, object] = {
        "vcon": "0.4.0",
        "uuid": uuid,
        "created_at": f"2026-02-18T09:{index // 60 % 60:02d}:{index % 60:02d}Z",
        "subject": f"Support call {index}",
        "parties": [
            {"tel": "+44 7700 900000", "name": "Alice Customer", "mailto": "alice@example.com"},
            {"tel": "+44 7700 900001", "name": "Bob Agent", "mailto": "bob@example.com"},
        ],
        "dialog": dialog,
        "analysis": [
            {
                "type": "summary",
                "vendor": "bench",
                "dialog": 0,
                "encoding": "none",
                "body": "Customer reported a duplicate charge; refund processed.",
            }
        ],
        "attachments": [
            {
                "purpose": "tags",
                "party": 0,
                "dialog": 0,
                "start": "2026-02-18T09:00:00Z",
                "encoding": "json",
                "body": ["dept:billing", "priority:high"],
            }
        ],
    }
    # The shape the figures were measured with (research/perf-baseline):
    # a dozen text dialogs, their bodies sized so the whole is ~target_bytes.
    sentence = "I was charged twice for my subscription this month, can you check? "
    for line in range(DIALOGS):
        dialog.append(
            {
                "type": "text",
                "start": f"2026-02-18T09:00:{line:02d}Z",
                "parties": [line % 2],
                "originator": line % 2,
                "mediatype": "text/plain",
                "encoding": "none",
                "body": f"Line {line}: ",
            }
        )
    room = max(0, target_bytes - len(json.dumps(document)))
    for line, entry in enumerate(dialog):
        share = room // DIALOGS + (1 if line < room % DIALOGS else 0)
        entry["body"] += (sentence * (share // len(sentence) + 1))[:share]
    return json.dumps(document)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    calls: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    server_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def line(self) -> str:
        qs = (
            statistics.quantiles(self.latencies_ms, n=100)
            if len(self.latencies_ms) > 1
            else [0] * 99
        )
        cpu_us = self.server_cpu_s / max(self.calls, 1) * 1e6
        return (
            f"{self.name:<10} {self.rate:8.0f} calls/s   p50 {qs[49]:7.2f} ms   "
            f"p99 {qs[98]:7.2f} ms   server CPU {cpu_us:5.0f} µs/call"
            f"   calls {self.calls}   errors {self.errors}"
        )


async def drive(
    name: str,
    address: str,
    method: str,
    payloads: Callable[[int], bytes],
    concurrency: int,
    seconds: float,
    max_calls: int | None = None,
    on_response: Callable[[bytes], None] | None = None,
    api_key: str = BENCH_KEY,
) -> Result:
    # Every call carries the API key, the echo's too (same bytes on the wire).
    metadata = (("authorization", f"Bearer {api_key}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out
        await call(payloads(0), metadata=metadata)  # warm the connection
        latencies: list[float] = []
        errors = 0
        counter = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal counter, errors
            while time.perf_counter() < deadline and (max_calls is None or counter < max_calls):
                counter += 1
                payload = payloads(counter)
                started = time.perf_counter()
                try:
                    response = await call(payload, metadata=metadata)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if on_response is not None:
                    on_response(response)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), elapsed, latencies, errors)


def start(
    command: Sequence[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.startswith("ledger ready on "):  # `vconstore up` starts its ledger first
        line = process.stdout.readline()
    if line.startswith("development key: "):  # then prints the key --api-key gave it
        line = process.stdout.readline()
    if READY not in line:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.split(READY, 1)[1].strip()


async def measured(process: subprocess.Popen[str], run: Awaitable[Result]) -> Result:
    before = cpu_seconds(process.pid)
    result = await run
    result.server_cpu_s = cpu_seconds(process.pid) - before
    return result


async def echo_phase(name: str, loop: str, args: argparse.Namespace, payload: bytes) -> Result:
    process, address = start([sys.executable, "-c", ECHO_SERVER, loop])
    try:
        result = await measured(
            process,
            drive(name, address, ECHO_METHOD, lambda i: payload, args.concurrency, args.seconds),
        )
    finally:
        process.terminate()
        process.wait()
    print(result.line(), flush=True)
    return result


async def one_round(
    args: argparse.Namespace, echo_payload: bytes, first_index: int
) -> tuple[Result, Result, Result, Result | None, Result]:
    # The reference: a bare grpc.aio server on the default asyncio loop.
    echo = await echo_phase("echo", "asyncio", args, echo_payload)
    # For transparency: the same echo on uvloop, which vconstore itself runs on.
    echo_uvloop = await echo_phase("echo/uv", "uvloop", args, echo_payload) if HAVE_UVLOOP else None

    env = {"VCON_MONGODB_URI": args.mongodb_uri} if args.mongodb_uri else None
    # Pre-serialised, bounded: ~4,000 creates/s is beyond what 2 cores reach.
    budget = int(args.seconds * 4000)
    with tempfile.TemporaryDirectory() as data_dir:
        key = _create_bench_key(data_dir, env)
        store_process, store_address = start(_vconstore("serve", "--no-ledger", data_dir), env)
        try:
            creates = _creates(first_index, budget)
            create = await _create_phase(
                "CreateVcon", store_process, store_address, creates, args, api_key=key
            )
            stored = max(create.calls, 1)
            gets = [
                pb.GetVconRequest(
                    uuid=f"018f0000-0000-7000-8000-{first_index + i:012d}"
                ).SerializeToString()
                for i in range(stored)
            ]
            get = await measured(
                store_process,
                drive(
                    "GetVcon",
                    store_address,
                    GET_METHOD,
                    lambda i: gets[i % stored],
                    args.concurrency,
                    args.seconds,
                    api_key=key,
                ),
            )
            print(get.line(), flush=True)
        finally:
            store_process.terminate()
            store_process.wait()
    with tempfile.TemporaryDirectory() as data_dir:
        store_process, store_address = start(
            _vconstore("up", None, data_dir), {**(env or {}), "VCON_DEV_API_KEY": BENCH_KEY}
        )
        try:
            statuses: collections.Counter[str] = collections.Counter()

            def count(response: bytes) -> None:
                scitt = pb.CreateVconResponse.FromString(response).scitt
                statuses[pb.ScittEntry.Status.Name(scitt.status)] += 1

            ledgered = await _create_phase(
                "Create+ldg",
                store_process,
                store_address,
                _creates(first_index + 500_000, budget),
                args,
                on_response=count,
            )
            print(f"   answers: {dict(sorted(statuses.items()))}", flush=True)
        finally:
            store_process.terminate()
            store_process.wait()
    return echo, create, get, echo_uvloop, ledgered


def _create_bench_key(data_dir: str, env: dict[str, str] | None) -> str:
    """A key for `serve`, which creates none: `vconstore admin create-key`."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "vconstore", "admin", "create-key", "--org", "bench"),
            *("--scopes", "vcons:read,vcons:write", "--data-dir", data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return done.stdout.strip()


def _vconstore(command: str, flag: str | None, data_dir: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vconstore",
        command,
        *([flag] if flag else []),
        "--port",
        "0",
        "--data-dir",
        data_dir,
        "--log-level",
        "warning",
    ]


def _creates(first_index: int, count: int) -> list[bytes]:
    return [
        pb.CreateVconRequest(vcon_json=sample_vcon(first_index + i)).SerializeToString()
        for i in range(count)
    ]


async def _create_phase(
    name: str,
    process: subprocess.Popen[str],
    address: str,
    creates: list[bytes],
    args: argparse.Namespace,
    on_response: Callable[[bytes], None] | None = None,
    api_key: str = BENCH_KEY,
) -> Result:
    result = await measured(
        process,
        drive(
            name,
            address,
            CREATE_METHOD,
            lambda i: creates[i - 1],
            args.concurrency,
            args.seconds,
            max_calls=len(creates),
            on_response=on_response,
            api_key=api_key,
        ),
    )
    print(result.line(), flush=True)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; the median ratio is reported"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--mongodb-uri", help="run the store on MongoDB instead of SQLite")
    args = parser.parse_args()

    payload_text = sample_vcon(0)
    print(
        f"payload: {len(payload_text.encode())} byte vCon, {args.concurrency} concurrent calls, "
        f"{args.seconds:.0f} s per phase, {args.rounds} rounds, {os.cpu_count()} CPUs, "
        f"event loop: {'uvloop' if HAVE_UVLOOP else 'asyncio'}, "
        f"storage: {'MongoDB' if args.mongodb_uri else 'SQLite'}",
        flush=True,
    )
    echo_payload = pb.CreateVconRequest(vcon_json=payload_text).SerializeToString()
    create_ratios, get_ratios, uv_create, uv_get, ledger_ratios = [], [], [], [], []
    for round_index in range(args.rounds):
        print(f"-- round {round_index + 1}", flush=True)
        echo, create, get, echo_uv, ledgered = await one_round(
            args, echo_payload, 1 + round_index * 1_000_000
        )
        create_ratios.append(create.rate / echo.rate)
        get_ratios.append(get.rate / echo.rate)
        ledger_ratios.append(ledgered.rate / create.rate)
        print(
            f"   ratios: CreateVcon/echo {create_ratios[-1]:.2f}  GetVcon/echo {get_ratios[-1]:.2f}"
            f"  CreateVcon+ledger/CreateVcon {ledger_ratios[-1]:.2f}"
        )
        if echo_uv is not None:
            uv_create.append(create.rate / echo_uv.rate)
            uv_get.append(get.rate / echo_uv.rate)
            print(f"   against echo/uv: CreateVcon {uv_create[-1]:.2f}  GetVcon {uv_get[-1]:.2f}")
    create_ratio = statistics.median(create_ratios)
    get_ratio = statistics.median(get_ratios)
    if uv_create:
        print(
            f"against the uvloop echo (not the target's reference): CreateVcon "
            f"{statistics.median(uv_create):.2f}  GetVcon {statistics.median(uv_get):.2f}"
        )
    print(
        f"ratio CreateVcon/echo {create_ratio:.2f} median of {args.rounds} (target >= 0.35) "
        f"{'OK' if create_ratio >= 0.35 else 'BELOW TARGET'}"
    )
    print(
        f"ratio GetVcon/echo    {get_ratio:.2f} median of {args.rounds} (target >= 0.60) "
        f"{'OK' if get_ratio >= 0.6 else 'BELOW TARGET'}"
    )
    ledger_ratio = statistics.median(ledger_ratios)
    print(
        f"ratio CreateVcon+ledger/CreateVcon {ledger_ratio:.2f} median of {args.rounds} "
        f"(target >= 0.70) {'OK' if ledger_ratio >= 0.7 else 'BELOW TARGET'}"
    )


if __name__ == "__main__":
    if HAVE_UVLOOP:
        uvloop.run(main())
    else:
        asyncio.run(main())
