// @ts-check
/// <reference lib="dom" />
// GameServer play page: one WebSocket to a node (proto3 JSON text frames), a canvas map centred on
// the player. It asks only for what is on screen (query_rect) at a steady rate within the node's
// work-unit budget, heartbeats with ping, and when its node dies asks the registry's /discover for
// another, reconnects and resumes its user with the session token kept in localStorage.
// Test and tooling hooks live on window.__console (see `state` below).

const params = new URLSearchParams(location.search);
/** @type {HTMLCanvasElement} */
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById("map"));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { alpha: false }));
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** A node silent this long is taken for dead (pings go every PING_MS). */
const SERVER_TIMEOUT_MS = 3000;
const PING_MS = 1000;
const REQUEST_TIMEOUT_MS = 5000;
/** Fastest query rate; slower when replies are large (see nextQueryDelay). */
const QUERY_MIN_MS = 200;
/** Share of the node's per-client work-unit budget the map queries may use. */
const QUERY_BUDGET_SHARE = 0.5;
const FLASH_MS = 600;
const AOE_SHOW_MS = 500;

/**
 * Everything the page knows, exposed as window.__console for tests and curious users.
 */
const state = {
  /** "starting" | "connecting" | "online" | "reconnecting" */
  phase: "starting",
  /** @type {any} */
  config: null,
  /** HTTP base URLs of the registries (from /console/config, or ?registry=URL[,URL]). */
  registries: /** @type {string[]} */ ([]),
  /** The WebSocket URL in use. */
  url: "",
  nodeId: "",
  role: "",
  rttMs: NaN,
  clientId: "",
  userId: 0,
  loggedIn: false,
  /** Own user as last heard: position, velocity, money, and when (performance.now()). */
  me: { x: 0, y: 0, vx: 0, vy: 0, money: 0, at: 0 },
  /** Users of the last query: count and parallel typed arrays (no object per user). */
  count: 0,
  ids: new Uint32Array(4096),
  xs: new Float64Array(4096),
  ys: new Float64Array(4096),
  vxs: new Float64Array(4096),
  vys: new Float64Array(4096),
  money: new Float64Array(4096),
  /** performance.now() of the last query reply, for extrapolation. */
  seenAt: 0,
  total: 0,
  truncated: false,
  queries: 0,
  /** Pixels per metre. */
  scale: 2,
  fps: 0,
  frames: 0,
  /** Milliseconds the last second's frames took to draw, on average (the renderer's own cost). */
  drawMs: 0,
  reconnects: 0,
  /** The last aoe: its hits and when. */
  lastAoe: /** @type {{ ids: number[], total: number, at: number } | null} */ (null),
  /** Lines shown to the user, newest last (connection events, errors). */
  log: /** @type {{ at: number, text: string }[]} */ ([]),
  /** Synthetic users for measuring the renderer (?bench=N): queries stop while set. */
  bench: 0,
  /** True when the user pressed L: no automatic login until reload. */
  loggedOut: false,
};
Object.assign(globalThis, { __console: state });

// --- identity kept across reloads ----------------------------------------------------------------

/** A random v4 UUID (crypto.randomUUID needs a secure context; getRandomValues does not). */
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const store = {
  get clientId() {
    let id = localStorage.getItem("gameserver.clientId");
    if (!id) localStorage.setItem("gameserver.clientId", id = uuid());
    return id;
  },
  /** @returns {{ userId: number, token: string } | null} */
  get session() {
    try {
      const s = JSON.parse(localStorage.getItem("gameserver.session") ?? "null");
      return s && Number.isInteger(s.userId) && typeof s.token === "string" ? s : null;
    } catch {
      return null;
    }
  },
  set session(s) {
    if (s) localStorage.setItem("gameserver.session", JSON.stringify(s));
    else localStorage.removeItem("gameserver.session");
  },
};

// --- messages on screen ---------------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;
/** Shows `text` in the notice box (sticky until replaced unless `ok`), and logs it. */
function say(/** @type {string} */ text, ok = false) {
  state.log.push({ at: Date.now(), text });
  if (state.log.length > 100) state.log.shift();
  const el = $("notice");
  el.textContent = text;
  el.className = ok ? "show ok" : "show";
  clearTimeout(noticeTimer);
  if (ok) noticeTimer = setTimeout(() => (el.className = ""), 4000);
}

// --- the connection -----------------------------------------------------------------------------

/** @type {WebSocket | null} */
let socket = null;
let nextRequestId = 1;
let lastHeard = 0;
/** @type {Map<number, { resolve: (e: any) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout> }>} */
const pending = new Map();

