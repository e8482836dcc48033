"""The operator's window: a live page, a WebSocket and a REST API, served from the daemon's loop.

``nfd.outputs.web`` owns

* :class:`LiveState` -- what the daemon tells the window (run started,
  each volume's record, EEG predictions and stream state, warnings, run
  ended) and what the REST routes read; every update is published to the
  WebSocket clients, each through a bounded queue (a client that falls a
  full queue behind is dropped and logged, never waited for);
  :class:`RunInfo` describes a run before its first volume;
* :class:`Controller` -- the protocol the daemon implements for the
  ``POST`` routes (start and stop a run, mark an event, take a value of an
  additional feedback source), refusing with :class:`ControlRefused` (409)
  or :class:`UnknownTarget` (404);
* :class:`WebServer` -- aiohttp in the daemon's loop, used as
  ``async with WebServer(state, controller, host, port, token_file):``;
  bound to 127.0.0.1 by default, a bearer token required on any other
  address; the routes:

  ====== ================================= ===================================================
  GET    ``/``                             the live page (``static/``: HTML, CSS, canvas script)
  GET    ``/ws``                           WebSocket: hello, run_start, volume, eeg, event,
                                           warning, run_end (:mod:`~nfd.outputs.web._messages`)
  GET    ``/api/v1/status``                version, uptime, run state, counts, latency, EEG state
  GET    ``/api/v1/runs/current``          the run's settings, state, events, summary
  GET    ``/api/v1/runs/current/volumes``  records with index > ``since`` (``limit``)
  GET    ``/api/v1/feedback/latest``       the last feedback sent
  GET    ``/api/v1/eeg/prediction``        the latest EEG prediction (425 while filling)
  GET    ``/api/v1/openapi.json``          the OpenAPI 3.1 document
  POST   ``/api/v1/runs/start``            start a run
  POST   ``/api/v1/runs/stop``             stop the run
  POST   ``/api/v1/events``                ``{"name", "time"?}``: mark an event
  POST   ``/api/v1/feedback/sources/{s}``  ``{"value", "time"?}``: a value of source ``s``
  ====== ================================= ===================================================

* :func:`openapi_document`, :func:`read_token_file`, and the errors
  (:class:`WebError` and subclasses).

Private modules: ``_live`` (state), ``_messages`` (record -> message,
JSON), ``_hub`` (fan-out), ``_auth`` (token, origin, host), ``_bodies``
(request validation), ``_api`` (REST handlers), ``_openapi``, ``_socket``
(``/ws``), ``_page`` (``/``), ``_server``.
"""

from __future__ import annotations

from nfd.outputs.web._auth import read_token_file
from nfd.outputs.web._control import Controller
from nfd.outputs.web._errors import (
    ControlRefused,
    LiveStateError,
    TokenFileError,
    UnknownTarget,
    WebConfigError,
    WebError,
)
from nfd.outputs.web._live import EEG_STATES, LiveState, RunInfo
from nfd.outputs.web._messages import volume_message
from nfd.outputs.web._openapi import openapi_document
from nfd.outputs.web._server import WebServer

__all__ = [
    "ControlRefused",
    "Controller",
    "EEG_STATES",
    "LiveState",
    "LiveStateError",
    "RunInfo",
    "TokenFileError",
    "UnknownTarget",
    "WebConfigError",
    "WebError",
    "WebServer",
    "openapi_document",
    "read_token_file",
    "volume_message",
]
