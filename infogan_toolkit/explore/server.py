"""The explore server: a Starlette app over an :class:`~.session.Explorer`, served by uvicorn.

It serves the page it generates and a JSON API, nothing from disk. Request bodies are capped
before they are read whole; an upload is decoded in a worker thread under a time limit; every
refusal is a JSON ``{"error": ...}`` the page shows, never a crash. Bound to a loopback address it
answers only requests that name a loopback host, so a web page elsewhere cannot reach it through
a rebound DNS name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any, cast

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import ConfigError, ToolkitError
from .evaluation import evaluation_html
from .imaging import MAX_UPLOAD_BYTES, decode_upload
from .page import asset, index_html
from .session import Explorer

#: Bytes of a JSON request read at most.
MAX_JSON_BYTES = 64 << 10
#: Bytes of an over-long body read (and dropped) before the refusal, past which the connection is just closed.
DRAIN_BYTES = 64 << 20
#: Seconds a client may take to send a body, and an upload may take to decode.
BODY_SECONDS = 20.0
DECODE_SECONDS = 10.0
#: Connections served at once; more are answered 503 at once instead of waiting.
MAX_CONNECTIONS = 64
#: What the page may load: its own script and style, pictures as data URIs, requests to itself. Style
#: attributes are allowed (no ``<style>`` element, no script): the evaluation fragment, shared with the
#: static report, colours its heat map and sizes its bars with them.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class RequestError(ToolkitError):
    """A request the server refuses; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused once it passes ``limit`` bytes. What is sent past the limit is
    read and dropped, up to :data:`DRAIN_BYTES`, so the client (which sends its whole body before
    it reads an answer) gets the message rather than a reset connection; nothing of it is kept."""
    too_large = RequestError(f"the request is more than {limit:,} bytes; send a smaller one", 413)
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise RequestError("the request's Content-Length is not a number")

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_BYTES:
                break
            if size <= limit:
                chunks.append(chunk)
        if size > limit:
            raise too_large
        return b"".join(chunks)

    if declared is not None and int(declared) > DRAIN_BYTES:
        raise too_large

    try:
        return await asyncio.wait_for(read(), BODY_SECONDS)
    except asyncio.TimeoutError:
        raise RequestError(f"the request's body took more than {BODY_SECONDS:g} s to arrive", 408) from None


async def _json(request: Request) -> Any:
    try:
        return json.loads(await _body(request, MAX_JSON_BYTES))
    except ValueError:
        raise RequestError("the request is not JSON; send a JSON object") from None


def _answer(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Run a handler; a refusal becomes ``{"error": ...}`` with its status, anything else a 500 that names it."""

    async def wrapped(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request), headers={"Cache-Control": "no-store"})
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ToolkitError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # noqa: BLE001 (a bug or a plugin's failure: answered, and the server goes on)
            return JSONResponse({"error": f"internal error ({type(exc).__name__}: {exc})"}, status_code=500)

    return wrapped


def create_app(explorer: Explorer, loopback_only: bool = True) -> Any:
    """The ASGI app for ``explorer``; ``loopback_only`` refuses requests naming a non-loopback host."""
    info = {**explorer.describe(), "max_upload_bytes": MAX_UPLOAD_BYTES}
    reaches = {c["name"]: c["reach"] for c in info["codes"]}
    page = index_html(info, evaluation_html(explorer.evaluation, explorer.evaluation_note, reaches))
    script, style = asset("page.js"), asset("page.css")
    shape = cast("tuple[int, int, int]", tuple(explorer.model.assembly.backbone.image_shape))

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def page_js(request: Request) -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8")

    async def page_css(request: Request) -> Response:
        return Response(style, media_type="text/css; charset=utf-8")

    async def describe(request: Request) -> Any:
        return info

    async def render(request: Request) -> Any:
        seed, numbers = explorer.parse_point(await _json(request))
        return await run_in_threadpool(explorer.render, seed, numbers)

    async def traverse(request: Request) -> Any:
        seed, numbers = explorer.parse_point(await _json(request))
        return {"strips": await run_in_threadpool(explorer.traversals, seed, numbers)}

    async def encode(request: Request) -> Any:
        raw = request.query_params.get("seed", "0")
        if not raw.isdigit() or len(raw) > 19:
            raise RequestError("seed must be a whole number")
        seed, _ = explorer.parse_point({"seed": int(raw), "values": explorer.start_values()})
        data = await _body(request, MAX_UPLOAD_BYTES)
        try:
            picture = await asyncio.wait_for(run_in_threadpool(decode_upload, data, shape), DECODE_SECONDS)
        except asyncio.TimeoutError:
            raise RequestError(
                f"the image took more than {DECODE_SECONDS:g} s to decode; send a smaller one", 422
            ) from None
        return await run_in_threadpool(explorer.encode, picture, seed)

    async def dataset(request: Request) -> Any:
        payload = await _json(request)
        if not isinstance(payload, dict):
            raise RequestError("send a JSON object with 'seed' and optionally 'index'")
        seed, _ = explorer.parse_point({"seed": payload.get("seed", 0), "values": explorer.start_values()})
        return await run_in_threadpool(explorer.dataset_image, payload.get("index"), seed)

    routes = [
        Route("/", index),
        Route("/page.js", page_js),
        Route("/page.css", page_css),
        Route("/api/model", _answer(describe)),
        Route("/api/render", _answer(render), methods=["POST"]),
        Route("/api/traverse", _answer(traverse), methods=["POST"]),
        Route("/api/encode", _answer(encode), methods=["POST"]),
        Route("/api/dataset", _answer(dataset), methods=["POST"]),
    ]
    return _Guard(Starlette(routes=routes), loopback_only)


class _Guard:
    """ASGI wrapper: the Host check of a loopback server, and the security headers on every answer."""

    def __init__(self, app: Any, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.loopback_only:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            name = host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
            if name.lower() not in _LOOPBACK_NAMES:
                response = JSONResponse(
                    {"error": "this server answers only requests to 127.0.0.1 or localhost"}, status_code=421
                )
                return await response(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); a one-line error when it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"--host '{host}' is not an address of this machine ({exc}); give e.g. 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, or --port 0 for any free one"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's address for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(explorer: Explorer, sock: socket.socket, loopback_only: bool = True) -> None:
    """Serve ``explorer`` on a bound socket until Ctrl-C or SIGTERM."""
    config = uvicorn.Config(
        create_app(explorer, loopback_only),
        log_level="warning",
        access_log=False,
        lifespan="off",
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
    )
    uvicorn.Server(config).run(sockets=[sock])


__all__ = ["bind", "create_app", "is_loopback", "serve", "url_of"]