/** Sends one request; resolves with the reply envelope (an error reply included). */
function request(/** @type {Record<string, unknown>} */ body) {
  return new Promise((resolve, reject) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      reject(new Error("Not connected"));
      return;
    }
    const requestId = nextRequestId;
    nextRequestId = nextRequestId >= 0xffffffff ? 1 : nextRequestId + 1;
    const timer = setTimeout(() => {
      pending.delete(requestId);
      reject(new Error("No reply in time"));
    }, REQUEST_TIMEOUT_MS);
    pending.set(requestId, { resolve, reject, timer });
    socket.send(JSON.stringify({ client_id: state.clientId, request_id: requestId, ...body }));
  });
}

/** Opens a WebSocket to `url`; resolves once open, rejects if it fails or takes over 2 s. */
function open(/** @type {string} */ url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`No answer from ${url}`));
    }, 2000);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`Cannot connect to ${url}`));
    };
  });
}

/** Makes `ws` the page's connection. */
function adopt(/** @type {WebSocket} */ ws, /** @type {string} */ url) {
  socket = ws;
  state.url = url;
  lastHeard = performance.now();
  ws.onmessage = (event) => {
    lastHeard = performance.now();
    let envelope;
    try {
      envelope = JSON.parse(typeof event.data === "string" ? event.data : "");
    } catch {
      return;
    }
    if (!envelope.requestId) {
      if (envelope.notice?.kind === "NOTICE_KIND_SHUTDOWN") lost(ws, "it is shutting down");
      else if (envelope.notice) {
        say(`Node says: ${envelope.notice.message ?? envelope.notice.kind}`);
      }
      return;
    }
    const waiter = pending.get(envelope.requestId);
    if (!waiter) return;
    pending.delete(envelope.requestId);
    clearTimeout(waiter.timer);
    waiter.resolve(envelope);
  };
  ws.onclose = () => lost(ws, "its connection closed");
  ws.onerror = () => {};
}

/** The connection `ws` is gone (closed, silent or shutting down): find another node. */
function lost(/** @type {WebSocket} */ ws, /** @type {string} */ why) {
  if (ws !== socket) return;
  drop();
  if (connecting) return; // connect() is on it
  say(`Lost node ${state.nodeId || state.url} (${why}): finding another node…`);
  connect(true);
}

/** Forgets the current connection and fails its requests in flight. */
function drop() {
  const ws = socket;
  socket = null;
  state.loggedIn = false;
  if (ws) {
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close();
    } catch { /* already closed */ }
  }
  for (const [id, w] of pending) {
    clearTimeout(w.timer);
    w.reject(new Error("Connection lost"));
    pending.delete(id);
  }
}

/**
 * Where to connect: the page's own node at first (and always without a registry); after a loss, a
 * node a registry names (null when none answers, to try again after a pause).
 */
async function pickNode() {
  const self = new URL(state.config?.ws ?? "/ws", location.href);
  self.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (state.phase !== "reconnecting" || state.registries.length === 0) return self.href;
  for (const base of state.registries) {
    try {
      const response = await fetch(`${base}/discover`, { signal: AbortSignal.timeout(1500) });
      const body = await response.json();
      const url = wsUrlOf(body);
      if (response.ok && url) return url;
      say(`Registry ${base}: ${body.reason ?? body.error ?? "no node available"}; retrying…`);
    } catch (err) {
      say(`Registry ${base} unreachable (${/** @type {Error} */ (err).message}); retrying…`);
    }
  }
  return null;
}

