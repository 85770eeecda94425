"""Benchmark the OneRoster REST fetch against a loopback SIS (standalone script).

Usage: ``python benchmarks/bench_rest.py [--students 1000000] [--version 1.2]
[--page-size 1000] [--concurrency 4] [--bundle DIR] [--keep]``.

1. Generates a district (``rollbook generate``; or reuses ``--bundle``).
2. Starts a SIS in its own process that pre-renders every page as OneRoster JSON (the
   fetch's inverse mapping, ``rest/render.py``) into one file per collection, then serves
   them from memory-mapped files with ``X-Total-Count`` and ``Link`` headers (bearer token).
3. Runs ``fetch_bundle`` in a third process and reports, for the client alone: wall time,
   records per second, CPU seconds (user + system) and CPU per record, peak RSS.
4. Checks the fetched bundle has every row (reads its CSV line counts, not the model).

The server's CPU is its own process's: the client's figures are not mixed with it.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

TOKEN = "bench-token"
PREFIX = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}


# -- the loopback SIS (its own process) ------------------------------------------------------


def prerender(bundle: Path, version: str, page_size: int, out: Path) -> dict:
    """Write every page of every collection as JSON; return the index."""
    from rollbook.oneroster.rest import mapping, render

    index = {}
    for c in mapping.COLLECTIONS:
        starts, total, chunk = [], 0, []
        with open(out / f"{c.path}.pages", "wb") as fh:

            def flush(rows: list[dict], fh=fh, starts=starts, path=c.path) -> None:
                starts.append(fh.tell())
                fh.write(orjson.dumps({path: rows}))

            for rec in render.records(bundle, version, c, base_url="http://127.0.0.1"):
                chunk.append(rec)
                total += 1
                if len(chunk) == page_size:
                    flush(chunk)
                    chunk = []
            if chunk:
                flush(chunk)
            starts.append(fh.tell())
        index[c.path] = {"total": total, "starts": starts}
    return index


def serve(folder: Path, port_file: Path, version: str, page_size: int) -> None:
    """Serve the pre-rendered pages until killed."""
    index = json.loads((folder / "index.json").read_text())
    maps = {}
    for path in index:
        size = (folder / f"{path}.pages").stat().st_size
        if size:
            with open(folder / f"{path}.pages", "rb") as fh:
                maps[path] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    prefix = PREFIX[version]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            parts = urlsplit(self.path)
            path = parts.path.removeprefix(prefix + "/")
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if self.headers.get("Authorization") != f"Bearer {TOKEN}" or path not in index:
                self.send_response(401 if path in index else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", page_size))
            entry = index[path]
            n = offset // page_size
            starts = entry["starts"]
            if limit != page_size or offset % page_size or n >= len(starts) - 1:
                body = orjson.dumps({path: []})
            else:
                body = maps[path][starts[n] : starts[n + 1]]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Total-Count", str(entry["total"]))
            if offset + page_size < entry["total"]:
                nxt = urlencode({"limit": limit, "offset": offset + page_size})
                self.send_header("Link", f'<{self.server.base}/{path}?{nxt}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    httpd.base = f"http://{host}:{port}{prefix}"
    port_file.write_text(httpd.base)
    httpd.serve_forever()


# -- the client (its own process) ------------------------------------------------------------


def client(base_url: str, version: str, out: Path, page_size: int, concurrency: int) -> None:
    """Fetch into ``out`` and print the client's own figures as JSON."""
    from rollbook.oneroster.rest import BearerCredentials, FetchOptions, RestSource, fetch_bundle

    source = RestSource(base_url, version, BearerCredentials(TOKEN))
    seen: dict[str, int] = {}
    last = [0.0]

    def progress(collection: str, records: int, total: int | None) -> None:
        seen[collection] = records
        if time.monotonic() - last[0] > 10:  # the client's memory as the fetch goes
            last[0] = time.monotonic()
            rss = _vm_rss_mb()
            print(f"  rss {rss:,.0f} MB at {sum(seen.values()):,} records", file=sys.stderr)

    options = FetchOptions(
        page_size=page_size, concurrency=concurrency, max_pages=10**7, on_progress=progress
    )
    peak = [0.0, ""]

    def sample() -> None:  # where the peak is: RSS every 0.2 s with the progress then
        while True:
            rss = _vm_rss_mb()
            if rss > peak[0]:
                peak[:] = [rss, ", ".join(f"{k} {v:,}" for k, v in seen.items())]
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    t0, c0 = time.perf_counter(), os.times()
    report = fetch_bundle(source, out, options=options)
    wall, c1 = time.perf_counter() - t0, os.times()
    print(f"  peak {peak[0]:,.0f} MB at {peak[1]}", file=sys.stderr)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forked driver into exec
    hwm = _vm_rss_mb("VmHWM:")
    print(
        json.dumps(
            {
                "records": report.records,
                "requests": report.requests,
                "bytes": report.bytes,
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": hwm,
                "by_collection": {k: v.records for k, v in report.collections.items()},
            }
        )
    )


