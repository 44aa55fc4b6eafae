// emostream dashboard: renders the state the server pushes over /ws, one card per camera.
// Everything from the bus goes into the page as text (textContent), never as HTML.
"use strict";

const COLORS = {
  angry: "#d64545",
  disgust: "#6b8e23",
  fear: "#8e5bd6",
  happy: "#e0a800",
  sad: "#3b73d6",
  surprise: "#f08a24",
  neutral: "#8a8f98",
  contempt: "#1a9e8f",
};
const NO_FACE_COLOR = "#d0d7de";
const SERVER_SILENT_MS = 5000;
const PREVIEW_EVERY_MS = 1000;

function colorOf(label) {
  if (COLORS[label]) return COLORS[label];
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 50%)`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmt(value, digits = 1, unit = "") {
  return typeof value === "number" && Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : "–";
}

function pct(p) {
  return typeof p === "number" ? `${Math.round(p * 100)}%` : "–";
}

function duration(seconds) {
  if (typeof seconds !== "number") return "–";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ---- one card per camera -------------------------------------------------------------------

const METRICS = ["fps", "latency", "publish", "dropped", "missed", "reconnects", "malformed", "source"];
const METRIC_NAMES = {
  fps: "FPS",
  latency: "Latency",
  publish: "Capture→publish",
  dropped: "Dropped",
  missed: "Missed here",
  reconnects: "Reconnects",
  malformed: "Malformed",
  source: "Source",
};

class CameraCard {
  constructor(camera) {
    this.root = el("section", "card");
    this.root.dataset.camera = camera;
    const head = el("div", "card-head");
    head.append(el("h2", null, camera));
    this.badge = head.appendChild(el("span", "badge", "LIVE"));
    this.frameNo = head.appendChild(el("span", "frame-no"));
    this.body = el("div", "body");
    const metrics = this.body.appendChild(el("div", "metrics"));
    this.metrics = {};
    for (const key of METRICS) {
      const box = metrics.appendChild(el("div", "metric"));
      box.dataset.metric = key;
      box.append(el("div", "name", METRIC_NAMES[key]));
      this.metrics[key] = { box, value: box.appendChild(el("div", "value", "–")), sub: box.appendChild(el("div", "sub", "\u00a0")) };
    }
    const facesRow = this.body.appendChild(el("div", "faces-row"));
    this.faces = facesRow.appendChild(el("div", "faces"));
    this.preview = facesRow.appendChild(el("img", "preview"));
    this.faceViews = new Map();
    this.noFace = el("div", "no-face", "No face in view");
    const timeline = this.body.appendChild(el("div", "timeline"));
    this.timelineTitle = timeline.appendChild(el("div", "timeline-title", "Dominant expression"));
    this.svg = timeline.appendChild(svgEl("svg", { preserveAspectRatio: "none", viewBox: "0 0 300 1" }));
    const axis = timeline.appendChild(el("div", "axis"));
    this.axisStart = axis.appendChild(el("span"));
    axis.append(el("span", null, "now"));
    this.legend = timeline.appendChild(el("div", "legend"));
    this.timelineKey = "";
    this.preview.hidden = true;
    this.preview.alt = `latest preview from ${camera}`;
    this.previewVersion = 0;
    this.previewLoadedAt = 0;
    this.history = null;
    this.root.dataset.status = "history";
    this.badge.textContent = "HISTORY ONLY";
    this.root.append(head, this.body);
  }

  updateHistory(name, data, windowInfo) {
    if (!this.history) this.history = new HistoryView(this.body);
    this.history.update(name, data, windowInfo);
  }

  metric(key, value, sub, alert = false) {
    const m = this.metrics[key];
    m.value.textContent = value;
    m.sub.textContent = sub || "\u00a0";
    m.box.classList.toggle("alert", alert);
  }

  update(cam) {
    this.root.dataset.status = cam.status;
    this.badge.textContent = cam.status === "stale" ? `STALE · no messages for ${duration(cam.age_s)}` : "LIVE";
    this.frameNo.textContent = cam.frame ? `frame ${cam.frame.frame}` : "";
    const stats = cam.stats || {};
    const lat = cam.latency;
    this.metric("fps", fmt(stats.fps), `received ${cam.rx_fps}/s`);
    this.metric("latency", fmt(lat.total_ms, 1, " ms"), `pipeline, avg ${fmt(lat.total_avg_ms, 1, " ms")}`);
    this.metric("publish", fmt(lat.capture_to_publish_ms, 1, " ms"), `avg ${fmt(lat.capture_to_publish_avg_ms, 1, " ms")}`);
    const count = (v) => (typeof v === "number" ? v : 0); // stats fields beyond fps are unchecked
    const dropped = count(stats.dropped_source) + count(stats.dropped_socket);
    this.metric("dropped", cam.stats ? String(dropped) : "–", cam.stats ? `source ${stats.dropped_source ?? "–"} · socket ${stats.dropped_socket ?? "–"}` : "no stats yet", dropped > 0);
    this.metric("missed", String(cam.missed_frames), "frame-number gaps", cam.missed_frames > 0);
    this.metric("reconnects", cam.stats ? String(stats.reconnects ?? "–") : "–", "source reconnects", count(stats.reconnects) > 0);
    this.metric("malformed", String(cam.malformed), "messages skipped", cam.malformed > 0);
    this.metric("source", stats.source_state ?? "–", cam.stats ? `up ${duration(stats.uptime_s)}` : "", cam.stats && stats.source_state !== "running");
    this.updateFaces(cam);
    this.updateTimeline(cam);
    this.updatePreview(cam);
  }

  updateFaces(cam) {
    const faces = cam.frame ? cam.frame.faces : [];
    const seen = new Set();
    faces.forEach((face, index) => {
      seen.add(face.id);
      let view = this.faceViews.get(face.id);
      if (!view) {
        view = new FaceView(face.id);
        this.faceViews.set(face.id, view);
      }
      view.update(face, cam.labels);
      const here = this.faces.children[index] || null;
      if (here !== view.root) this.faces.insertBefore(view.root, here); // message order
    });
    for (const [id, view] of this.faceViews) {
      if (!seen.has(id)) {
        view.root.remove();
        this.faceViews.delete(id);
      }
    }
    if (faces.length === 0) this.faces.append(this.noFace);
    else this.noFace.remove();
  }

  updateTimeline(cam) {
    const tl = cam.timeline;
    const key = `${tl.end}|${cam.labels.join(",")}|${tl.dominant.join(",")}`;
    if (key === this.timelineKey) return;
    this.timelineKey = key;
    const n = tl.dominant.length;
    this.svg.setAttribute("viewBox", `0 0 ${n} 1`);
    this.svg.replaceChildren();
    const used = new Set();
    let start = 0;
    for (let i = 1; i <= n; i++) {
      const value = tl.dominant[start];
      if (i < n && tl.dominant[i] === value) continue;
      if (value !== null) {
        const label = value < 0 ? "no face" : cam.labels[value];
        used.add(label);
        const rect = svgEl("rect", { x: start, y: 0, width: i - start, height: 1, fill: value < 0 ? NO_FACE_COLOR : colorOf(label) });
        rect.dataset.label = label;
        rect.append(svgEl("title", {}));
        rect.firstChild.textContent = `${label}, ${n - start} s ago to ${n - i} s ago`;
        this.svg.append(rect);
      }
      start = i;
    }
    this.timelineTitle.textContent = `Dominant expression, last ${duration(n * tl.step_s)}`;
    this.axisStart.textContent = `−${duration(n * tl.step_s)}`;
    this.legend.replaceChildren();
    for (const label of [...cam.labels, "no face"]) {
      if (!used.has(label)) continue;
      const item = this.legend.appendChild(el("span", null, label));
      item.style.setProperty("--swatch", label === "no face" ? NO_FACE_COLOR : colorOf(label));
    }
  }

  updatePreview(cam) {
    if (!cam.preview || cam.preview.version === this.previewVersion) return;
    if (Date.now() - this.previewLoadedAt < PREVIEW_EVERY_MS) return;
    this.previewVersion = cam.preview.version;
    this.previewLoadedAt = Date.now();
    this.preview.src = `/api/preview/${encodeURIComponent(this.root.dataset.camera)}?v=${cam.preview.version}`;
    this.preview.hidden = false;
  }
}

// ---- history from the store (dashboard --db) ------------------------------------------------

// Minutes a window spans: it starts inside a minute and ends inside another, one column more.
const HISTORY_WINDOWS = { hour: 61, day: 1441 };
const HISTORY_EVERY_MS = 30000;

function clock(unixSeconds, withDay = false) {
  const options = { hour: "2-digit", minute: "2-digit" };
  if (withDay) options.weekday = "short";
  return new Date(unixSeconds * 1000).toLocaleString([], options);
}

class HistoryView {
  constructor(root) {
    this.root = root.appendChild(el("div", "history"));
    this.root.append(el("div", "history-title", "History"));
    this.summary = this.root.appendChild(el("div", "history-summary"));
    this.charts = {};
    for (const name of Object.keys(HISTORY_WINDOWS)) {
      const box = this.root.appendChild(el("div", "history-chart"));
      box.dataset.window = name;
      const title = box.appendChild(el("div", "timeline-title", `Expressions per minute, last ${name}`));
      const svg = box.appendChild(svgEl("svg", { preserveAspectRatio: "none", viewBox: `0 0 ${HISTORY_WINDOWS[name]} 1` }));
      const axis = box.appendChild(el("div", "axis"));
      this.charts[name] = { box, title, svg, start: axis.appendChild(el("span")), end: axis.appendChild(el("span")) };
    }
    this.legend = this.root.appendChild(el("div", "legend"));
    this.root.append(el("div", "timeline-title", "Longest tracks"));
    this.tracks = this.root.appendChild(el("ol", "tracks"));
  }

  update(name, data, windowInfo) {
    const chart = this.charts[name];
    const width = HISTORY_WINDOWS[name];
    const first = Math.floor(windowInfo.since / 60) * 60;
    chart.start.textContent = clock(windowInfo.since, name === "day");
    chart.end.textContent = `now, ${clock(windowInfo.now, name === "day")}`;
    chart.svg.replaceChildren();
    const labels = new Set();
    for (const m of data.minutes) for (const label of Object.keys(m.shares)) labels.add(label);
    const order = [...Object.keys(COLORS), ...[...labels].filter((l) => !(l in COLORS)).sort()].filter((l) => labels.has(l));
    // Each minute is a column from x to x + 1; a label's area is stacked on those before it.
    const below = new Map();
    for (const label of order) {
      let d = "";
      for (const m of data.minutes) {
        const share = m.shares[label] || 0;
        if (share <= 0) continue;
        const x = (m.minute - first) / 60;
        if (x < 0 || x >= width) continue;
        const base = below.get(m.minute) || 0;
        below.set(m.minute, base + share);
        d += `M${x} ${1 - base}H${x + 1}V${1 - base - share}H${x}Z`;
      }
      if (!d) continue;
      const path = chart.svg.appendChild(svgEl("path", { d, fill: colorOf(label) }));
      path.dataset.label = label;
      path.append(svgEl("title", {}));
      path.firstChild.textContent = label;
    }
    chart.box.dataset.minutes = String(data.minutes.length);
    if (name === "day") {
      this.summary.textContent = `Last day: ${data.faces} face results in ${data.frames} frames, ${data.tracks} tracks`;
      this.summary.dataset.faces = String(data.faces);
      this.summary.dataset.tracks = String(data.tracks);
      this.legend.replaceChildren();
      for (const label of order) {
        const item = this.legend.appendChild(el("span", null, label));
        item.style.setProperty("--swatch", colorOf(label));
      }
      this.tracks.replaceChildren();
      for (const t of data.longest) {
        const item = this.tracks.appendChild(el("li", null, `face ${t.track}: ${duration(t.seconds)}, mostly ${t.label}, from ${clock(t.start, true)} (${t.faces} results)`));
        item.dataset.track = String(t.track);
        item.dataset.seconds = String(t.seconds);
      }
      if (!data.longest.length) this.tracks.append(el("li", "muted", "none yet"));
    }
  }
}

class FaceView {
  constructor(id) {
    this.root = el("div", "face");
    this.root.dataset.faceId = id;
    const head = this.root.appendChild(el("div", "face-head"));
    head.append(el("span", "face-id", `face ${id}`));
    this.label = head.appendChild(el("span", "face-label"));
    this.conf = head.appendChild(el("span", "face-conf"));
    this.uncertain = head.appendChild(el("span", "tag", "uncertain"));
    // The face mesh's reading (schema 1.1): a dot that moves as the head turns, where the face
    // looks, and its eyes and mouth; with --gaze (1.2) a smaller dot and text for where the
    // eyes point. Hidden when the pipeline runs without the mesh.
    this.mesh = this.root.appendChild(el("div", "face-mesh"));
    const dial = this.mesh.appendChild(el("span", "pose-dial"));
    this.poseDot = dial.appendChild(el("span", "pose-dot"));
    this.gazeDot = dial.appendChild(el("span", "gaze-dot"));
    this.looking = this.mesh.appendChild(el("span", "looking"));
    this.gaze = this.mesh.appendChild(el("span", "gaze"));
    this.openness = this.mesh.appendChild(el("span", "openness"));
    this.bars = this.root.appendChild(el("div", "bars"));
    this.barViews = new Map();
  }

  update(face, labels) {
    this.root.dataset.label = face.label;
    this.label.textContent = face.label;
    this.label.style.color = colorOf(face.label);
    this.conf.textContent = pct(face.confidence);
    this.uncertain.hidden = !face.uncertain;
    this.showMesh(face);
    for (const label of labels) {
      let bar = this.barViews.get(label);
      if (!bar) {
        const row = this.bars.appendChild(el("div", "bar-row"));
        row.dataset.label = label;
        row.append(el("span", "bar-name", label));
        const track = row.appendChild(el("span", "bar-track"));
        const fill = track.appendChild(el("span", "bar-fill"));
        fill.style.background = colorOf(label);
        bar = { row, fill, value: row.appendChild(el("span", "bar-value")) };
        this.barViews.set(label, bar);
      }
      const p = face.probs[label] ?? 0;
      bar.row.dataset.p = p.toFixed(3);
      bar.fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      bar.value.textContent = pct(p);
    }
  }

  showMesh(face) {
    const pose = face.pose;
    this.mesh.hidden = !pose;
    if (!pose) return;
    const clamp = (v) => Math.max(-1, Math.min(1, v / 60));
    this.poseDot.style.left = `${50 + 40 * clamp(pose.yaw)}%`;
    this.poseDot.style.top = `${50 - 40 * clamp(pose.pitch)}%`;
    const gaze = face.gaze;
    this.gazeDot.hidden = this.gaze.hidden = !gaze;
    if (gaze) {
      this.gazeDot.style.left = `${50 + 40 * clamp(gaze.yaw)}%`;
      this.gazeDot.style.top = `${50 - 40 * clamp(gaze.pitch)}%`;
      const signed = (v) => `${v >= 0 ? "+" : ""}${Math.round(v)}°`;
      this.gaze.textContent = `gaze ${signed(gaze.yaw)} ${signed(gaze.pitch)}`;
    }
    this.mesh.dataset.yaw = String(pose.yaw);
    this.mesh.dataset.pitch = String(pose.pitch);
    this.mesh.dataset.roll = String(pose.roll);
    this.mesh.title = `yaw ${pose.yaw}°, pitch ${pose.pitch}°, roll ${pose.roll}°`;
    this.looking.textContent = face.frontal ? "looking" : "away";
    this.looking.dataset.state = face.frontal ? "looking" : "away";
    const eyes = face.eyes_open;
    const parts = [];
    if (eyes) parts.push(`eyes ${pct(eyes[0])} / ${pct(eyes[1])}`);
    if (face.mouth_open != null) parts.push(`mouth ${pct(face.mouth_open)}`);
    this.openness.textContent = parts.join(" · ");
  }
}

// ---- page ----------------------------------------------------------------------------------

const cards = new Map();

function setPill(id, state, text) {
  const pill = document.getElementById(id);
  pill.dataset.state = state;
  pill.textContent = text;
}

function cardFor(camera) {
  let card = cards.get(camera);
  if (!card) {
    card = new CameraCard(camera);
    cards.set(camera, card);
    document.getElementById("cameras").append(card.root);
    document.getElementById("empty").hidden = true;
  }
  return card;
}

async function loadHistory() {
  for (const name of Object.keys(HISTORY_WINDOWS)) {
    let answer;
    try {
      const response = await fetch(`/api/history?window=${name}`, { cache: "no-store" });
      if (response.status === 404) return; // no --db: no history on this dashboard
      if (response.status === 401) return signIn();
      document.getElementById("history").hidden = false;
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (err) {
      setPill("history", "disconnected", `history: ${err.message}`);
      continue;
    }
    setPill("history", "connected", "history: stored");
    for (const [camera, data] of Object.entries(answer.cameras)) cardFor(camera).updateHistory(name, data, answer);
  }
}

function render(state) {
  const link = state.link;
  setPill("link", link.connected ? "connected" : "disconnected", `publisher ${link.endpoint}: ${link.detail}`);
  const malformed = document.getElementById("malformed");
  malformed.dataset.count = state.malformed;
  malformed.textContent = `malformed: ${state.malformed}`;
  malformed.title = state.last_malformed ? `last: ${state.last_malformed.reason} (${state.last_malformed.topic})` : "";
  if (state.cameras.length > 0) document.getElementById("empty").hidden = true;
  for (const cam of state.cameras) cardFor(cam.camera).update(cam);
}

let socket = null;

// With --auth-file, a session that expired or a token that changed sends the page to sign in.
function signIn() {
  location.assign("/login");
}

let lastMessageAt = 0;
let retryMs = 500;

function offline(isOffline) {
  document.body.classList.toggle("offline", isOffline);
  document.getElementById("offline").hidden = !isOffline;
  setPill("server", isOffline ? "reconnecting" : "live", isOffline ? "dashboard: reconnecting…" : "dashboard: live");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(`${scheme}${location.host}/ws`);
  socket.onopen = () => {
    retryMs = 500;
    lastMessageAt = Date.now();
    offline(false);
  };
  socket.onmessage = (event) => {
    lastMessageAt = Date.now();
    try {
      render(JSON.parse(event.data));
    } catch (err) {
      console.error("could not render a state update", err);
    }
  };
  socket.onclose = async () => {
    offline(true);
    // A refused handshake looks like any other close: ask over HTTP whether the session ended.
    try {
      if ((await fetch("/api/state", { cache: "no-store" })).status === 401) return signIn();
    } catch (err) {
      // the server is down: keep retrying below
    }
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
}

// The server pushes at least once a second; silence means a hung connection, so start over.
setInterval(() => {
  if (socket && socket.readyState === WebSocket.OPEN && Date.now() - lastMessageAt > SERVER_SILENT_MS) {
    socket.close();
  }
}, 1000);

connect();
loadHistory();
setInterval(loadHistory, HISTORY_EVERY_MS);