/** The WebSocket URL in a /discover answer (its `wsUrl`, or built from the node's host and port). */
function wsUrlOf(/** @type {any} */ body) {
  if (typeof body?.wsUrl === "string" && /^wss?:\/\//.test(body.wsUrl)) return body.wsUrl;
  const node = body?.node;
  if (!node || typeof node !== "object") return null;
  const port = node.http_port ?? node.httpPort;
  if (typeof node.host === "string" && Number.isInteger(port) && port > 0) {
    return `ws://${node.host.includes(":") ? `[${node.host}]` : node.host}:${port}/ws`;
  }
  return null;
}

let connecting = false;
/** Connects (again) with backoff and jitter until a node answers, then logs in or resumes. */
async function connect(again = false) {
  if (connecting) return;
  connecting = true;
  state.phase = again ? "reconnecting" : "connecting";
  const lostAt = performance.now();
  const from = state.nodeId;
  for (let attempt = 0;; attempt++) {
    const url = await pickNode();
    if (url) {
      try {
        adopt(await open(url), url);
        const sent = performance.now();
        const pong = await request({ ping: { client_time_ms: sent } });
        state.rttMs = performance.now() - sent;
        state.nodeId = pong.pong?.nodeId ?? "";
        state.role = roleName(pong.pong?.role);
        state.phase = "online";
        connecting = false;
        if (again) {
          state.reconnects++;
          const s = ((performance.now() - lostAt) / 1000).toFixed(1);
          say(`Reconnected to node ${state.nodeId} after ${s} s (was ${from || "?"})`, true);
        } else $("notice").className = "";
        await logIn();
        return;
      } catch (err) {
        drop();
        say(`${/** @type {Error} */ (err).message}; retrying…`);
      }
    }
    await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
  }
}

/** Logs in: resumes the stored session when there is one, else creates a user. Retries writes. */
async function logIn() {
  if (state.loggedOut) return;
  for (let attempt = 0; socket; attempt++) {
    const saved = store.session;
    const reply = await request({
      login: saved ? { user_id: saved.userId, session_token: saved.token } : {},
    }).catch(() => null);
    if (!reply) return; // connection lost: connect() starts over
    if (reply.loginReply) {
      const r = reply.loginReply;
      state.userId = r.userId;
      state.loggedIn = true;
      store.session = { userId: r.userId, token: r.sessionToken };
      if (r.user) heardMe(r.user);
      if (r.resumed) say(`Resumed user ${r.userId} on node ${state.nodeId}`, true);
      lastVelocity = ""; // say the held keys again to this node
      steer();
      return;
    }
    const code = reply.error?.code;
    if (code === "SESSION_INVALID" && saved) {
      store.session = null;
      say(`Session of user ${saved.userId} is gone: logging in as a new user`);
      continue;
    }
    if (code === "ALREADY_LOGGED_IN") {
      state.loggedIn = true;
      return;
    }
    say(`Login: ${code ?? "failed"} ${reply.error?.message ?? ""}; retrying…`);
    await sleep(Math.min(2000, 200 * 2 ** attempt));
  }
}

function roleName(/** @type {string | undefined} */ role) {
  return (role ?? "ROLE_UNSPECIFIED").replace("ROLE_", "").toLowerCase();
}

function sleep(/** @type {number} */ ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Records own user as the node just reported it. */
function heardMe(/** @type {any} */ u) {
  state.me = {
    x: u.x ?? 0,
    y: u.y ?? 0,
    vx: u.vx ?? 0,
    vy: u.vy ?? 0,
    money: u.money ?? 0,
    at: performance.now(),
  };
}

// --- heartbeat and queries ------------------------------------------------------------------------

setInterval(async () => {
  if (!socket || state.phase !== "online") return;
  if (performance.now() - lastHeard > SERVER_TIMEOUT_MS) {
    lost(socket, `silent for ${SERVER_TIMEOUT_MS / 1000} s`);
    return;
  }
  const sent = performance.now();
  const reply = await request({ ping: { client_time_ms: sent } }).catch(() => null);
  if (reply?.pong) {
    state.rttMs = performance.now() - sent;
    state.nodeId = reply.pong.nodeId ?? state.nodeId;
    state.role = roleName(reply.pong.role);
  }
}, PING_MS);

/** The visible world rectangle, clamped to the world. */
function viewRect() {
  const { width, height } = state.config?.world ?? { width: 0, height: 0 };
  const c = centre(performance.now());
  const hw = canvas.clientWidth / 2 / state.scale;
  const hh = canvas.clientHeight / 2 / state.scale;
  return {
    x1: Math.max(0, c.x - hw),
    y1: Math.max(0, c.y - hh),
    x2: Math.min(width, c.x + hw),
    y2: Math.min(height, c.y + hh),
  };
}

/** Work units a query costs (README "Limits"): 1 + 1 per 1,000 matched + 1 per 4 listed. */
function nextQueryDelay(/** @type {number} */ total, /** @type {number} */ listed) {
  const units = 2 + Math.floor(total / 1000) + Math.ceil(listed / 4);
  const perSecond = (state.config?.clients.maxRequestsPerSecond ?? 1000) * QUERY_BUDGET_SHARE;
  return Math.max(QUERY_MIN_MS, (units / perSecond) * 1000);
}

async function queryLoop() {
  for (;;) {
    let delay = QUERY_MIN_MS;
    if (socket && state.phase === "online" && !state.bench) {
      const reply = await request({ query_rect: viewRect() }).catch(() => null);
      if (reply?.queryReply) {
        const q = reply.queryReply;
        take(q.users ?? [], q.total ?? 0, q.truncated === true);
        delay = nextQueryDelay(state.total, state.count);
      } else if (reply?.error?.code === "RATE_LIMITED") delay = 1000;
    }
    await sleep(delay);
  }
}

/** Copies a query's users into the typed arrays (growing them when needed). */
function take(
  /** @type {any[]} */ users,
  /** @type {number} */ total,
  /** @type {boolean} */ truncated,
) {
  if (users.length > state.ids.length) {
    const n = users.length * 2;
    state.ids = new Uint32Array(n);
    state.xs = new Float64Array(n);
    state.ys = new Float64Array(n);
    state.vxs = new Float64Array(n);
    state.vys = new Float64Array(n);
    state.money = new Float64Array(n);
  }
  for (let i = 0; i < users.length; i++) {
    const u = users[i];
    state.ids[i] = u.id ?? 0;
    state.xs[i] = u.x ?? 0;
    state.ys[i] = u.y ?? 0;
    state.vxs[i] = u.vx ?? 0;
    state.vys[i] = u.vy ?? 0;
    state.money[i] = u.money ?? 0;
    if (u.id === state.userId && state.userId) heardMe(u);
  }
  state.count = users.length;
  state.total = total;
  state.truncated = truncated;
  state.seenAt = performance.now();
  state.queries++;
  statusLine();
}

// --- input ------------------------------------------------------------------------------------------

const held = new Set();
const KEYS = /** @type {Record<string, [number, number]>} */ ({
  KeyW: [0, -1],
  ArrowUp: [0, -1],
  KeyS: [0, 1],
  ArrowDown: [0, 1],
  KeyA: [-1, 0],
  ArrowLeft: [-1, 0],
  KeyD: [1, 0],
  ArrowRight: [1, 0],
});
let lastVelocity = "";

/** Sends the velocity the held keys make, when it changed. */
async function steer() {
  let dx = 0;
  let dy = 0;
  for (const code of held) {
    dx += KEYS[code][0];
    dy += KEYS[code][1];
  }
  const len = Math.hypot(dx, dy);
  const speed = state.config?.world.maxSpeed ?? 10;
  const vx = len ? (dx / len) * speed : 0;
  const vy = len ? (dy / len) * speed : 0;
  const key = `${vx},${vy}`;
  if (key === lastVelocity || !state.loggedIn) return;
  lastVelocity = key;
  const reply = await request({ set_velocity: { vx, vy } }).catch(() => null);
  if (reply?.setVelocityReply?.user) heardMe(reply.setVelocityReply.user);
  else if (reply?.error) {
    lastVelocity = ""; // try again on the next key or login
    say(`Move: ${reply.error.code} ${reply.error.message ?? ""}`);
  }
}

/** Casts an area effect around the player and shows its circle and the users it hit. */
async function castAoe() {
  if (!state.loggedIn) return;
  const radius = state.config?.world.maxAoeRadius ?? 50;
  const max = state.config?.world.maxAoeAmount ?? 1000;
  const amount = Math.max(
    -max,
    Math.min(max, Math.trunc(Number(/** @type {HTMLInputElement} */ ($("amount")).value) || 0)),
  );
  const c = centre(performance.now());
  aoes.push({ x: c.x, y: c.y, r: radius, until: performance.now() + AOE_SHOW_MS });
  const reply = await request({ aoe: { radius, amount } }).catch(() => null);
  if (reply?.aoeReply) {
    const ids = reply.aoeReply.userIds ?? [];
    const until = performance.now() + FLASH_MS;
    for (const id of ids) flashes.set(id, until);
    state.lastAoe = { ids, total: reply.aoeReply.total ?? ids.length, at: Date.now() };
  } else if (reply?.error) say(`Area effect: ${reply.error.code} ${reply.error.message ?? ""}`);
}

addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement) return;
  if (KEYS[e.code]) {
    e.preventDefault();
    if (!held.has(e.code)) {
      held.add(e.code);
      steer();
    }
  } else if (e.code === "Space") {
    e.preventDefault();
    if (!e.repeat) castAoe();
  } else if (e.key === "+" || e.key === "=") zoom(1.25);
  else if (e.key === "-") zoom(0.8);
  else if (e.code === "KeyL") logOut();
});
addEventListener("keyup", (e) => {
  if (held.delete(e.code)) steer();
});
addEventListener("blur", () => {
  held.clear();
  steer();
});
canvas.addEventListener("click", () => {
  canvas.focus();
  castAoe();
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15);
}, { passive: false });

