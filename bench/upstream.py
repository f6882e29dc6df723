"""The loopback upstream: nginx serving canned files, or a small Python server.

nginx (the headline upstream) runs as the current user from a generated config in a
temp dir. Its static module answers POST with 405, so ``error_page 405 =200 $uri``
re-serves the same file: the internal redirect turns the request into a GET.

The Python server (``python upstream.py serve ...``, run in its own process) has two
modes: ``whole`` (the fallback when nginx is missing: Content-Length, one write) and
``trickle`` (streams sent as chunked transfer encoding, one write per SSE event, NDJSON
line or event-stream frame, so the client sees many small reads, as from a real provider).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from canned import ROUTES, Canned

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
NGINX_INSTALL_HINT = "apt-get install nginx-light  (Debian/Ubuntu; or your distro's nginx package)"


def find_nginx() -> str | None:
    for path in (shutil.which("nginx"), *NGINX_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"upstream exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"upstream did not listen on port {port} within {timeout}s")


def write_files(canned: Canned, root: Path) -> None:
    """Lay the canned bodies out so that the request path is the file path."""
    for path, (attr, _ctype) in ROUTES.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(getattr(canned, attr))


@dataclass
class Upstream:
    kind: str  # "nginx", "python-whole", "python-trickle"
    label: str
    url: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log: Path

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile off;
    tcp_nodelay on;
    tcp_nopush off;
    etag off;
    server_tokens off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_buffer_size 64k;
    types {{}}
    server {{
        listen 127.0.0.1:{port} backlog=512;
        root {tmp}/www;
        location /stream/ {{ default_type text/event-stream; error_page 405 =200 $uri; }}
        location /stream/model/ {{
            default_type application/vnd.amazon.eventstream; error_page 405 =200 $uri;
        }}
        location /stream/api/ {{ default_type application/x-ndjson; error_page 405 =200 $uri; }}
        location /v1/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /paced/ {{
            alias {tmp}/www/stream/; default_type text/event-stream; limit_rate {pace};
            error_page 405 =200 $uri;
        }}
    }}
}}
"""


def _user_directive() -> str:
    """Workers run as the current user. Started by root, nginx would otherwise switch its
    workers to ``nobody``, which cannot read the private temp dir."""
    if os.geteuid() != 0:
        return ""
    import grp
    import pwd

    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"


def start_nginx(nginx: str, canned: Canned, tmp: Path, *, pace: str = "256k") -> Upstream:
    """nginx on a free port. ``/paced/...`` serves the ``/stream/...`` files at ``pace``
    bytes per second (nginx's ``limit_rate``), so a stream takes a while, as from a real
    provider (the soak's upstream)."""
    write_files(canned, tmp / "www")
    last: Exception | None = None
    for _ in range(5):  # the free port can be taken between probe and bind: retry
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, user=_user_directive(), pace=pace))
        log = tmp / "error.log"
        proc = subprocess.Popen(
            [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port, proc)
        except RuntimeError as exc:
            last = exc
            proc.kill()
            proc.wait()
            continue
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        label = f"{version.removeprefix('nginx version: ')} (1 worker, keepalive, sendfile off)"
        return Upstream("nginx", label, f"http://127.0.0.1:{port}", proc, log)
    tail = (tmp / "error.log").read_text()[-500:] if (tmp / "error.log").exists() else ""
    raise RuntimeError(f"nginx failed to start: {last}; error.log: {tail}")


def start_python(canned: Canned, tmp: Path, mode: str) -> Upstream:
    write_files(canned, tmp / "www")
    log = tmp / f"python-{mode}.log"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", "--root", str(tmp / "www"),
         "--mode", mode],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"python upstream failed to start: {log.read_text()[-500:]}")
    port = int(line)
    _wait_listening(port, proc)
    labels = {
        "whole": "python asyncio server, whole-body writes (FALLBACK: not the nginx upstream)",
        "trickle": "python asyncio server, chunked, one write per SSE event",
    }
    return Upstream(f"python-{mode}", labels[mode], f"http://127.0.0.1:{port}", proc, log)


# ---------------------------------------------------------------- the python server

_SSE_EVENT_END = re.compile(rb"(?<=\n\n)|(?<=\r\n\r\n)")


def _events(body: bytes, ctype: str) -> list[bytes] | None:
    """``body`` cut into the pieces a provider writes one by one (None: not a stream)."""
    if ctype == "text/event-stream":
        return [e for e in _SSE_EVENT_END.split(body) if e]
    if ctype == "application/x-ndjson":
        return body.splitlines(keepends=True)
    if ctype == "application/vnd.amazon.eventstream":
        out, pos = [], 0
        while pos < len(body):
            end = pos + int.from_bytes(body[pos : pos + 4], "big")
            out.append(body[pos:end])
            pos = end
        return out
    return None


async def _serve(root: Path, mode: str) -> None:
    files: dict[str, tuple[bytes, bytes, list[bytes] | None]] = {}
    for path, (_attr, ctype) in ROUTES.items():
        body = (root / path.lstrip("/")).read_bytes()
        events = _events(body, ctype) if mode == "trickle" else None
        files[path] = (body, ctype.encode(), events)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                headers = {}
                for raw in lines[1:]:
                    if raw:
                        k, _, v = raw.partition(b":")
                        headers[k.strip().lower()] = v.strip()
                if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                    while True:
                        size = int((await reader.readline()).split(b";")[0], 16)
                        await reader.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    await reader.readexactly(int(headers.get(b"content-length", b"0")))
                path = unquote(target.split(b"?", 1)[0].decode())  # Bedrock's %3A
                entry = files.get(path)
                if entry is None or method != b"POST":
                    body = b'{"error":{"message":"not found","type":"not_found"}}'
                    writer.write(
                        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    continue
                body, ctype, events = entry
                if events is None:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
                        % (ctype, len(body), body)
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\n"
                        b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n" % ctype
                    )
                    for ev in events:
                        writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                        await writer.drain()
                        await asyncio.sleep(0)  # one send per event, not one coalesced write
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--root", type=Path, required=True)
    serve.add_argument("--mode", choices=("whole", "trickle"), default="whole")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.root, args.mode))


if __name__ == "__main__":
    main()
