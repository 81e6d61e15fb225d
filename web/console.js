"use strict";
// Hits arrive over fetch() rather than EventSource, because EventSource cannot send the
// Authorization header. The last event id is kept, so a reconnect resumes exactly there.
const state = { token: null, lastId: null, seen: new Set(), controller: null };
const statusEl = document.getElementById("status");
const hitsEl = document.getElementById("hits");

function setStatus(text) { statusEl.textContent = text; }

function since(ts) {
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 3600)} h`;
}

function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }

function showHit(hit) {
  if (state.seen.has(hit.hit_id)) return;  // a replay after a crash repeats hit ids
  state.seen.add(hit.hit_id);
  const row = hitsEl.insertRow(0);
  row.className = `hit p${hit.priority}`;
  row.dataset.hitId = hit.hit_id;
  row.dataset.observed = hit.observed_ts;
  cell(row, `P${hit.priority}`);
  cell(row, hit.list);
  cell(row, hit.location_id);
  cell(row, hit.entry_id);
  cell(row, "").className = "scope";
  cell(row, new Date(hit.observed_ts).toLocaleTimeString());
  cell(row, since(hit.observed_ts)).className = "since";
  const button = document.createElement("button");
  button.textContent = "acknowledge";
  button.className = "ack";
  button.onclick = () => acknowledge(hit.hit_id, row, button);
  row.insertCell().appendChild(button);
  dispositionCell(hit.hit_id, row.insertCell());
  lookUp(hit.hit_id);
}

// The contract's outcomes and false-positive reasons (schemas/dispositions.py).
const REASONS = ["misread", "wrong_subject", "cloned_or_copied", "duplicate", "other"];

function control(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  if (text) el.textContent = text;
  return el;
}

function dispositionCell(hitId, td) {
  td.className = "disposition";
  const shown = control("span", "in-force", "none");
  const reason = control("select", "reason");
  for (const r of REASONS) reason.add(new Option(r.replace(/_/g, " "), r));
  const buttons = [control("button", "confirm", "confirm"),
                   control("button", "false-positive", "false positive"),
                   control("button", "no-action", "no action")];
  buttons[0].onclick = () => dispose(hitId, { outcome: "confirmed" });
  buttons[1].onclick = () => dispose(hitId, { outcome: "false_positive", reason: reason.value });
  buttons[2].onclick = () => dispose(hitId, { outcome: "no_action" });
  td.append(shown, " ", buttons[0], " ", reason, buttons[1], " ", buttons[2]);
}

function rowOf(hitId) {
  for (const row of hitsEl.rows) if (row.dataset.hitId === hitId) return row;
  return null;
}

// Shows the disposition in force on its hit's row (null: none), unless the row already
// shows a later one (a lookup answered after this desk's own disposition).
function showDisposition(hitId, d) {
  const row = rowOf(hitId);
  if (!row || (row.dataset.at && (!d || d.at < Number(row.dataset.at)))) return;
  if (!d) return;
  const shown = row.querySelector(".in-force");
  row.dataset.outcome = d.outcome;
  row.dataset.at = d.at;
  const why = d.reason ? ` (${d.reason.replace(/_/g, " ")})` : "";
  shown.textContent = `${d.outcome.replace(/_/g, " ")}${why} by ${d.by}`;
  shown.title = d.note || "";
}

// An entry's scope as the worker holds it now: `entry` of GET /v1/hits/{id}, beyond the
// contract (the hit itself carries only the contract's fields). It comes with the
// disposition lookup, so showing it costs a busy desk no request of its own.
const PLACES_SHOWN = 3;

function scopeText(entry, placesShown) {
  if (!entry) return "entry not available";  // no longer held, or not cleared for now
  const scope = entry.scope;
  if (!scope) return "every place, any time";
  const places = [...(scope.locations || []), ...(scope.areas || []).map((a) => `area ${a}`)];
  const more = places.length - placesShown;
  const where = !places.length ? "every place"
    : more > 0 ? `${places.slice(0, placesShown).join(", ")} and ${more} more`
    : places.join(", ");
  const when = !scope.hours ? "any time"
    : `${scope.hours.map((w) => `${w.days} ${w.from}-${w.to}`).join(", ")} (${scope.tz})`;
  return `${where}; ${when}`;
}

function showEntry(hitId, entry) {
  const row = rowOf(hitId);
  if (!row) return;
  const td = row.querySelector(".scope");
  td.textContent = scopeText(entry, PLACES_SHOWN);
  td.title = scopeText(entry, Infinity);
}

async function dispose(hitId, body) {
  const resp = await fetch(`/v1/hits/${encodeURIComponent(hitId)}/disposition`, {
    method: "POST", body: JSON.stringify(body),
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" } });
  if (resp.ok) showDisposition(hitId, (await resp.json()).disposition);
  else setStatus(`disposition refused (${resp.status})`);
}

// Another desk may have disposed of a hit already: each shown hit's disposition in force
// (and its entry's scope) is asked for once, one request at a time, newest first, at most
// LOOKUPS_QUEUED waiting.
const LOOKUPS_QUEUED = 50;
const lookups = { queue: [], running: false };

function lookUp(hitId) {
  lookups.queue.unshift(hitId);
  lookups.queue.length = Math.min(lookups.queue.length, LOOKUPS_QUEUED);
  if (!lookups.running) drainLookups();
}

async function drainLookups() {
  lookups.running = true;
  try {
    while (lookups.queue.length) {
      const hitId = lookups.queue.shift();
      const resp = await fetch(`/v1/hits/${encodeURIComponent(hitId)}`, {
        headers: { Authorization: `Bearer ${state.token}` } });
      if (!resp.ok) continue;
      const page = await resp.json();
      showEntry(hitId, page.entry);
      showDisposition(hitId, page.disposition);
    }
  } catch (err) {
    lookups.queue.length = 0;  // the connection is down; the stream reconnects by itself
  } finally {
    lookups.running = false;
  }
}

async function acknowledge(hitId, row, button) {
  button.disabled = true;
  const resp = await fetch(`/v1/hits/${encodeURIComponent(hitId)}/ack`, {
    method: "POST", headers: { Authorization: `Bearer ${state.token}` } });
  if (resp.ok) { row.classList.add("acked"); button.textContent = "acknowledged"; }
  else { button.disabled = false; setStatus(`ack refused (${resp.status})`); }
}

function handle(block) {
  let name = "message", data = [], id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (name === "hit") { showHit(JSON.parse(data.join("\n"))); state.lastId = id; }
  else if (name === "lagged") setStatus("fell behind: resuming");
}

async function streamOnce() {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (state.lastId) headers["Last-Event-ID"] = state.lastId;
  state.controller = new AbortController();
  const resp = await fetch("/v1/hits/stream", { headers, signal: state.controller.signal });
  if (resp.status === 401 || resp.status === 403) {
    setStatus(`refused (${resp.status})`);
    return false;
  }
  if (resp.status === 429) {  // too many streams or refusals: wait as long as told
    const wait = Number(resp.headers.get("Retry-After")) || 5;
    setStatus(`busy (429): retrying in ${wait} s`);
    await new Promise((r) => setTimeout(r, wait * 1000));
    return true;
  }
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  setStatus("connected");
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      handle(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

async function watch() {
  for (;;) {
    try {
      if (!(await streamOnce())) return;
      setStatus("stream ended: reconnecting");
    } catch (err) {
      setStatus("connection lost: reconnecting");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (state.controller) state.controller.abort();
  state.token = document.getElementById("token").value.trim();
  state.lastId = null;
  watch();
});

setInterval(() => {
  for (const row of hitsEl.rows) {
    row.querySelector(".since").textContent = since(Number(row.dataset.observed));
  }
}, 1000);
