// nfd live page: plots the run as it happens, from the daemon's WebSocket (/ws).
//
// Data live in typed arrays (grown by doubling), every plot is redrawn at most
// once per animation frame, and a series with more points than the plot has
// pixel columns is drawn decimated (min and max per column), so a
// 1000-volume run costs a few milliseconds per frame.  Nothing is fetched
// from anywhere but this server.
//
// For tests and curious operators, window.nfdLive holds the counts:
//   counts: {feedback, roi: {name: n}, fd, dvars, eeg, events}   points held
//   drawn:  {feedback, roi, fd, dvars, eeg}                       vertices drawn in the last frame
//   frames, lastDrawMs, maxDrawMs, messages, connected, runState, lastIndex
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  const SERIES_COLOURS = ["#4fc3f7", "#ff8a65", "#aed581", "#ba68c8", "#ffd54f", "#4db6ac", "#f06292", "#90a4ae"];
  const BLOCK_COLOURS = ["rgba(255,183,77,0.20)", "rgba(79,195,247,0.18)", "rgba(174,213,129,0.20)",
    "rgba(186,104,200,0.20)", "rgba(240,98,146,0.18)"];
  const FEEDBACK_COLOUR = "#ffffff";
  const THRESHOLD_COLOUR = "#ef5350";
  const EVENT_COLOUR = "rgba(255,255,255,0.55)";
  const GRID = "rgba(255,255,255,0.08)";
  const AXIS_INK = "#8b94a3";
  const MARGIN = { left: 52, right: 12, top: 8, bottom: 20 };

  // ---- data ----------------------------------------------------------------
  class Series {
    constructor(capacity) {
      this.x = new Float64Array(capacity);
      this.y = new Float64Array(capacity);
      this.n = 0;
    }
    push(x, y) {
      if (this.n === this.x.length) {
        const x2 = new Float64Array(this.x.length * 2);
        const y2 = new Float64Array(this.y.length * 2);
        x2.set(this.x);
        y2.set(this.y);
        this.x = x2;
        this.y = y2;
      }
      this.x[this.n] = x;
      this.y[this.n] = (typeof y === "number" && isFinite(y)) ? y : NaN;
      this.n += 1;
    }
    clear() { this.n = 0; }
  }

  const live = {
    counts: { feedback: 0, roi: {}, fd: 0, dvars: 0, eeg: 0, events: 0 },
    drawn: { feedback: 0, roi: 0, fd: 0, dvars: 0, eeg: 0 },
    frames: 0, lastDrawMs: 0, maxDrawMs: 0, messages: 0,
    connected: false, runState: "idle", lastIndex: null,
  };
  window.nfdLive = live;

  const S = {
    info: null,
    runState: "idle",
    summary: null,
    feedback: new Series(1024),
    roi: new Map(),
    roiKind: null,
    fd: new Series(1024),
    dvars: new Series(1024),
    eeg: new Series(4096),
    events: [],
    warnings: [],
    warningsTotal: 0,
    last: null,
    processed: 0,
    fdOver: 0,
    dvarsOver: 0,
    notConverged: 0,
    conditionColour: new Map(),
  };

  function reset() {
    S.info = null;
    S.runState = "idle";
    S.summary = null;
    S.feedback.clear();
    S.roi = new Map();
    S.roiKind = null;
    S.fd.clear();
    S.dvars.clear();
    S.eeg.clear();
    S.events = [];
    S.last = null;
    S.processed = 0;
    S.fdOver = 0;
    S.dvarsOver = 0;
    S.notConverged = 0;
    S.conditionColour = new Map();
  }

  function colourOf(condition) {
    if (!S.conditionColour.has(condition)) {
      S.conditionColour.set(condition, BLOCK_COLOURS[S.conditionColour.size % BLOCK_COLOURS.length]);
    }
    return S.conditionColour.get(condition);
  }

  // ---- messages ---------------------------------------------------------------
  function onRunStart(m) {
    reset();
    S.info = m;
    S.runState = "running";
    for (const b of m.blocks || []) { if (!b.baseline) colourOf(b.condition); }
    const cap = Math.max(16, (m.n_volumes | 0) + 1);
    S.feedback = new Series(cap);
    S.fd = new Series(cap);
    S.dvars = new Series(cap);
    for (const name of m.rois || []) S.roi.set(name, new Series(cap));
    renderLegends();
  }

  function onVolume(m) {
    const x = m.index;
    S.feedback.push(x, m.feedback);
    if (S.roiKind === null) {
      S.roiKind = (m.psc && Object.keys(m.psc).length) ? "psc" : "roi";
      renderLegends();
    }
    const values = m[S.roiKind] || {};
    for (const name of Object.keys(values)) {
      if (!S.roi.has(name)) {
        S.roi.set(name, new Series(S.feedback.x.length));
        renderLegends();
      }
    }
    for (const [name, series] of S.roi) series.push(x, values[name]);
    S.fd.push(x, m.fd);
    S.dvars.push(x, m.dvars);
    const info = S.info || {};
    if (info.fd_threshold != null && m.fd != null && m.fd > info.fd_threshold) S.fdOver += 1;
    if (info.dvars_threshold != null && m.dvars != null && m.dvars > info.dvars_threshold) S.dvarsOver += 1;
    if (m.converged === false) S.notConverged += 1;
    if (m.condition && !m.baseline) colourOf(m.condition);
    S.last = m;
    S.processed += 1;
  }

  function onEeg(m) {
    if (typeof m.at_volume !== "number") return;
    const value = typeof m.value === "number" ? m.value : (m.value && typeof m.value.value === "number" ? m.value.value : NaN);
    S.eeg.push(m.at_volume, value);
    $("panel-eeg").hidden = false;
  }

  function onWarning(m) {
    S.warnings.push(m);
    if (S.warnings.length > 50) S.warnings.shift();
    S.warningsTotal += 1;
  }

  function handle(m) {
    live.messages += 1;
    switch (m.type) {
      case "hello":
        reset();
        if (m.run) onRunStart(m.run);
        for (const v of m.volumes || []) onVolume(v);
        for (const e of m.eeg || []) onEeg(e);
        S.events = (m.events || []).slice();
        S.warnings = (m.warnings || []).slice();
        S.warningsTotal = (m.status && m.status.warnings) || S.warnings.length;
        S.runState = m.run_state || S.runState;
        S.summary = m.summary || null;
        if (m.status && m.status.eeg && m.status.eeg.state !== "disabled") $("panel-eeg").hidden = false;
        break;
      case "run_start": onRunStart(m); break;
      case "volume": onVolume(m); break;
      case "eeg": onEeg(m); break;
      case "eeg_state": if (m.state !== "disabled") $("panel-eeg").hidden = false; break;
      case "event": S.events.push(m); break;
      case "warning": onWarning(m); break;
      case "run_end": S.runState = "ended"; S.summary = m.summary; break;
      default: break;
    }
    updateCounts();
    renderStatus();
    schedule();
  }

  function updateCounts() {
    const c = live.counts;
    c.feedback = S.feedback.n;
    c.roi = {};
    for (const [name, s] of S.roi) c.roi[name] = s.n;
    c.fd = S.fd.n;
    c.dvars = S.dvars.n;
    c.eeg = S.eeg.n;
    c.events = S.events.length;
    live.runState = S.runState;
    live.lastIndex = S.last ? S.last.index : null;
    $("plot-feedback").dataset.points = String(S.feedback.n);
    $("plot-roi").dataset.points = String(S.roi.size ? Math.max(...Array.from(S.roi.values(), (s) => s.n)) : 0);
    $("plot-fd").dataset.points = String(S.fd.n);
    $("plot-dvars").dataset.points = String(S.dvars.n);
    $("plot-eeg").dataset.points = String(S.eeg.n);
  }

  // ---- status line and legends ------------------------------------------------
  function fmt(v, digits) { return (typeof v === "number" && isFinite(v)) ? v.toFixed(digits) : "–"; }

  function renderStatus() {
    const info = S.info;
    $("st-run").textContent = info ? `run ${info.run_id} · ${S.runState}` : "no run yet";
    if (S.last && info) {
      $("st-volume").textContent = `volume ${S.last.index + 1}/${info.n_volumes} · ${S.last.condition || "?"} · ${S.processed} processed`;
    } else if (S.last) {
      $("st-volume").textContent = `volume ${S.last.index + 1} · ${S.processed} processed`;
    } else {
      $("st-volume").textContent = "";
    }
    const latency = S.last ? S.last.latency_ms : null;
    const lat = $("st-latency");
    lat.textContent = latency != null ? `latency ${fmt(latency, 1)} ms` : "";
    lat.title = "from the scanner's last byte of the volume to the feedback sent";
    lat.className = latency != null && info && latency > info.tr * 500 ? "warn" : "";
    const quality = [];
    if (S.fdOver) quality.push(`FD > ${fmt(info && info.fd_threshold, 2)} mm: ${S.fdOver}`);
    if (S.dvarsOver) quality.push(`DVARS > ${fmt(info && info.dvars_threshold, 1)}: ${S.dvarsOver}`);
    if (S.notConverged) quality.push(`not converged: ${S.notConverged}`);
    const q = $("st-quality");
    q.textContent = quality.join(" · ");
    q.className = quality.length ? "warn" : "";
    const w = $("st-warnings");
    w.textContent = S.warningsTotal ? `${S.warningsTotal} warning${S.warningsTotal > 1 ? "s" : ""}` : "no warnings";
    w.className = S.warningsTotal ? "warn" : "";
    const lastWarning = S.warnings[S.warnings.length - 1];
    $("st-warning-last").textContent = lastWarning
      ? `last warning: ${lastWarning.message || lastWarning.event}${lastWarning.index != null ? ` (volume ${lastWarning.index})` : ""}`
      : "";
  }

  function legendItem(colour, text) {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = colour;
    span.appendChild(swatch);
    span.appendChild(document.createTextNode(text));
    return span;
  }

  function renderLegends() {
    const cond = $("legend-conditions");
    cond.replaceChildren();
    for (const [name, colour] of S.conditionColour) cond.appendChild(legendItem(colour, name));
    if (S.info) cond.appendChild(legendItem("transparent", `${S.info.baseline} (no shading)`));
    const roi = $("legend-roi");
    roi.replaceChildren();
    let i = 0;
    for (const name of S.roi.keys()) roi.appendChild(legendItem(SERIES_COLOURS[i++ % SERIES_COLOURS.length], name));
    $("roi-title").textContent = S.roiKind === "roi" ? "ROI signals (raw means)" : "ROI signals (% signal change)";
    const info = S.info || {};
    $("legend-fd").textContent = info.fd_threshold != null ? `threshold ${info.fd_threshold} mm` : "";
    $("legend-dvars").textContent = info.dvars_threshold != null ? `threshold ${info.dvars_threshold}` : "";
  }

  // ---- drawing ------------------------------------------------------------------
  let pending = false;
  function schedule() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(draw);
    }
  }

  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  function yRange(seriesList, extra) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of seriesList) {
      for (let i = 0; i < s.n; i++) {
        const v = s.y[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    for (const v of extra) {
      if (typeof v === "number" && isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
    if (lo === hi) return [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  }

  function xRange() {
    if (S.info) return [0, Math.max(1, S.info.n_volumes - 1)];
    const lastX = S.feedback.n ? S.feedback.x[S.feedback.n - 1] : 0;
    return [0, Math.max(10, lastX)];
  }

  // Draws one series clipped to the plot box; returns the number of vertices drawn.
  function drawSeries(ctx, s, colour, sx, sy, box, width) {
    if (!s.n) return 0;
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    let vertices = 0;
    const columns = Math.max(1, Math.floor(box.w));
    if (s.n <= columns * 2) {  // at most two points per pixel column: draw them all
      let pen = false;
      for (let i = 0; i < s.n; i++) {
        const v = s.y[i];
        if (v !== v) { pen = false; continue; }
        const px = sx(s.x[i]);
        const py = sy(v);
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
        vertices += 1;
      }
      if (s.n === 1 && vertices === 1) ctx.arc(sx(s.x[0]), sy(s.y[0]), 1.5, 0, 2 * Math.PI);
    } else {
      // Decimate: min and max of each pixel column, joined in order.
      let col = -1;
      let lo = Infinity;
      let hi = -Infinity;
      let pen = false;
      const flush = () => {
        if (col < 0 || lo === Infinity) return;
        const px = box.x + col + 0.5;
        if (pen) ctx.lineTo(px, sy(lo)); else ctx.moveTo(px, sy(lo));
        ctx.lineTo(px, sy(hi));
        pen = true;
        vertices += 2;
      };
      for (let i = 0; i < s.n; i++) {
        const c = Math.floor(sx(s.x[i]) - box.x);
        if (c !== col) {
          flush();
          col = c;
          lo = Infinity;
          hi = -Infinity;
        }
        const v = s.y[i];
        if (v !== v) { flush(); lo = Infinity; hi = -Infinity; pen = false; continue; }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      flush();
    }
    ctx.stroke();
    return vertices;
  }

  // One plot: background blocks, grid, axes, series, thresholds, events.
  function plot(canvasId, seriesList, options) {
    const canvas = $(canvasId);
    if (canvas.offsetParent === null) return 0;
    const { ctx, w, h } = fit(canvas);
    ctx.clearRect(0, 0, w, h);
    const box = { x: MARGIN.left, y: MARGIN.top, w: w - MARGIN.left - MARGIN.right, h: h - MARGIN.top - MARGIN.bottom };
    if (box.w < 10 || box.h < 10) return 0;
    const [x0, x1] = xRange();
    const [y0, y1] = yRange(seriesList.map((e) => e.series), options.extraY || []);
    const sx = (x) => box.x + ((x - x0) / (x1 - x0)) * box.w;
    const sy = (y) => box.y + box.h - ((y - y0) / (y1 - y0)) * box.h;

    if (options.blocks && S.info) {
      for (const b of S.info.blocks || []) {
        if (b.baseline) continue;
        const a = Math.max(box.x, sx(b.first - 0.5));
        const z = Math.min(box.x + box.w, sx(b.last + 0.5));
        ctx.fillStyle = colourOf(b.condition);
        ctx.fillRect(a, box.y, z - a, box.h);
      }
    }

    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = AXIS_INK;
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const ys = niceStep(y1 - y0, Math.max(3, Math.floor(box.h / 28)));
    for (let v = Math.ceil(y0 / ys) * ys; v <= y1; v += ys) {
      const py = Math.round(sy(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(box.x, py);
      ctx.lineTo(box.x + box.w, py);
      ctx.stroke();
      ctx.fillText(Math.abs(v) < 1e-9 ? "0" : String(+v.toPrecision(4)), box.x - 6, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xs = niceStep(x1 - x0, Math.max(2, Math.floor(box.w / 70)));
    for (let v = Math.ceil(x0 / xs) * xs; v <= x1; v += xs) {
      const px = Math.round(sx(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, box.y + box.h);
      ctx.lineTo(px, box.y + box.h + 4);
      ctx.stroke();
      ctx.fillText(String(v), px, box.y + box.h + 5);
    }

    if (options.zero && y0 < 0 && y1 > 0) {
      ctx.strokeStyle = "rgba(255,255,255,0.25)";
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(sy(0)) + 0.5);
      ctx.lineTo(box.x + box.w, Math.round(sy(0)) + 0.5);
      ctx.stroke();
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(box.x, box.y, box.w, box.h);
    ctx.clip();
    let vertices = 0;
    for (const e of seriesList) vertices += drawSeries(ctx, e.series, e.colour, sx, sy, box, e.width || 1.5);
    if (typeof options.threshold === "number") {
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = THRESHOLD_COLOUR;
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      ctx.moveTo(box.x, sy(options.threshold));
      ctx.lineTo(box.x + box.w, sy(options.threshold));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (options.events) {
      ctx.setLineDash([2, 3]);
      ctx.strokeStyle = EVENT_COLOUR;
      ctx.fillStyle = EVENT_COLOUR;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      for (const ev of S.events) {
        if (typeof ev.at_volume !== "number") continue;
        const px = sx(ev.at_volume);
        ctx.beginPath();
        ctx.moveTo(px, box.y);
        ctx.lineTo(px, box.y + box.h);
        ctx.stroke();
        ctx.fillText(ev.name, px + 3, box.y + 2);
      }
      ctx.setLineDash([]);
    }
    ctx.restore();
    ctx.strokeStyle = "rgba(255,255,255,0.18)";
    ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w - 1, box.h - 1);
    return vertices;
  }

  function draw() {
    pending = false;
    const t0 = performance.now();
    const info = S.info || {};
    live.drawn.feedback = plot("plot-feedback", [{ series: S.feedback, colour: FEEDBACK_COLOUR, width: 2 }],
      { blocks: true, events: true, zero: true, extraY: [0] });
    let i = 0;
    const roiSeries = [];
    for (const s of S.roi.values()) roiSeries.push({ series: s, colour: SERIES_COLOURS[i++ % SERIES_COLOURS.length] });
    live.drawn.roi = plot("plot-roi", roiSeries, { blocks: true, zero: S.roiKind !== "roi" });
    live.drawn.fd = plot("plot-fd", [{ series: S.fd, colour: "#ffd54f" }],
      { threshold: info.fd_threshold, extraY: [0, info.fd_threshold] });
    live.drawn.dvars = plot("plot-dvars", [{ series: S.dvars, colour: "#4db6ac" }],
      { threshold: info.dvars_threshold, extraY: [info.dvars_threshold] });
    live.drawn.eeg = plot("plot-eeg", [{ series: S.eeg, colour: "#f06292" }], { blocks: true, zero: true });
    const ms = performance.now() - t0;
    live.frames += 1;
    live.lastDrawMs = ms;
    if (ms > live.maxDrawMs) live.maxDrawMs = ms;
  }

  window.addEventListener("resize", schedule);

  // ---- connection -------------------------------------------------------------------
  function token() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (m) {
      const t = decodeURIComponent(m[1]);
      window.sessionStorage.setItem("nfd-token", t);
      history.replaceState(null, "", window.location.pathname + window.location.search);
      return t;
    }
    return window.sessionStorage.getItem("nfd-token");
  }

  function setConnection(kind, title) {
    const dot = $("st-conn");
    dot.className = "dot " + kind;
    dot.title = title;
    live.connected = kind === "on";
  }

  let retry = 500;
  async function connect() {
    const t = token();
    try {
      const headers = t ? { Authorization: "Bearer " + t } : {};
      const r = await fetch("/api/v1/status", { headers, cache: "no-store" });
      if (r.status === 401) {
        setConnection("wait", "access token needed");
        $("token-form").hidden = false;
        return;
      }
    } catch (err) {
      setConnection("", "daemon unreachable: " + err);
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
      return;
    }
    $("token-form").hidden = true;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const protocols = t ? ["nfd.v1", "bearer." + t] : ["nfd.v1"];
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`, protocols);
    ws.onopen = () => { retry = 500; setConnection("on", "connected"); };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (err) { return; }
      handle(msg);
    };
    ws.onclose = () => {
      setConnection("", "disconnected; reconnecting");
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.sessionStorage.setItem("nfd-token", $("token-input").value.trim());
    $("token-input").value = "";
    connect();
  });

  window.addEventListener("hashchange", () => {
    if (/(?:^|[#&])token=/.test(window.location.hash)) connect();
  });

  renderStatus();
  schedule();
  connect();
})();