function zoom(/** @type {number} */ factor) {
  state.scale = Math.max(0.02, Math.min(40, state.scale * factor));
}

async function logOut() {
  if (!state.loggedIn) return;
  await request({ logout: {} }).catch(() => null);
  store.session = null;
  state.loggedIn = false;
  state.loggedOut = true;
  state.userId = 0;
  say("Logged out: reload the page to play again", true);
}

// --- drawing ------------------------------------------------------------------------------------------

/** @type {Map<number, number>} user id → flash until (performance.now()) */
const flashes = new Map();
/** @type {{ x: number, y: number, r: number, until: number }[]} */
const aoes = [];

/** Where the camera looks at `now`: own user, extrapolated; the world's centre before login. */
function centre(/** @type {number} */ now) {
  const w = state.config?.world ?? { width: 1000, height: 1000 };
  if (!state.userId) return { x: w.width / 2, y: w.height / 2 };
  const dt = (now - state.me.at) / 1000;
  return {
    x: Math.max(0, Math.min(w.width, state.me.x + state.me.vx * dt)),
    y: Math.max(0, Math.min(w.height, state.me.y + state.me.vy * dt)),
  };
}

let fpsFrames = 0;
let fpsSince = performance.now();
let drawTotal = 0;

function frame(/** @type {number} */ now) {
  requestAnimationFrame(frame);
  const started = performance.now();
  draw(now);
  drawTotal += performance.now() - started;
  fpsFrames++;
  state.frames++;
  if (now - fpsSince >= 1000) {
    state.fps = Math.round((fpsFrames * 1000) / (now - fpsSince));
    state.drawMs = drawTotal / fpsFrames;
    fpsFrames = 0;
    drawTotal = 0;
    fpsSince = now;
    statusLine();
  }
}

