#!/usr/bin/env python3
"""Fault-injecting HTTP proxy for DynamoDB-compatible test servers (dynalite).

    scripts/faultproxy.py --port 18003 --upstream http://127.0.0.1:18000 \
        [--rate 0.3] [--seed N] [--kinds throttle,pte,500,unprocessed] \
        [--ops BatchWriteItem,...] [--stats FILE] [--verbose]

Listens on 127.0.0.1:PORT and forwards every request (method, path, headers
including Authorization, body) to UPSTREAM, returning its response. With
probability --rate a request gets a fault instead, chosen at random among the
--kinds that apply to it:

  pte          HTTP 400 ProvisionedThroughputExceededException (DynamoDB JSON error)
  throttle     HTTP 400 ThrottlingException (com.amazon.coral.availability#...)
  500          HTTP 500 InternalServerError
  unprocessed  BatchWriteItem only: forward just the first half (floor) of each
               table's requests, then answer with upstream's response plus the
               dropped requests in UnprocessedItems (x-amz-crc32 recomputed). A
               batch whose tables all have one request is not forwarded at all:
               everything comes back unprocessed.

The rewritten body no longer matches the request signature; dynalite does not
check signatures, so that is fine (do not point this at a signing-checking
server with the unprocessed kind on).

--ops limits faults to those X-Amz-Target operations (e.g. BatchWriteItem,Scan);
other requests are always forwarded (default: any request may get a fault).
Randomness comes from one random.Random(--seed): with one client thread the
fault sequence is reproducible.

Counters (requests, forwarded, one per kind, unprocessed_items = requests
dropped into UnprocessedItems) go to --stats FILE as JSON, rewritten
atomically after every request and at exit, are served at
GET /__faultproxy/stats, and are printed to stderr on SIGTERM/SIGINT.

Only loopback: it binds 127.0.0.1 and refuses an upstream that is not a
loopback address. Python 3 standard library only.
"""

import argparse
import http.client
import ipaddress
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("throttle", "pte", "500", "unprocessed")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
}
# send_response() writes its own
RESPONSE_SKIP = HOP_BY_HOP | {"date", "server"}
DDB_JSON = "application/x-amz-json-1.0"
STATS_PATH = "/__faultproxy/stats"

ERRORS = {
    "pte": (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "ProvisionedThroughputExceededException"),
    "throttle": (400, "com.amazon.coral.availability#ThrottlingException", "ThrottlingException"),
    "500": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "InternalServerError"),
}


def log(msg):
    sys.stderr.write(f"faultproxy: {msg}\n")
    sys.stderr.flush()


