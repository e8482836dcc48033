"""The REST routes under ``/api/v1/``: thin handlers over :class:`LiveState` and the :class:`Controller`.

Every answer is JSON.  Errors are ``{"error": <kind>, "reason": <why>}``
with the matching status: 400 (malformed query or body), 401 (token), 403
(origin, host), 404 (nothing there yet, unknown source), 409 (refused in
the current state), 413 (body too large), 415 (not JSON), 425 (EEG window
still filling), 500 (the controller failed).  The routes are described for
machines in :mod:`nfd.outputs.web._openapi`.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import structlog
from aiohttp import HttpVersion11, hdrs, web

from nfd.outputs.web._bodies import (
    EMPTY_FIELDS,
    EVENT_FIELDS,
    SOURCE_PATTERN,
    VALUE_FIELDS,
    BodyError,
    Field,
    parse_body,
)
from nfd.outputs.web._control import Controller
from nfd.outputs.web._errors import ControlRefused, UnknownTarget, WebError
from nfd.outputs.web._live import LiveState
from nfd.outputs.web._messages import dumps

__all__ = [
    "API_PREFIX",
    "STATE_KEY",
    "CONTROLLER_KEY",
    "MAX_BODY_KEY",
    "OPENAPI_KEY",
    "add_api_routes",
    "json_response",
    "error_response",
]

log = structlog.get_logger(__name__)

API_PREFIX: Final[str] = "/api/v1"
STATE_KEY: Final = web.AppKey("nfd_live_state", LiveState)
CONTROLLER_KEY: Final = web.AppKey("nfd_controller", object)
MAX_BODY_KEY: Final = web.AppKey("nfd_max_body", int)
OPENAPI_KEY: Final = web.AppKey("nfd_openapi", bytes)

#: Default and largest ``limit`` of ``runs/current/volumes``.
VOLUMES_LIMIT_DEFAULT: Final[int] = 1000
VOLUMES_LIMIT_MAX: Final[int] = 10_000


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """``data`` as an ``application/json`` response (orjson; NaN as null)."""
    return web.Response(status=status, body=dumps(data), content_type="application/json", headers=headers)


def error_response(status: int, error: str, reason: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """The JSON error document ``{"error", "reason"}`` with ``status``."""
    return json_response({"error": error, "reason": reason}, status, headers)


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text, 10)
    except ValueError:
        raise BodyError(f"query parameter '{name}' must be an integer from {lo} to {hi}, got {text!r}") from None
    if not lo <= value <= hi:
        raise BodyError(f"query parameter '{name}' must be an integer from {lo} to {hi}, got {value}")
    return value


async def _body(request: web.Request, fields: Mapping[str, Field]) -> dict[str, Any]:
    limit = request.app[MAX_BODY_KEY]
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(f"the body is {request.content_length} bytes: at most {limit} are accepted", 413)
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BodyError(f"the body is larger than {limit} bytes", 413)
    return parse_body(b"".join(chunks), request.content_type if request.body_exists else "application/json", fields)


class _ControllerFailed(WebError):
    """The controller raised something other than a refusal (answered 500)."""


async def _call(request: web.Request, action: str, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
    try:
        result = method(*args)
        if inspect.isawaitable(result):
            result = await result
    except (ControlRefused, UnknownTarget):
        raise
    except Exception as exc:
        log.exception("web_controller_failed", action=action, error=f"{type(exc).__name__}: {exc}")
        raise _ControllerFailed(f"{type(exc).__name__}") from exc
    return dict(result) if isinstance(result, Mapping) else {}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _handles_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BodyError as exc:
            kind = {413: "payload_too_large", 415: "unsupported_media_type"}.get(exc.status, "bad_request")
            return error_response(exc.status, kind, str(exc))
        except ControlRefused as exc:
            return error_response(409, "conflict", str(exc))
        except UnknownTarget as exc:
            return error_response(404, "not_found", str(exc))
        except _ControllerFailed as exc:  # logged in _call
            return error_response(500, "internal_error", f"the daemon could not do it ({exc})")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# -- GET ---------------------------------------------------------------------------
async def get_status(request: web.Request) -> web.StreamResponse:
    """Version, uptime, run state, volumes processed, last latency, EEG stream state."""
    return json_response(request.app[STATE_KEY].status())


async def get_current_run(request: web.Request) -> web.StreamResponse:
    """The current (or last) run: its settings, state, counts, events and summary."""
    doc = request.app[STATE_KEY].current_run()
    if doc is None:
        return error_response(404, "not_found", "no run has started since the daemon started")
    return json_response(doc)


async def get_current_volumes(request: web.Request) -> web.StreamResponse:
    """The current run's volume records with index > ``since``, oldest first, at most ``limit``."""
    state = request.app[STATE_KEY]
    since = _int_param(request, "since", -1, -1, 2**31 - 1)
    limit = _int_param(request, "limit", VOLUMES_LIMIT_DEFAULT, 1, VOLUMES_LIMIT_MAX)
    if state.run_info is None:
        return error_response(404, "not_found", "no run has started since the daemon started")
    records = state.volumes_since(since, limit + 1)
    more = len(records) > limit
    records = records[:limit]
    return json_response({
        "run_id": state.run_id,
        "since": since,
        "count": len(records),
        "last_index": records[-1]["index"] if records else since,
        "more": more,
        "volumes": records,
    })


