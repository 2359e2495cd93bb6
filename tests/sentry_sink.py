"""A stand-in for sentry.io on loopback: an HTTP server that keeps every
envelope the SDK posts to it, exactly as it arrived (decompressed), for a test
to read. `dsn` points a process at it."""

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROJECT_ID = 42
PUBLIC_KEY = "0123456789abcdef0123456789abcdef"


class SentrySink:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []  # each envelope, as the SDK sent it
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.server.server_port}/{PROJECT_ID}"

    def start(self) -> "SentrySink":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def raw(self) -> str:
        """Everything received, as one text: what a search for leaked data reads."""
        with self._lock:
            return "\n".join(body.decode("utf-8", errors="replace") for body in self.bodies)

    def items(self, item_type: str) -> list[dict]:
        """The payloads of the envelopes' items of one type ("event", "check_in", ...)."""
        with self._lock:
            bodies = list(self.bodies)
        return [
            payload
            for body in bodies
            for header, payload in envelope_items(body)
            if header.get("type") == item_type
        ]

    def wait_for(self, predicate, timeout: float = 30.0):
        """Waits until `predicate(self)` is true (returned), else fails with what came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate(self)
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"not received in {timeout}s; the sink has:\n{self.raw()[:4000]}")

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = _decoded(body, self.headers.get("Content-Encoding", ""))
                with sink._lock:
                    sink.bodies.append(body)
                    sink.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:  # no line on stderr per envelope
                pass

        return Handler


def _decoded(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # only where sentry-sdk found it to compress with

        return brotli.decompress(body)
    if encoding:
        raise AssertionError(f"unknown Content-Encoding {encoding!r}")
    return body


def envelope_items(body: bytes) -> list[tuple[dict, dict | bytes]]:
    """An envelope's items: (item header, JSON payload, or bytes when not JSON).
    A header line, then per item a header line and a payload of its `length`
    (or up to the next newline)."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        try:
            items.append((header, json.loads(payload)))
        except ValueError:
            items.append((header, payload))
    return items