/** Draws the map at `now`: the world, everyone around in one path, hits, circles, own user. */
function draw(/** @type {number} */ now) {
  const dpr = devicePixelRatio || 1;
  const cw = canvas.clientWidth;
  const ch = canvas.clientHeight;
  if (canvas.width !== Math.round(cw * dpr) || canvas.height !== Math.round(ch * dpr)) {
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(ch * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#0b0e13";
  ctx.fillRect(0, 0, cw, ch);
  const world = state.config?.world;
  if (!world) return;
  const s = state.scale;
  const c = centre(now);
  const ox = cw / 2 - c.x * s;
  const oy = ch / 2 - c.y * s;

  // The world's floor and border.
  ctx.fillStyle = "#141a22";
  ctx.fillRect(ox, oy, world.width * s, world.height * s);
  ctx.strokeStyle = "#3b4a5e";
  ctx.lineWidth = 1;
  ctx.strokeRect(ox, oy, world.width * s, world.height * s);

  // Everyone else in one path, extrapolated from the last query with their velocities.
  const dt = state.bench ? 0 : (now - state.seenAt) / 1000;
  const r = Math.max(1.5, Math.min(6, s * 1.5));
  const { ids, xs, ys, vxs, vys } = state;
  const W = world.width;
  const H = world.height;
  ctx.beginPath();
  let flashing = 0;
  for (let i = 0; i < state.count; i++) {
    if (ids[i] === state.userId) continue;
    if (flashes.has(ids[i])) {
      flashing++;
      continue;
    }
    const x = Math.max(0, Math.min(W, xs[i] + vxs[i] * dt));
    const y = Math.max(0, Math.min(H, ys[i] + vys[i] * dt));
    ctx.rect(ox + x * s - r, oy + y * s - r, 2 * r, 2 * r);
  }
  ctx.fillStyle = "#6fa8dc";
  ctx.fill();

  // Users the last area effect hit, flashing.
  if (flashes.size) {
    ctx.beginPath();
    for (let i = 0; i < state.count && flashing > 0; i++) {
      const until = flashes.get(ids[i]);
      if (until === undefined || ids[i] === state.userId) continue;
      const x = Math.max(0, Math.min(W, xs[i] + vxs[i] * dt));
      const y = Math.max(0, Math.min(H, ys[i] + vys[i] * dt));
      const g = r * 2;
      ctx.rect(ox + x * s - g, oy + y * s - g, 2 * g, 2 * g);
    }
    ctx.fillStyle = Math.floor(now / 80) % 2 ? "#ff6b6b" : "#ffffff";
    ctx.fill();
    for (const [id, until] of flashes) if (until < now) flashes.delete(id);
  }

  // Area effect circles, fading.
  for (let i = aoes.length - 1; i >= 0; i--) {
    const a = aoes[i];
    if (a.until < now) {
      aoes.splice(i, 1);
      continue;
    }
    ctx.globalAlpha = (a.until - now) / AOE_SHOW_MS;
    ctx.beginPath();
    ctx.arc(ox + a.x * s, oy + a.y * s, a.r * s, 0, 2 * Math.PI);
    ctx.strokeStyle = "#ffcc4d";
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.fillStyle = "rgba(255, 204, 77, 0.12)";
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  // Money beside the few users on screen when zoomed in enough to read it.
  if (state.count <= 60 && s >= 1.5) {
    ctx.fillStyle = "#8592a6";
    ctx.font = "11px system-ui, sans-serif";
    for (let i = 0; i < state.count; i++) {
      if (ids[i] === state.userId) continue;
      const x = Math.max(0, Math.min(W, xs[i] + vxs[i] * dt));
      const y = Math.max(0, Math.min(H, ys[i] + vys[i] * dt));
      ctx.fillText(String(Math.round(state.money[i])), ox + x * s + r + 2, oy + y * s + 4);
    }
  }

  // Own user: highlighted, with its money.
  if (state.userId) {
    const px = cw / 2;
    const py = ch / 2;
    ctx.beginPath();
    ctx.arc(px, py, r + 4, 0, 2 * Math.PI);
    ctx.fillStyle = state.loggedIn ? "#ffcc4d" : "#8592a6";
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    ctx.font = "bold 13px system-ui, sans-serif";
    ctx.fillStyle = "#ffcc4d";
    ctx.fillText(`${Math.round(state.me.money)}`, px + r + 8, py - r - 4);
  }
}

/** The status bar (once a second, from the frame loop, and on events). */
function statusLine() {
  $("link").className = state.phase === "online" ? "dot on" : "dot";
  $("node").textContent = state.phase === "online"
    ? `node ${state.nodeId} (${state.role})`
    : `${state.phase}…`;
  $("rtt").textContent = Number.isFinite(state.rttMs)
    ? `rtt ${state.rttMs.toFixed(1)} ms`
    : "rtt –";
  $("me").innerHTML = state.userId
    ? `user ${state.userId} · money <span class="money">${Math.round(state.me.money)}</span>`
    : "not logged in";
  const shown = state.bench ? `${state.count} synthetic` : `${state.count}`;
  $("seen").textContent = state.truncated
    ? `${shown} of ${state.total} users around (zoom in for all)`
    : `${shown} users around`;
  $("fps").textContent = `${state.fps} fps (${state.drawMs.toFixed(1)} ms/frame)`;
}

/** Fills the map with `n` synthetic users around the camera (for measuring the renderer). */
function benchUsers(/** @type {number} */ n) {
  const w = state.config.world;
  const c = centre(performance.now());
  const spread = Math.min(canvas.clientWidth, canvas.clientHeight) / state.scale / 2;
  const users = [];
  for (let i = 0; i < n; i++) {
    users.push({
      id: 1e9 + i,
      x: Math.max(0, Math.min(w.width, c.x + (Math.random() - 0.5) * 2 * spread)),
      y: Math.max(0, Math.min(w.height, c.y + (Math.random() - 0.5) * 2 * spread)),
      money: 1000,
    });
  }
  state.bench = n;
  take(users, n, false);
}
Object.assign(state, { benchUsers });

// --- start ------------------------------------------------------------------------------------------

async function start() {
  state.clientId = store.clientId;
  for (let attempt = 0; !state.config; attempt++) {
    try {
      const response = await fetch("/console/config");
      state.config = await response.json();
    } catch {
      say("Cannot read /console/config from this node; retrying…");
      await sleep(Math.min(2000, 200 * 2 ** attempt));
    }
  }
  const given = params.get("registry");
  state.registries = given
    ? given.split(",").map((u) => u.trim().replace(/\/+$/, "")).filter((u) =>
      /^https?:\/\//.test(u)
    )
    : state.config.registries;
  const zoomParam = Number(params.get("zoom"));
  if (zoomParam > 0) zoom(zoomParam / state.scale);
  requestAnimationFrame(frame);
  const bench = Number(params.get("bench"));
  if (Number.isInteger(bench) && bench > 0) benchUsers(bench);
  await connect();
  queryLoop();
}

start();