async def get_latest_feedback(request: web.Request) -> web.StreamResponse:
    """The last feedback value sent."""
    latest = request.app[STATE_KEY].latest_feedback()
    if latest is None:
        return error_response(404, "not_found", "no volume has been processed in this run yet")
    return json_response(latest)


def _eeg_answer(state: LiveState, now: float) -> tuple[int, dict[str, Any]]:
    """The status and document of ``GET eeg/prediction`` at ``now`` (s since the epoch, the state's clock).

    ``age_s`` is ``now`` minus the newest EEG sample the prediction used
    (``t_window_end``).  While the stream is ``lost``, it has been lost for
    ``now - lost_since`` (the details the daemon gives :meth:`LiveState.eeg_status`;
    without them, the prediction's age); beyond ``window_s`` (the model's
    window; without it, at once) no window holds EEG and the answer is 503.
    """
    eeg = state.status()["eeg"]
    stream = state.eeg_state
    latest = state.latest_prediction()
    age = None
    if latest is not None:
        end = latest.get("t_window_end", latest.get("time"))
        age = None if end is None else now - float(end)
    doc: dict[str, Any] = {"stream_state": stream}
    if stream == "lost":
        since, window = eeg.get("lost_since"), eeg.get("window_s")
        lost_s = age if since is None else now - float(since)
        doc.update(lost_reason=eeg.get("reason"), lost_s=lost_s, window_s=window)
        if lost_s is None or window is None or lost_s > float(window):
            why = f" ({doc['lost_reason']})" if doc["lost_reason"] else ""
            lost = "" if lost_s is None else f" for {lost_s:.1f} s"
            beyond = "" if window is None else f", longer than the model's window ({float(window):g} s)"
            last = "no prediction was made" if age is None else f"the last prediction is {age:.1f} s old"
            return 503, {
                "error": "service_unavailable", "reason": f"the EEG stream has been lost{lost}{why}{beyond}: {last}",
                **doc, "age_s": age, "last_prediction": latest,
            }
    if latest is None:
        return 425, {
            "error": "too_early",
            "reason": f"no EEG prediction yet: the prediction window is filling (stream {stream})", **doc,
        }
    return 200, {**latest, **doc, "age_s": age}


async def get_eeg_prediction(request: web.Request) -> web.StreamResponse:
    """The latest EEG prediction with its age; 503 when the stream has been lost longer than the model's
    window; 425 while the prediction window fills; 404 without EEG."""
    state = request.app[STATE_KEY]
    if state.eeg_state == "disabled":
        return error_response(404, "not_found", "EEG is not configured in this daemon")
    status, doc = _eeg_answer(state, state._clock())  # the state's clock: the one the tests pass in
    return json_response(doc, status, {"Retry-After": "1"} if status in (425, 503) else None)


async def get_openapi(request: web.Request) -> web.StreamResponse:
    """This API's OpenAPI 3.1 document."""
    return web.Response(body=request.app[OPENAPI_KEY], content_type="application/json")


# -- POST --------------------------------------------------------------------------
async def post_run_start(request: web.Request) -> web.StreamResponse:
    """Ask the daemon to start a run."""
    await _body(request, EMPTY_FIELDS)
    controller = request.app[CONTROLLER_KEY]
    result = await _call(request, "start_run", controller.start_run)  # type: ignore[attr-defined]
    return json_response({"accepted": True, **result}, 202)


