// callhook inspector: the list of calls, one call's SIP ladder, timeline
// and webhooks, kept live over server-sent events. Plain DOM, no build.
"use strict";

const state = { calls: new Map(), selected: null, pinned: false, loading: false, again: false };

// el builds an element; text is set as text, never parsed as HTML
// (payloads come from outside).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function clock(t) {
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

// --- the list of calls -------------------------------------------------

function renderList() {
  const ul = document.getElementById("calls");
  const calls = [...state.calls.values()].sort((a, b) => new Date(b.first) - new Date(a.first));
  document.getElementById("nocalls").hidden = calls.length > 0;
  ul.replaceChildren(...calls.map((c) => {
    const badges = [el("span", { class: "badge", text: c.webhooks + " webhook" + (c.webhooks === 1 ? "" : "s") })];
    if (c.failures) badges.push(el("span", { class: "badge fail", text: c.failures + " breaking rules" }));
    if (c.pending) badges.push(el("span", { class: "badge pending", text: c.pending + " pending" }));
    if (c.dead) badges.push(el("span", { class: "badge dead", text: c.dead + " dead" }));
    const li = el("li", { class: "call" + (c.key === state.selected ? " selected" : ""), "data-key": c.key },
      el("div", { class: "t", text: c.title }),
      el("div", { class: "s", text: (c.call_id || c.key) + "  " + clock(c.first) }),
      el("div", {}, ...badges));
    li.onclick = () => { state.pinned = true; select(c.key); };
    return li;
  }));
}

function select(key) {
  state.selected = key;
  const u = new URL(location.href);
  u.searchParams.set("call", key);
  history.replaceState(null, "", u);
  renderList();
  loadDetail();
}

// --- one call --------------------------------------------------------

async function loadDetail() {
  if (!state.selected) return;
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  try {
    const d = await getJSON("api/calls/" + encodeURIComponent(state.selected));
    if (d.key === state.selected) renderDetail(d);
  } catch (e) {
    console.warn(e);
  } finally {
    state.loading = false;
    if (state.again) { state.again = false; loadDetail(); }
  }
}

function renderDetail(d) {
  const sec = document.getElementById("detail");
  sec.hidden = false;
  sec.dataset.key = d.key;
  document.getElementById("call-title").textContent = d.title;
  document.getElementById("call-id").textContent = d.call_id ? d.call_id + "  (chain " + d.key + ")" : d.key;
  const b = [];
  if (d.failures) b.push(el("span", { class: "badge fail", text: d.failures + " webhook(s) breaking vendor rules" }));
  document.getElementById("call-badges").replaceChildren(...b);
  renderLadder(d.sip);
  renderTimeline(d);
  renderWebhooks(d.webhooks || []);
}

