// @ts-check
/// <reference lib="dom" />
// GameServer cluster dashboard, served by the registry: its /status (every node's role, epoch,
// load as the registry last heard it) and /events (registrations, deaths, elections) once a
// second, each live node's /console/node (connections by transport) and one node's
// /console/density (the heat map). Test hooks live on window.__dashboard.

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const POLL_MS = 1000;
const HISTORY = 120;
const COLOURS = ["#ffcc4d", "#6fa8dc", "#5fd38d", "#e06666", "#b48ead", "#f0a04b", "#88c0d0"];

const dash = {
  /** The registry's last /status. @type {any} */
  status: null,
  /** Nodes as shown: one row each. @type {any[]} */
  nodes: [],
  /** What each node's own /console/node said, by node id. @type {Record<string, any>} */
  nodeInfo: {},
  /** The timeline, oldest first. @type {{ id: string, at: number, kind: string, nodeId?: string, epoch: number, text: string }[]} */
  events: [],
  /** The registry run the events came from (its start time) and the next id to ask for. */
  registryStartedAt: 0,
  nextEventId: 0,
  /** Samples per node id for the charts. @type {Record<string, { users: number[], tick: number[], load: number[], lag: number[] }>} */
  history: {},
  /** The last density grid drawn. @type {any} */
  density: null,
  polls: 0,
  error: "",
};
Object.assign(globalThis, { __dashboard: dash });