async def post_run_stop(request: web.Request) -> web.StreamResponse:
    """Ask the daemon to stop the run after the volume in flight."""
    await _body(request, EMPTY_FIELDS)
    controller = request.app[CONTROLLER_KEY]
    result = await _call(request, "stop_run", controller.stop_run)  # type: ignore[attr-defined]
    return json_response({"accepted": True, **result}, 202)


async def post_event(request: web.Request) -> web.StreamResponse:
    """Mark an event (a name and a time) in the run."""
    body = await _body(request, EVENT_FIELDS)
    t = body.get("time", time.time())
    controller = request.app[CONTROLLER_KEY]
    result = await _call(request, "mark_event", controller.mark_event, body["name"], t)  # type: ignore[attr-defined]
    entry = request.app[STATE_KEY].event_marked(body["name"], t)
    return json_response({**{k: v for k, v in entry.items() if k != "type"}, **result}, 201)


async def post_source_value(request: web.Request) -> web.StreamResponse:
    """Push one value of an additional feedback source."""
    source = request.match_info["source"]
    if not SOURCE_PATTERN.fullmatch(source):
        raise BodyError(
            f"feedback source name {source[:70]!r} is malformed: expected 1 to 64 characters from "
            "A-Z a-z 0-9 _ . - starting with a letter or digit"
        )
    body = await _body(request, VALUE_FIELDS)
    t = body.get("time", time.time())
    controller = request.app[CONTROLLER_KEY]
    result = await _call(request, "push_value", controller.push_value, source, body["value"], t)  # type: ignore[attr-defined]
    request.app[STATE_KEY].external_value(source, body["value"], t)
    return json_response({"accepted": True, "source": source, "value": body["value"], "time": t, **result}, 202)


#: (method, path under API_PREFIX, handler): the routes :func:`add_api_routes` adds.
API_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/status", get_status),
    ("GET", "/runs/current", get_current_run),
    ("GET", "/runs/current/volumes", get_current_volumes),
    ("GET", "/feedback/latest", get_latest_feedback),
    ("GET", "/eeg/prediction", get_eeg_prediction),
    ("GET", "/openapi.json", get_openapi),
    ("POST", "/runs/start", post_run_start),
    ("POST", "/runs/stop", post_run_stop),
    ("POST", "/events", post_event),
    ("POST", "/feedback/sources/{source}", post_source_value),
)


#: Each route's path as a pattern (``{source}``: one path segment), for the answers to other requests.
_ROUTE_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (method, re.compile(re.escape(API_PREFIX + path).replace(r"\{source\}", "[^/]+")))
    for method, path, _ in API_ROUTES
)


def no_such_route(request: web.Request) -> web.Response:
    """The answer to a request under the API that no route takes: a JSON 405 (with ``Allow``) when only
    the method is wrong, else a JSON 404 (aiohttp answers both in plain text)."""
    allowed = sorted({method for method, pattern in _ROUTE_PATTERNS if pattern.fullmatch(request.path)})
    shown = repr(request.path[:100])
    if allowed:
        return error_response(
            405, "method_not_allowed", f"{request.method} is not allowed on {shown}: use {', '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
        )
    return error_response(404, "not_found", f"no API route {request.method} {shown}; see {API_PREFIX}/openapi.json")


@web.middleware
async def json_routing_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text 404 and 405 for paths under :data:`API_PREFIX` into :func:`no_such_route`."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        if not request.path.startswith(API_PREFIX + "/"):
            raise
        return no_such_route(request)


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` answered as aiohttp does; any other expectation a JSON 417 (not plain text)."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.strip().lower() != "100-continue":
        return error_response(417, "expectation_failed", f"unknown Expect {expect[:60]!r}: only 100-continue is met")
    if request.version == HttpVersion11:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the 100 is not part of the response
    return None


def add_api_routes(
    app: web.Application, state: LiveState, controller: Controller, max_body: int, openapi: bytes
) -> None:
    """Register :data:`API_ROUTES` on ``app`` with what their handlers read, and the middleware that
    answers other requests under :data:`API_PREFIX` with JSON (:func:`no_such_route`)."""
    app[STATE_KEY] = state
    app[CONTROLLER_KEY] = controller
    app[MAX_BODY_KEY] = max_body
    app[OPENAPI_KEY] = openapi
    for method, path, handler in API_ROUTES:
        app.router.add_route(method, API_PREFIX + path, _handles_errors(handler), expect_handler=expect_handler)
    app.middlewares.append(json_routing_errors)