class State:
    def __init__(self, args):
        self.rate = args.rate
        self.kinds = args.kinds
        self.ops = args.ops
        self.stats_file = args.stats
        self.verbose = args.verbose
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "forwarded": 0, "upstream_errors": 0, "unprocessed_items": 0}
        for k in KINDS:
            self.counts[k] = 0

    def choose(self, target, is_batch_write):
        """The fault kind for this request, or None."""
        op = target.rsplit(".", 1)[-1] if target else ""
        with self.lock:
            self.counts["requests"] += 1
            if self.ops and op not in self.ops:
                return None
            if self.rng.random() >= self.rate:
                return None
            kinds = [k for k in self.kinds if k != "unprocessed" or is_batch_write]
            if not kinds:
                return None
            return self.rng.choice(kinds)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def write_stats(self):
        if not self.stats_file:
            return
        snap = self.snapshot()
        tmp = f"{self.stats_file}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(snap, f, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.stats_file)
        except OSError as e:
            log(f"cannot write {self.stats_file}: {e}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def version_string(self):
        return self.server_version

    # set on the class by main()
    state = None
    upstream_host = None
    upstream_port = None
    upstream_prefix = ""

    def log_message(self, fmt, *args):  # quiet: only faults are logged
        if self.state.verbose:
            log("%s %s" % (self.address_string(), fmt % args))

    # ------------------------------------------------------------ plumbing
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def upstream(self):
        conn = getattr(self, "_conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
            self._conn = conn
        return conn

    def forward(self, body):
        """Send the request upstream; returns (status, reason, headers list, body)."""
        path = self.upstream_prefix + self.path
        for attempt in (1, 2):
            conn = self.upstream()
            try:
                conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in RESPONSE_SKIP]
                if resp.will_close:
                    conn.close()
                    self._conn = None
                return resp.status, resp.reason, headers, data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise

    def send(self, status, headers, body, reason=None):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        headers = [("Content-Type", DDB_JSON), ("x-amzn-RequestId", str(uuid.uuid4())),
                   ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF))]
        headers.extend(extra)
        self.send(status, headers, body)

    # ------------------------------------------------------------ request
    def handle_any(self):
        body = self.read_body()
        if self.path == STATS_PATH and self.command == "GET":
            self.send(200, [("Content-Type", "application/json")],
                      json.dumps(self.state.snapshot(), sort_keys=True).encode())
            return
        target = self.headers.get("X-Amz-Target") or ""
        is_batch_write = target.endswith(".BatchWriteItem")
        kind = self.state.choose(target, is_batch_write)
        try:
            if kind in ERRORS:
                status, etype, short = ERRORS[kind]
                self.state.count(kind)
                log(f"inject {kind} ({target or self.command + ' ' + self.path})")
                self.send_json(status, {"__type": etype, "message": "injected"},
                               [("x-amzn-ErrorType", short)])
            elif kind == "unprocessed" and self.unprocessed(body, target):
                pass
            else:
                self.pass_through(body)
        finally:
            self.state.write_stats()

    def pass_through(self, body):
        try:
            status, reason, headers, data = self.forward(body)
        except Exception as e:  # upstream down: a 502 the client can see
            self.state.count("upstream_errors")
            log(f"upstream error: {e!r}")
            self.send(502, [("Content-Type", "text/plain")], f"faultproxy: upstream error: {e}\n".encode())
            return
        self.state.count("forwarded")
        self.send(status, headers, data, reason)

    def unprocessed(self, body, target):
        """The 'unprocessed' fault; False if the body is not a usable BatchWriteItem."""
        try:
            req = json.loads(body)
            items = req["RequestItems"]
            if not isinstance(items, dict) or not items:
                return False
        except (ValueError, KeyError, TypeError):
            return False
        kept, dropped, ndropped = {}, {}, 0
        for table, reqs in items.items():
            if not isinstance(reqs, list):
                return False
            half = len(reqs) // 2
            if half:
                kept[table] = reqs[:half]
            if reqs[half:]:
                dropped[table] = reqs[half:]
                ndropped += len(reqs) - half
        if not ndropped:
            return False
        if not kept:
            # nothing left to forward: everything is unprocessed
            self.state.count("unprocessed")
            self.state.count("unprocessed_items", ndropped)
            log(f"inject unprocessed: all {ndropped} request(s) ({target})")
            self.send_json(200, {"UnprocessedItems": dropped})
            return True
        req["RequestItems"] = kept
        new_body = json.dumps(req, separators=(",", ":")).encode()
        try:
            status, reason, headers, data = self.forward(new_body)
        except Exception as e:
            self.state.count("upstream_errors")
            log(f"upstream error: {e!r}")
            self.send(502, [("Content-Type", "text/plain")], f"faultproxy: upstream error: {e}\n".encode())
            return True
        self.state.count("forwarded")
        if status != 200:
            # upstream refused the shortened batch: pass its answer on, no fault counted
            self.send(status, headers, data, reason)
            return True
        try:
            resp = json.loads(data or b"{}")
        except ValueError:
            self.send(status, headers, data, reason)
            return True
        un = resp.get("UnprocessedItems") or {}
        for table, reqs in dropped.items():
            un.setdefault(table, []).extend(reqs)
        resp["UnprocessedItems"] = un
        out = json.dumps(resp, separators=(",", ":")).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
        headers.append(("x-amz-crc32", str(zlib.crc32(out) & 0xFFFFFFFF)))
        self.state.count("unprocessed")
        self.state.count("unprocessed_items", ndropped)
        log(f"inject unprocessed: {ndropped} request(s) dropped ({target})")
        self.send(200, headers, out, reason)
        return True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any


def loopback_upstream(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise ValueError(f"--upstream must be an http:// URL, not {url!r}")
    host = u.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--upstream host must be a loopback address (127.0.0.1), not {u.hostname!r}")
    if not ip.is_loopback:
        raise ValueError(f"--upstream host must be a loopback address (127.0.0.1), not {u.hostname!r}")
    return host, u.port or 80, u.path.rstrip("/")


def parse_args(argv):
    p = argparse.ArgumentParser(description="fault-injecting proxy for DynamoDB-compatible test servers (loopback only)")
    p.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    p.add_argument("--upstream", default="http://127.0.0.1:18000", help="upstream URL (loopback only)")
    p.add_argument("--rate", type=float, default=0.3, help="fault probability per request, 0..1 (default 0.3)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds: " + ",".join(KINDS))
    p.add_argument("--ops", default="", help="only inject on these X-Amz-Target operations (comma-separated)")
    p.add_argument("--stats", default=None, help="JSON file for the fault counters")
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)
    if not 0.0 <= args.rate <= 1.0:
        p.error("--rate must be between 0 and 1")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        p.error(f"unknown --kinds {','.join(bad)} (choose from {','.join(KINDS)})")
    args.kinds = kinds
    args.ops = {o.strip() for o in args.ops.split(",") if o.strip()}
    try:
        args.upstream_addr = loopback_upstream(args.upstream)
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state = State(args)
    Handler.state = state
    Handler.upstream_host, Handler.upstream_port, Handler.upstream_prefix = args.upstream_addr

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)

    def stop(signum, _frame):
        log(f"signal {signum}: shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    state.write_stats()
    log(f"listening on 127.0.0.1:{args.port} -> {args.upstream}, rate {args.rate}, "
        f"seed {args.seed}, kinds {','.join(args.kinds)}" + (f", ops {','.join(sorted(args.ops))}" if args.ops else ""))
    started = time.monotonic()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        state.write_stats()
        snap = state.snapshot()
        log(f"totals after {time.monotonic() - started:.1f} s: " + json.dumps(snap, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
