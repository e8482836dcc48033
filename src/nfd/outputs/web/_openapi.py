"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Built from the same body specifications the server validates with
(:mod:`nfd.outputs.web._bodies`), so the two cannot drift apart; a test
checks that every route the server registers is described here and
nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nfd._version import __version__
from nfd.outputs.web._api import API_PREFIX, VOLUMES_LIMIT_DEFAULT, VOLUMES_LIMIT_MAX
from nfd.outputs.web._bodies import EMPTY_FIELDS, EVENT_FIELDS, SOURCE_PATTERN, VALUE_FIELDS, Field

__all__ = ["openapi_document"]


def _object(fields: Mapping[str, Field]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: f.schema() for k, f in fields.items()},
        "required": [k for k, f in fields.items() if f.required],
        "additionalProperties": False,
    }


def _body(fields: Mapping[str, Field], required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _object(fields)}}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


_ERR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "malformed query or body (the reason says what was expected)",
        401: "bearer token missing or wrong",
        403: "cross-origin request, or a non-loopback Host on a loopback server",
        404: "nothing there (yet)",
        409: "refused in the daemon's current state",
        413: "body larger than the server's limit",
        415: "body not sent as application/json",
        425: "too early: the EEG prediction window is still filling (retry after 1 s)",
        500: "the daemon failed to do it",
    }
    return {str(c): _json(text[c], _ERR) for c in codes}


