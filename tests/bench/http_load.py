"""A small HTTP/1.1 load generator, used by `make bench` only when wrk is not installed:
N keep-alive connections (asyncio streams), each sending its next request as soon as
the previous answer is read, for a number of seconds. Run in a process of its own:

    python -m tests.bench.http_load URL --connections 32 --seconds 8 --header 'K: V'
        [--trades JOB,VAULTS,FIRST]     (POST bodies of fresh trades instead of GETs)

Prints one JSON object: requests, non2xx, errors, seconds, rps, p50_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

from tests.bench.common import FROM, TO, VAULT, address


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.host, self.port, self.path = url.hostname, url.port or 80, url.path or "/"
        self.headers = "".join(f"{h}\r\n" for h in args.header)
        self.trades = args.trades.split(",") if args.trades else None
        self.next = int(self.trades[2]) if self.trades else 0
        self.requests = self.non2xx = self.errors = 0
        self.latencies: list[float] = []

    def request(self) -> bytes:
        head = f"Host: {self.host}:{self.port}\r\n{self.headers}"
        if not self.trades:
            return f"GET {self.path} HTTP/1.1\r\n{head}\r\n".encode()
        job, vaults = self.trades[0], int(self.trades[1])
        i = self.next
        self.next += 1
        v, p = i % vaults, i // vaults
        body = json.dumps(
            {
                "job_id": job,
                "user_vault_address": address(VAULT, v),
                "client_order_id": f"h{i}",
                "from_token_address": address(FROM, p),
                "to_token_address": address(TO, p),
                "amount_in": "1000000",
                "expected_amount_out": "990000",
            }
        ).encode()
        return (
            f"POST {self.path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def connection(self, deadline: float) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(self.request())
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.latencies.append(time.perf_counter() - started)
                self.requests += 1
                if not status_line.split(b" ")[1].startswith(b"2"):
                    self.non2xx += 1
        except (OSError, asyncio.IncompleteReadError, IndexError):
            self.errors += 1
        finally:
            writer.close()

    async def run(self, connections: int, seconds: float) -> dict[str, float]:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(self.connection(deadline) for _ in range(connections)))
        elapsed = time.perf_counter() - started
        return {
            "requests": self.requests,
            "non2xx": self.non2xx,
            "errors": self.errors,
            "seconds": elapsed,
            "rps": self.requests / elapsed,
            "p50_ms": statistics.median(self.latencies) * 1000 if self.latencies else 0.0,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--trades", help="JOB,VAULTS,FIRST: POST fresh trades")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(Load(args).run(args.connections, args.seconds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