def _vm_rss_mb(field: str = "VmRSS:") -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the driver ------------------------------------------------------------------------------


def _csv_rows(folder: Path) -> dict[str, int]:
    out = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name != "manifest.csv":
            with open(path, "rb") as fh:
                out[path.stem] = sum(1 for _ in fh) - 1
    return out


def main() -> None:
    """Run the benchmark."""
    p = argparse.ArgumentParser()
    p.add_argument("--students", type=int, default=1_000_000)
    p.add_argument("--version", default="1.2", choices=("1.1", "1.2"))
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--bundle", type=Path, help="an existing generated bundle folder")
    p.add_argument("--keep", action="store_true")
    p.add_argument(
        "--sync",
        action="store_true",
        help="then time a first sync of the fetched bundle and of the CSV bundle (SQLite)",
    )
    p.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve(args.serve, args.port_file, args.version, args.page_size)
    if args.client:
        return client(args.client, args.version, args.out, args.page_size, args.concurrency)

    tmp = Path(tempfile.mkdtemp(prefix="rollbook-bench-rest-", dir="/tmp"))
    server = None
    try:
        bundle = args.bundle
        if bundle is None:
            from rollbook.oneroster.generator import generate_bundle

            bundle = tmp / "bundle"
            t0 = time.perf_counter()
            generate_bundle(bundle, args.students, version=args.version)
            print(f"generated {args.students:,} students in {time.perf_counter() - t0:.0f} s")
        pages = tmp / "pages"
        pages.mkdir()
        t0 = time.perf_counter()
        index = prerender(bundle, args.version, args.page_size, pages)
        (pages / "index.json").write_text(json.dumps(index))
        size = sum(f.stat().st_size for f in pages.glob("*.pages"))
        print(
            f"pre-rendered {size / 1e6:,.0f} MB of JSON pages in {time.perf_counter() - t0:.0f} s"
        )
        del index
        port_file = tmp / "port"
        me = [
            sys.executable,
            __file__,
            "--version",
            args.version,
            "--page-size",
            str(args.page_size),
        ]
        server = subprocess.Popen([*me, "--serve", str(pages), "--port-file", str(port_file)])
        while not port_file.exists() or not port_file.read_text():
            if server.poll() is not None:
                raise SystemExit("the loopback SIS did not start")
            time.sleep(0.05)
        base = port_file.read_text()
        run = subprocess.run(
            [
                *me,
                "--concurrency",
                str(args.concurrency),
                "--client",
                base,
                "--out",
                str(tmp / "fetch"),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        n = figures["records"]
        print(
            f"fetch (OneRoster {args.version}, pages of {args.page_size}, "
            f"{args.concurrency} in flight): {n:,} records, {figures['requests']:,} requests, "
            f"{figures['bytes'] / 1e6:,.0f} MB"
        )
        print(f"  wall             {figures['wall']:.1f} s ({n / figures['wall']:,.0f} records/s)")
        print(
            f"  client CPU       {figures['cpu']:.1f} s ({figures['cpu'] / n * 1e6:.2f} µs/record, "
            f"{n / figures['cpu']:,.0f} records per CPU-second)"
        )
        print(f"  client peak RSS  {figures['peak_rss_mb']:,.0f} MB")
        rows = _csv_rows(tmp / "fetch")
        expected = _csv_rows(bundle)
        missing = {k: (v, rows.get(k)) for k, v in expected.items() if rows.get(k) != v}
        print("  rows             " + ("all present" if not missing else f"MISMATCH {missing}"))
        if args.sync:
            server.kill()
            server.wait()
            server = None
            first_syncs(tmp, bundle, figures["wall"])
    finally:
        if server is not None:
            server.kill()
            server.wait()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def first_syncs(tmp: Path, csv_bundle: Path, fetch_wall: float) -> None:
    """Issue 15's end-to-end figure: the fetch plus a first sync of what it fetched, against a
    first sync of the CSV bundle, each its own ``rollbook sync`` on a fresh SQLite database."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sync import LAST_CPU, fresh_database, init_district, run

    walls = {}
    for name, folder in (("fetched", tmp / "fetch"), ("csv", csv_bundle)):
        env = fresh_database("sqlite", tmp / f"home-{name}")
        init_district(env)
        wall, peak, _ = run(["sync", str(folder), "--district", "1", "--approve", "--json"], env)
        walls[name] = wall
        print(
            f"first sync of the {name} bundle: {wall:.1f} s wall, {LAST_CPU[0]:.1f} s CPU, "
            f"peak {peak:,.0f} MiB"
        )
    total = fetch_wall + walls["fetched"]
    print(
        f"fetch + first sync {total:.1f} s = {total / walls['csv']:.2f} x the CSV first sync "
        f"(target: at most 1.5 x)"
    )


if __name__ == "__main__":
    main()