/** GETs `url` as JSON within `ms`. */
async function getJson(/** @type {string} */ url, ms = 1500) {
  const response = await fetch(url, { signal: AbortSignal.timeout(ms), cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** The base URL of a node's HTTP plane (null without one). */
function httpOf(/** @type {any} */ n) {
  const a = n.address;
  if (!a?.httpPort) return null;
  return `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.httpPort}`;
}

/** @type {string | null} */
let previousMaster = null;

async function pollStatus() {
  try {
    dash.status = await getJson("/status");
    dash.error = "";
  } catch (err) {
    dash.error = `Registry unreachable: ${/** @type {Error} */ (err).message}`;
    return;
  }
  const s = dash.status;
  // A new master: take the heat map from it now rather than at the next round.
  if (s.masterId !== previousMaster) {
    previousMaster = s.masterId;
    if (s.masterId) pollDensity();
  }
  const master = s.nodes.find((/** @type {any} */ n) => n.nodeId === s.masterId && n.alive);
  dash.nodes = [...s.nodes].sort((a, b) =>
    Number(b.alive) - Number(a.alive) || a.nodeId.localeCompare(b.nodeId)
  ).map((n) => ({
    ...n,
    lag: master && n.alive ? Math.max(0, master.load.lastSeq - n.load.lastSeq) : null,
  }));
  for (const n of dash.nodes) {
    const h = (dash.history[n.nodeId] ??= { users: [], tick: [], load: [], lag: [] });
    push(h.users, n.alive ? n.load.users : NaN);
    push(h.tick, n.alive ? n.load.tickP99Ms : NaN);
    push(h.load, n.alive ? n.load.loadFactor : NaN);
    push(h.lag, n.lag ?? NaN);
  }
  dash.polls++;
}

function push(/** @type {number[]} */ list, /** @type {number} */ value) {
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

async function pollNodes() {
  await Promise.all(
    dash.nodes.filter((n) => n.alive).map(async (n) => {
      const base = httpOf(n);
      if (!base) return;
      try {
        dash.nodeInfo[n.nodeId] = { ...(await getJson(`${base}/console/node`)), ok: true };
      } catch {
        dash.nodeInfo[n.nodeId] = { ok: false };
      }
    }),
  );
}

async function pollEvents() {
  let body;
  try {
    body = await getJson(`/events?since=${dash.nextEventId}`);
  } catch {
    return;
  }
  if (body.startedAt !== dash.registryStartedAt) {
    // Another registry run: its ids start again. Note the restart when we saw an earlier run.
    if (dash.registryStartedAt) {
      dash.events.push({
        id: `${body.startedAt}:restart`,
        at: Date.now(),
        kind: "registry_restarted",
        epoch: 0,
        text: `The registry restarted (its run before started ${clock(dash.registryStartedAt)})`,
      });
    }
    dash.registryStartedAt = body.startedAt;
    if (dash.nextEventId > 0) {
      dash.nextEventId = 0;
      return; // asked with the old run's cursor: ask again from the start of this run
    }
  }
  for (const e of body.events) dash.events.push({ ...e, id: `${body.startedAt}:${e.id}` });
  if (dash.events.length > 1000) dash.events.splice(0, dash.events.length - 1000);
  dash.nextEventId = body.next - 1;
}

async function pollDensity() {
  const s = dash.status;
  if (!s) return;
  const live = dash.nodes.filter((n) => n.alive && httpOf(n));
  const from = live.find((n) => n.nodeId === s.masterId) ?? live[0];
  if (!from) return;
  try {
    dash.density = await getJson(`${httpOf(from)}/console/density?cols=64&rows=64`);
  } catch {
    return;
  }
  drawHeat();
}

// --- drawing ------------------------------------------------------------------------------------

function clock(/** @type {number} */ ms) {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${
    String(d.getMilliseconds()).padStart(3, "0")
  }`;
}

function fixed(/** @type {number} */ v, digits = 1) {
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/** `v` as HTML text. */
function esc(/** @type {unknown} */ v) {
  return String(v).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A message with long fractions ("silent for 1001.0072340000042 ms") cut to whole numbers. */
function tidy(/** @type {string} */ text) {
  return text.replace(/(\d+)\.\d{3,}/g, "$1");
}

function colourOf(/** @type {string} */ nodeId) {
  const ids = Object.keys(dash.history).sort();
  return COLOURS[ids.indexOf(nodeId) % COLOURS.length];
}

function drawTable() {
  const rows = dash.nodes.map((n) => {
    const info = dash.nodeInfo[n.nodeId];
    const t = info?.ok ? info.transports ?? {} : {};
    const base = httpOf(n);
    const name = base && n.alive
      ? `<a href="${esc(base)}/" target="_blank" title="play on ${esc(n.nodeId)}">${
        esc(n.nodeId)
      }</a>`
      : esc(n.nodeId);
    const seen = n.alive ? "live" : `dead: ${esc(tidy(n.deathReason ?? ""))}`;
    return `<tr class="${n.alive ? "" : "dead"}" data-node="${esc(n.nodeId)}">
      <td><span style="color:${colourOf(n.nodeId)}">●</span> ${name}</td>
      <td class="role-${esc(n.role)}">${esc(n.role)}</td>
      <td>${esc(n.epoch)}</td><td>${esc(n.load.lastSeq)}</td><td>${n.lag ?? "–"}</td>
      <td>${t.zmq ?? (info?.ok ? n.load.connections : "–")}</td><td>${t.ws ?? "–"}</td>
      <td>${n.load.users}</td><td>${n.load.sessions}</td><td>${fixed(n.load.tickP99Ms)}</td>
      <td>${fixed(n.load.loadFactor, 2)}</td><td>${seen}</td></tr>`;
  });
  $("nodes").innerHTML = rows.join("");
  const s = dash.status;
  $("summary").textContent = dash.error ||
    (s
      ? `· epoch ${s.epoch} · master ${s.masterId ?? "none"}${
        s.election ? ` · election for epoch ${s.election.epoch}` : ""
      }${s.recovering ? " · recovering" : ""}`
      : "");
}

function drawTimeline() {
  const list = $("timeline");
  if (list.childElementCount === dash.events.length) return;
  list.innerHTML = [...dash.events].reverse().map((e) =>
    `<li data-kind="${esc(e.kind)}"><time>${clock(e.at)}</time><span class="kind kind-${
      esc(e.kind)
    }">${esc(e.kind.replace("_", " "))}</span>${esc(tidy(e.text))}</li>`
  ).join("");
}

function drawCharts() {
  const ids = Object.keys(dash.history).sort();
  $("legend").innerHTML = ids.map((id) => `<span style="color:${colourOf(id)}">● ${esc(id)}</span>`)
    .join("");
  for (
    const [key, canvasId] of [["users", "chart-users"], ["tick", "chart-tick"], [
      "load",
      "chart-load",
    ], ["lag", "chart-lag"]]
  ) {
    const canvas = /** @type {HTMLCanvasElement} */ ($(canvasId));
    const w = (canvas.width = canvas.clientWidth);
    const h = (canvas.height = canvas.clientHeight);
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    let max = key === "load" ? 1 : 1e-9;
    for (const id of ids) {
      for (const v of dash.history[id][/** @type {"users"} */ (key)]) {
        if (Number.isFinite(v)) max = Math.max(max, v);
      }
    }
    ctx.fillStyle = "#8592a6";
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillText(fixed(max, key === "load" ? 2 : key === "tick" ? 1 : 0), 4, 11);
    for (const id of ids) {
      const values = dash.history[id][/** @type {"users"} */ (key)];
      ctx.beginPath();
      let drawing = false;
      values.forEach((v, i) => {
        const x = w - (values.length - 1 - i) * (w / (HISTORY - 1));
        const y = h - 3 - (v / max) * (h - 16);
        if (!Number.isFinite(v)) drawing = false;
        else if (drawing) ctx.lineTo(x, y);
        else {
          ctx.moveTo(x, y);
          drawing = true;
        }
      });
      ctx.strokeStyle = colourOf(id);
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }
}

function drawHeat() {
  const d = dash.density;
  const canvas = /** @type {HTMLCanvasElement} */ ($("heat"));
  canvas.width = d.cols;
  canvas.height = d.rows;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const image = ctx.createImageData(d.cols, d.rows);
  const top = Math.log1p(d.max || 1);
  for (let i = 0; i < d.counts.length; i++) {
    const t = d.counts[i] ? Math.log1p(d.counts[i]) / top : 0;
    // Black → deep red → orange → pale yellow.
    image.data[4 * i] = Math.round(255 * Math.min(1, t * 1.6));
    image.data[4 * i + 1] = Math.round(255 * Math.max(0, Math.min(1, (t - 0.35) * 1.6)));
    image.data[4 * i + 2] = Math.round(200 * Math.max(0, t - 0.75) * 4);
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  $("heat-info").textContent = `· ${d.users} users on ${d.nodeId}, ${d.width}×${d.height} m, ` +
    `${d.cols}×${d.rows} cells, busiest ${d.max}`;
}

async function loop() {
  for (;;) {
    const started = performance.now();
    await pollStatus();
    await Promise.all([pollNodes(), pollEvents()]);
    drawTable();
    drawTimeline();
    drawCharts();
    await new Promise((r) => setTimeout(r, Math.max(100, POLL_MS - (performance.now() - started))));
  }
}

loop();
pollDensity();
setInterval(pollDensity, 2000);