#: The stream's fields of ``eeg/prediction``'s answers.
_EEG_STREAM: dict[str, Any] = {
    "stream_state": {"enum": ["waiting", "filling", "streaming", "lost"]},
    "lost_reason": {"enum": ["reconnecting", "stale", "refilling", None],
                    "description": "while lost: the inlet looks for the stream again; connected but no recent "
                                   "sample; back, but the window still spans the missing EEG"},
    "lost_s": {"type": ["number", "null"], "description": "s since the newest sample before the loss"},
    "window_s": {"type": ["number", "null"], "description": "the model's window, s"},
}


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The API's OpenAPI 3.1 description.

    Parameters
    ----------
    server_url : str, optional
        The server's base URL, listed under ``servers``.

    Examples
    --------
    >>> doc = openapi_document()
    >>> doc["openapi"], sorted(doc["paths"])[:2]
    ('3.1.0', ['/api/v1/eeg/prediction', '/api/v1/events'])
    """
    p = API_PREFIX
    volume_record = {
        "type": "object",
        "description": "One volume's record, as appended to the run folder's volumes.jsonl "
        "(index, file, condition, t_written, t_complete, t_sent, latency_ms, durations_ms, motion, fd, roi, psc, "
        "feedback, ...).",
        "required": ["index"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "description": "0-based acquisition index"},
            "condition": {"type": "string"},
            "feedback": {"type": ["number", "null"]},
            "latency_ms": {"type": ["number", "null"],
                           "description": "ms from the scanner's last byte of the volume (t_written) to the send"},
            "motion": {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 6, "maxItems": 6,
                       "description": "trans x, y, z (mm), rot x, y, z (rad), SPM convention"},
            "fd": {"type": ["number", "null"], "description": "framewise displacement, mm"},
            "roi": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
            "psc": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        },
    }
    accepted = {"type": "object", "properties": {"accepted": {"type": "boolean"}}, "required": ["accepted"]}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "nfd operator API",
            "version": __version__,
            "description": "The state of the real-time neurofeedback daemon, its runs and feedback, and its "
            "controls. Live updates: the WebSocket GET /ws (one JSON message per volume, per EEG prediction, "
            "run start and end; documented in nfd.outputs.web._messages). Bound to 127.0.0.1 by default; on "
            "any other address every request to /api/ and /ws needs the bearer token.",
        },
        "paths": {
            f"{p}/status": {"get": {
                "summary": "Daemon status",
                "description": "Version, uptime (s), run state (idle|running|ended), volumes processed, "
                "last latency (ms), EEG stream state, WebSocket clients.",
                "responses": {"200": _json("the status", {"$ref": "#/components/schemas/Status"}), **_errors(401, 403)},
            }},
            f"{p}/runs/current": {"get": {
                "summary": "The current (or last) run",
                "description": "Its settings (TR, volumes, protocol blocks, ROIs, thresholds), state, counts, "
                "events and, once ended, its summary.",
                "responses": {"200": _json("the run"), **_errors(401, 403, 404)},
            }},
            f"{p}/runs/current/volumes": {"get": {
                "summary": "The current run's volume records",
                "description": "Records whose index is greater than `since`, oldest first. Poll with "
                "`since` = the `last_index` of the previous answer.",
                "parameters": [
                    {"name": "since", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": -1, "default": -1},
                     "description": "return volumes with index > since (0-based acquisition indices)"},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": VOLUMES_LIMIT_MAX,
                                "default": VOLUMES_LIMIT_DEFAULT},
                     "description": "at most this many volumes"},
                ],
                "responses": {
                    "200": _json("the volumes", {
                        "type": "object",
                        "required": ["run_id", "since", "count", "last_index", "more", "volumes"],
                        "properties": {
                            "run_id": {"type": "string"},
                            "since": {"type": "integer"},
                            "count": {"type": "integer"},
                            "last_index": {"type": "integer", "description": "pass as `since` next time"},
                            "more": {"type": "boolean", "description": "more volumes beyond `limit`"},
                            "volumes": {"type": "array", "items": volume_record},
                        },
                    }),
                    **_errors(400, 401, 403, 404),
                },
            }},
            f"{p}/feedback/latest": {"get": {
                "summary": "The last feedback value sent",
                "responses": {"200": _json("the last feedback", {
                    "type": "object",
                    "properties": {
                        "run_id": {"type": "string"}, "index": {"type": "integer"},
                        "condition": {"type": ["string", "null"]}, "baseline": {"type": ["boolean", "null"]},
                        "feedback": {"type": ["number", "null"]},
                        "t_sent": {"type": ["number", "null"], "description": "s since the epoch"},
                        "latency_ms": {"type": ["number", "null"],
                                       "description": "ms from the scanner's last byte of the volume to the send"},
                    },
                }), **_errors(401, 403, 404)},
            }},
            f"{p}/eeg/prediction": {"get": {
                "summary": "The latest EEG prediction, with its age and the stream's state",
                "description": (
                    "404 when EEG is not configured; 425 while the prediction window fills; 503 when the stream "
                    "has been lost for longer than the model's window (no window then holds EEG), with the "
                    "stream's state and the last prediction's age. While lost for less than a window the answer "
                    "is 200 with stream_state lost."
                ),
                "responses": {"200": _json("the prediction", {
                    "type": "object", "required": ["time", "value", "age_s", "stream_state"],
                    "properties": {
                        "time": {"type": "number", "description": "s since the epoch: the time predicted for"},
                        "value": {"description": "the predicted value (the first target's)"},
                        "values": {"type": "object", "additionalProperties": {"type": "number"},
                                   "description": "target name -> predicted value, for models with several targets"},
                        "t_window_end": {"type": "number", "description": "s since the epoch: newest EEG sample used"},
                        "age_s": {"type": ["number", "null"],
                                  "description": "s from the newest EEG sample used to this answer (server's clock)"},
                        "at_volume": {"type": ["number", "null"], "description": "fractional volume index"},
                        **_EEG_STREAM,
                    },
                }), "503": _json("the EEG stream has been lost for longer than the model's window", {
                    "type": "object", "required": ["error", "reason", "stream_state", "age_s"],
                    "properties": {
                        "error": {"const": "service_unavailable"}, "reason": {"type": "string"},
                        **_EEG_STREAM,
                        "age_s": {"type": ["number", "null"],
                                  "description": "s since the newest EEG sample of the last prediction (null: none)"},
                        "last_prediction": {"type": ["object", "null"]},
                    },
                }), **_errors(401, 403, 404, 425)},
            }},
            f"{p}/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": _json("the OpenAPI document"), **_errors(401, 403)},
            }},
            f"{p}/runs/start": {"post": {
                "summary": "Start a run",
                "requestBody": _body(EMPTY_FIELDS, False),
                "responses": {"202": _json("accepted", accepted), **_errors(400, 401, 403, 409, 413, 415, 500)},
            }},
            f"{p}/runs/stop": {"post": {
                "summary": "Stop the run after the volume in flight",
                "requestBody": _body(EMPTY_FIELDS, False),
                "responses": {"202": _json("accepted", accepted), **_errors(400, 401, 403, 409, 413, 415, 500)},
            }},
            f"{p}/events": {"post": {
                "summary": "Mark an event",
                "requestBody": _body(EVENT_FIELDS, True),
                "responses": {"201": _json("the event as recorded", {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "time": {"type": "number"},
                                   "at_volume": {"type": ["number", "null"]}},
                }), **_errors(400, 401, 403, 409, 413, 415, 500)},
            }},
            f"{p}/feedback/sources/{{source}}": {"post": {
                "summary": "Push a value of an additional feedback source",
                "parameters": [{"name": "source", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": f"^{SOURCE_PATTERN.pattern}$"}}],
                "requestBody": _body(VALUE_FIELDS, True),
                "responses": {"202": _json("accepted", accepted), **_errors(400, 401, 403, 404, 409, 413, 415, 500)},
            }},
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "reason"],
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                },
                "Status": {
                    "type": "object",
                    "required": ["version", "uptime_s", "run_state", "volumes_processed", "last_latency_ms", "eeg"],
                    "properties": {
                        "version": {"type": "string"},
                        "uptime_s": {"type": "number"},
                        "run_state": {"enum": ["idle", "running", "ended"]},
                        "run_id": {"type": ["string", "null"]},
                        "volumes_processed": {"type": "integer"},
                        "last_index": {"type": ["integer", "null"]},
                        "last_latency_ms": {"type": ["number", "null"]},
                        "eeg": {"type": "object", "properties": {
                            "state": {"enum": ["disabled", "waiting", "filling", "streaming", "lost"]},
                            "predictions": {"type": "integer"},
                            "reason": {"type": ["string", "null"],
                                       "description": "while lost: reconnecting, stale or refilling"},
                            "lost_since": {"type": ["number", "null"],
                                           "description": "s since the epoch: the newest sample before the loss"},
                            "lost_s": {"type": ["number", "null"]},
                            "window_s": {"type": ["number", "null"], "description": "the model's window, s"},
                            "connected": {"type": "boolean"}}},
                        "ws_clients": {"type": "integer"},
                    },
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "required when the server is not bound to loopback"}},
        },
        "security": [{}, {"bearer": []}],
    }
    if server_url is not None:
        doc["servers"] = [{"url": server_url}]
    return doc