function renderLadder(sip) {
  const box = document.getElementById("ladder");
  if (!sip || !sip.lines || sip.lines.length === 0) {
    box.replaceChildren(el("p", { class: "hint", text: sip ? "No SIP messages yet." : "The PBX does not share its SIP messages (only the simulator does)." }));
    return;
  }
  const parties = sip.parties;
  const head = el("tr", {}, el("th", { class: "time", text: "PBX clock" }), ...parties.map((p) => el("th", { class: "party", text: p })));
  const rows = sip.lines.map((l) => {
    const fi = parties.indexOf(l.from), ti = parties.indexOf(l.to);
    const lo = Math.min(fi, ti), hi = Math.max(fi, ti);
    const code = parseInt(l.message, 10);
    const cls = "sip" + (code ? " resp" : "") + (code >= 300 ? " err" : "");
    const tr = el("tr", { class: cls, "data-from": l.from, "data-to": l.to, "data-msg": l.message, title: "Call-ID " + l.call_id },
      el("td", { class: "time", text: clock(l.time) }));
    // Columns: the arrow covers the party columns from lo to hi, less
    // half a column at each end, drawn as one cell spanning them.
    for (let i = 0; i < lo; i++) tr.append(el("td"));
    tr.append(el("td", { class: "arrow " + (ti > fi ? "right" : "left"), colSpan: hi - lo + 1 },
      el("span", { class: "msg", text: l.message })));
    for (let i = hi + 1; i < parties.length; i++) tr.append(el("td"));
    return tr;
  });
  box.replaceChildren(el("table", { class: "ladder", "data-legs": sip.legs }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function renderTimeline(d) {
  const items = [];
  for (const s of d.signals || []) {
    items.push({ seq: s.seq, when: s.seen, cls: "signal", what: s.kind, text: [s.leg, s.detail].filter(Boolean).join("  "), src: "PBX" });
  }
  for (const e of d.events || []) {
    items.push({ seq: e.seq, when: e.seen, cls: "event", what: e.kind, text: [e.call_id, e.detail].filter(Boolean).join("  "), src: "call" });
  }
  for (const w of d.webhooks || []) {
    const fail = (w.failures || []).length > 0;
    items.push({ seq: w.seq, when: w.seen, cls: "webhook" + (fail ? " fail" : ""), what: "webhook", id: w.id,
      text: w.receiver + " (" + (w.dialect || "?") + ") " + w.method + " " + shortURL(w.url) + (fail ? "  ✗ breaks " + w.failures.length + " rule(s)" : "") });
    for (const a of w.attempts || []) {
      const ok = a.status >= 200 && a.status < 300;
      items.push({ seq: a.seq, when: a.time, cls: "attempt" + (ok ? "" : " failed"), what: "attempt " + a.n, id: w.id,
        text: w.receiver + " ← " + (a.status || "no answer") + (a.error ? " " + a.error : "") + (a.response_body ? "  " + a.response_body.slice(0, 80) : "") });
    }
  }
  items.sort((a, b) => a.seq - b.seq);
  document.getElementById("timeline").replaceChildren(...items.map((i) =>
    el("li", { class: "item " + i.cls, "data-kind": i.cls.split(" ")[0], "data-id": i.id },
      el("span", { class: "when", text: clock(i.when) }),
      el("span", { class: "what", text: i.what }),
      el("span", { class: "text", text: i.text }))));
}

function shortURL(u) {
  try { const x = new URL(u); return x.pathname + (x.search.length > 60 ? x.search.slice(0, 60) + "…" : x.search); } catch { return u; }
}

function renderWebhooks(hooks) {
  document.getElementById("webhooks").replaceChildren(...hooks.map(renderWebhook));
}

function renderWebhook(w) {
  const fails = w.failures || [];
  const failing = new Set(fails.map((f) => f.field).filter(Boolean));
  const box = el("div", { class: "webhook" + (fails.length ? " has-failures" : ""), "data-id": w.id, "data-state": w.state, "data-receiver": w.receiver });
  box.append(el("h4", {},
    w.receiver + " · " + (w.dialect || "unknown dialect") + " ",
    el("span", { class: "badge " + w.state, text: w.state }),
    fails.length ? el("span", { class: "badge fail", text: "breaks " + fails.length + " vendor rule(s)" }) : null));
  box.append(el("div", { class: "url", text: w.method + " " + w.url }));
  box.append(el("div", { class: "id hint", text: "webhook id " + w.id }));

  // Fields, the failing ones highlighted.
  const rows = (w.fields || []).map((f) => el("tr", { class: "field" + (f.fail ? " fail" : ""), "data-field": f.name },
    el("td", { text: f.name }), el("td", { text: f.missing ? "(missing)" : f.value }), el("td", { class: "hint", text: f.in })));
  if (rows.length) box.append(el("table", { class: "fields" }, el("tbody", {}, ...rows)));

  // The vendor rules it breaks, with the rule's line and the document's words.
  if (fails.length) {
    for (const f of fails) {
      const fig = el("div", { class: "failure", "data-field": f.field || "" },
        el("div", { class: "msg", text: (f.field && !f.message.startsWith(f.field) ? f.field + ": " : "") + f.message }));
      if (f.rule_file) fig.append(el("div", { class: "rule" }, "rule ", el("code", { text: f.rule_file + ":" + f.rule_line }), "  ", el("code", { class: "rule-text", text: f.rule_text })));
      if (f.doc_text) fig.append(el("blockquote", { class: "doc" }, el("span", { class: "quote", text: f.doc_text }),
        el("cite", { text: f.doc_document + ", line " + f.doc_line })));
      box.append(fig);
    }
  } else if (w.dialect) {
    box.append(el("div", { class: "ok-rules", text: "✓ keeps the " + w.dialect + " vendor rules a request keeps by itself" }));
  }

  const hdrs = Object.entries(w.header || {}).sort().map(([k, v]) =>
    el("tr", { class: "hdr" + (failing.has(k) ? " fail" : ""), "data-header": k }, el("td", { text: k }), el("td", { text: v.join(", ") })));
  box.append(el("details", { open: failing.size > 0 && hdrs.some((h) => h.classList.contains("fail")) },
    el("summary", { text: "request headers (" + hdrs.length + ")" }), el("table", { class: "headers" }, el("tbody", {}, ...hdrs))));
  if (w.body) box.append(el("pre", { class: "body", text: w.body }));

  const atts = (w.attempts || []).map((a) => {
    const cls = "s" + String(a.status || 0)[0];
    const li = el("li", { class: "attempt", "data-n": a.n, "data-status": a.status || 0 },
      el("span", { class: "status " + cls, text: a.status ? a.status : "no answer" }), " ",
      el("span", { class: "hint", text: clock(a.time) + " · " + a.latency_ms.toFixed(1) + " ms" }),
      a.error ? el("div", { class: "error", text: a.error }) : null);
    const rh = Object.entries(a.response_header || {}).sort().map(([k, v]) => k + ": " + v.join(", ")).join("\n");
    if (rh) li.append(el("details", {}, el("summary", { text: "response headers" }), el("pre", { text: rh })));
    if (a.response_body) li.append(el("pre", { class: "response-body", text: a.response_body }));
    return li;
  });
  box.append(el("div", { class: "hint", text: "attempts" }), el("ol", { class: "attempts" }, ...atts));
  return box;
}

// --- live updates ----------------------------------------------------

async function loadList() {
  const list = await getJSON("api/calls");
  state.calls = new Map(list.map((c) => [c.key, c]));
  if (!state.selected && list.length) select(newest());
  renderList();
  if (state.selected) loadDetail();
}

function newest() {
  let best = null;
  for (const c of state.calls.values()) if (!c.status && (!best || new Date(c.first) > new Date(best.first))) best = c;
  return best ? best.key : [...state.calls.keys()][0];
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("api/events");
  es.addEventListener("hello", () => {
    conn.textContent = "live"; conn.className = "conn on";
    loadList().catch((e) => console.warn(e));
  });
  es.addEventListener("call", (m) => {
    const c = JSON.parse(m.data);
    const isNew = !state.calls.has(c.key);
    state.calls.set(c.key, c);
    // Follow the newest call until the user picks one.
    if (isNew && !state.pinned && !c.status) { select(c.key); return; }
    renderList();
    if (c.key === state.selected) loadDetail();
  });
  es.onerror = () => { conn.textContent = "reconnecting"; conn.className = "conn off"; };
}

getJSON("api/info").then((i) => {
  if (i.title) { document.title = "callhook inspector · " + i.title; document.getElementById("what").textContent = i.title; }
}).catch((e) => console.warn(e));

const want = new URL(location.href).searchParams.get("call");
if (want) { state.selected = want; state.pinned = true; }
connect();
