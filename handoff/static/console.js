"use strict";
// The counselor console: polls the JSON API (no page reloads), renders with textContent only
// (a person's words are never parsed as HTML), alerts on new handoffs by sight, sound and,
// where allowed, a desktop notification.
(function () {
  const T = JSON.parse(document.getElementById("mado-words").textContent);
  let CANNED = JSON.parse(document.getElementById("mado-canned").textContent);
  const OUTCOMES = JSON.parse(document.getElementById("mado-outcomes").textContent);
  const app = document.getElementById("app");
  const CSRF = app.dataset.csrf;
  const ME = app.dataset.me;
  const ROLE = app.dataset.role;
  const $ = (id) => document.getElementById(id);
  // Every call of the API goes through here: a request that cannot reach the server at all marks
  // the console offline (the header says so, the lists say since when they are not current), the
  // next answer marks it online again (issue 27, #10).
  const rawApi = window.madoApi(CSRF, sessionEnded);
  let offlineSince = 0;
  async function api(method, path, body) {
    let r;
    try {
      r = await rawApi(method, path, body);
    } catch (e) {
      connection(false);
      throw e;
    }
    connection(true);
    return r;
  }
  function connection(up) {
    if (up === !offlineSince) return;
    if (up && pushUp) setTimeout(() => window.madoRefresh().catch(() => {}), 0);   // back: catch up
    offlineSince = up ? 0 : Date.now();
    const at = new Date(offlineSince).toLocaleTimeString("ja-JP", {hour: "2-digit", minute: "2-digit", second: "2-digit"});
    $("stale").hidden = up;
    $("stale").textContent = up ? "" : fmt("conn.stale", {at});
    document.querySelector(".lists").classList.toggle("stale", !up);
    showConnection();
  }
  // The header says how this console hears of changes: nothing while pushed (the usual case),
  // "checking every second" while the push channel is down and the console polls instead, and
  // the lost connection when the server cannot be reached at all.
  function showConnection() {
    const mode = offlineSince ? "offline" : pushUp ? "push" : "polling";
    const c = $("conn");
    c.dataset.mode = mode;
    c.textContent = T[mode === "offline" ? "conn.offline" : "conn.polling"];
    c.hidden = mode === "push";
  }
  const fmt = (key, params) => (T[key] || key).replace(/\{(\w+)\}/g, (_, k) => params[k]);

  let selected = app.dataset.selected || "";   // the conversation asked for (list, j/k, URL)
  let order = [];            // ids in list order, for j/k
  let known = null;          // waiting ids seen so far (null before the first poll)
  let shownMessages = -1;
  let current = null;        // the conversation on screen (its last answer), null while loading
  let shownCrisis = null;
  let lastTyping = 0;
  let polls = 0;             // sequence of detail requests: an older answer never overwrites a newer
  let applied = 0;
  // Drafts by conversation: what was typed for one person stays with that person. The reply
  // form names the conversation whose transcript is on screen (form.dataset.hid); a send reads
  // it at the moment of sending, so a reply can only go to the person being looked at.
  // Each draft carries a random client_id, new whenever its text changes: sending the same
  // draft again (a double Ctrl+Enter, a retry after a lost answer) is one message for the API.
  // Drafts are kept in this browser too (localStorage, by counselor), so a reload or the end of
  // the session loses none (issue 27, #12); a sent one is gone from there as from here.
  const DRAFTS_KEY = "mado.drafts:" + ME;
  const DRAFT_DAYS_MS = 7 * 86400000;
  class StoredDrafts extends Map {
    set(k, v) { super.set(k, {...v, at: Date.now()}); this.store(); return this; }
    delete(k) { const had = super.delete(k); if (had) this.store(); return had; }
    store() {
      try {
        if (this.size) localStorage.setItem(DRAFTS_KEY, JSON.stringify(Object.fromEntries(this)));
        else localStorage.removeItem(DRAFTS_KEY);
      } catch (e) { /* storage full or off: the drafts stay in memory */ }
    }
    load() {
      try {
        const kept = JSON.parse(localStorage.getItem(DRAFTS_KEY) || "{}");
        Object.entries(kept).forEach(([hid, d]) => {
          if (d && typeof d.text === "string" && d.text && Date.now() - (d.at || 0) < DRAFT_DAYS_MS) super.set(hid, d);
        });
      } catch (e) { /* nothing kept */ }
      return this;
    }
  }
  const drafts = new StoredDrafts().load();     // handoff id → {text, cid}
  const sending = new Set();    // handoff ids with a send on its way
  const form = $("reply-form");
  const box = $("reply");
  // A case note being written stays with its conversation too: the note form names the one it is
  // for (noteForm.dataset.hid), and another conversation opened shows its own (or an empty box).
  const noteDrafts = new Map(); // handoff id → the note being written
  const noteForm = $("note-form");
  const noteBox = $("note-text");
  // The transcript scrolls on its own, above the reply box. It follows the newest message while
  // the counselor is at the bottom (stuck); scrolled up to reread, they get a pill instead.
  const tr = $("transcript");
  const pill = $("new-messages");
  let stuck = true;
  let shownLeft = false;
  const readSent = new Map();   // handoff id → transcript entries already reported as read
  // Worsening: a person in the queue or in one of my conversations writes something risky. The
  // store moves the handoff's urgent_at each time; a move is the loudest alert the console has
  // (a pulsing banner, sound, title, desktop notification) until that conversation is opened.
  // A colleague's conversation whose person wrote something risky while the holder is away,
  // offline or silent for MADO_RISK_UNREAD_S (GET /alerts) is as loud, for everyone, until someone
  // present has read it. These alerts stack, one for each person: a second never replaces the first.
  const urgentSeen = new Map();  // handoff id → urgent_at already alerted
  let listed = new Set();        // ids in the queue or mine at the last poll
  const loud = new Map();        // handoff id → {kind: "worse"|"risk", text, person, alert}
  let loudShown = "";            // what the stack shows (redrawn only when it changes)
  let loudLast = null;           // the person of the latest loud alert (the window title)
  const riskSeen = new Map();    // handoff id → urgent_at of the unread-risk alert already rung
  let unreadAfter = 60;          // MADO_RISK_UNREAD_S, as the server says
  const unreadSeen = new Map();  // my conversations → unread at the last poll
  const releasedByMe = new Set(); // back in the queue by my own hand: not news to me
  let mineIds = null;             // my conversations at the last poll (null before the first)
  const claimedByMe = new Set();  // taken by my own hand: not a handover
  const POLL_MS = 1000;
  const PAGE = 100;              // transcript entries fetched at first, and per older page

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function badges(h) {
    const out = [];
    out.push(el("span", "badge" + (h.priority === "urgent" ? " urgent" : ""), T["priority." + h.priority]));
    if (h.urgent_reason) out.push(el("span", "badge reason", h.urgent_reason));
    out.push(el("span", "badge", T["lane." + (h.lane || "")] || h.lane));
    if (h.team) out.push(el("span", "badge team", h.overflow ? fmt("team.overflow", {team: h.team}) : h.team));
    // with teams, a waiting handoff of no team is the shared pool's (below a team's own in the queue)
    else if (app.dataset.teams && h.status === "waiting") out.push(el("span", "badge pool", T["team.pool"]));
    if (h.mode === "message") out.push(el("span", "badge", T["mode.message"]));
    if (h.paused) out.push(el("span", "badge", T["paused"]));
    if (h.unread) out.push(el("span", "badge unread", fmt("unread", {n: h.unread})));
    if (h.status === "active" && h.awaiting_s !== null && h.awaiting_s !== undefined) {
      const minutes = Math.floor(h.awaiting_s / 60);
      out.push(el("span", "badge awaiting" + (minutes >= 5 ? " long" : ""), fmt("awaiting", {minutes})));
    }
    return out;
  }

  function item(h) {
    const li = el("li", h.priority === "urgent" ? "urgent" : "");
    li.dataset.id = h.id;
    li.tabIndex = 0;
    if (h.id === selected) li.classList.add("selected");
    li.appendChild(el("strong", "", fmt("person", {alias: h.alias})));
    const meta = el("div", "meta");
    badges(h).forEach((b) => meta.appendChild(b));
    if (h.waiting_s !== null && h.waiting_s !== undefined) {
      meta.appendChild(el("span", "", fmt("waited", {minutes: Math.floor(h.waiting_s / 60)})));
    }
    if (h.claimed_by && h.claimed_by !== ME) meta.appendChild(el("span", "", " " + h.claimed_by));
    if (h.status === "closed" && h.closed_at) {
      meta.appendChild(el("span", "", fmt("closed.at", {date: new Date(h.closed_at).toLocaleString("ja-JP")})));
      if (h.outcome) meta.appendChild(el("span", "badge outcome", OUTCOMES[h.outcome] || h.outcome));
    }
    li.appendChild(meta);
    li.addEventListener("click", () => select(h.id));
    li.addEventListener("keydown", (e) => onKeyOpen(e, h.id));
    return li;
  }

  // Enter or Space on a list item or an alert opens its conversation, as a click does
  function onKeyOpen(e, id) {
    if (e.target !== e.currentTarget || !(e.key === "Enter" || e.key === " ")) return;
    e.preventDefault();
    select(id);
  }

  // A list is redrawn only where it changed (issue 27, #14): an item whose words and marks are the
  // same stays the very element it was, so a click or the keyboard focus on it is never lost.
  function fill(listId, items, emptyId) {
    const ol = $(listId);
    const old = new Map([...ol.children].map((li) => [li.dataset.id, li]));
    const next = items.map((h) => {
      const fresh = item(h);
      const was = old.get(h.id);
      return was && was.outerHTML === fresh.outerHTML ? was : fresh;
    });
    const same = next.length === ol.children.length && next.every((li, i) => ol.children[i] === li);
    if (!same) {
      const focused = document.activeElement && document.activeElement.parentElement === ol ? document.activeElement.dataset.id : null;
      ol.replaceChildren(...next);
      const back = focused && next.find((li) => li.dataset.id === focused);
      if (back && document.activeElement !== back) back.focus();
    }
    if (emptyId) $(emptyId).hidden = items.length > 0;
  }

  // Each alert has its own sound; "worse" (a person's risk message) is the longest and loudest.
  const SOUNDS = {
    new: {tones: [660, 880], gain: 0.15},
    urgent: {tones: [880, 660, 880, 660], gain: 0.2},
    worse: {tones: [988, 784, 988, 784, 988, 784, 988, 784], gain: 0.35},
    message: {tones: [523, 784], gain: 0.1},
    transfer: {tones: [660, 880, 1047], gain: 0.2},
  };
  let audio = null;
  function sound(kind) {
    if (!$("sound").checked) return;
    const s = SOUNDS[kind];
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume().catch(() => {});
      s.tones.forEach((f, i) => {
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.frequency.value = f;
        g.gain.value = s.gain;
        o.connect(g); g.connect(audio.destination);
        o.start(audio.currentTime + i * 0.18);
        o.stop(audio.currentTime + i * 0.18 + 0.15);
      });
      app.dataset.sound = kind;            // the last sound played (what a test or a reader can check)
    } catch (e) { /* no audio device */ }
  }

  function notify(text, sticky, tag) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try { new Notification(text, {requireInteraction: Boolean(sticky), tag: tag || undefined}); } catch (e) { /* ignore */ }
  }

  function banner(text, kind, id) {
    const box = $("alert");
    box.textContent = text;
    box.title = text;                       // the whole text, when the header cuts it short
    box.className = "alert " + kind;
    box.dataset.priority = kind === "normal" ? "normal" : "urgent";
    box.dataset.kind = kind;
    box.dataset.id = id || "";
    box.hidden = false;
  }

  // the window title: a loud alert's person while there is one, else what the banner counts
  function setTitle(quiet) {
    const last = loud.get(loudLast) || [...loud.values()].pop();
    document.title = last ? fmt("alert.worse.title", {person: last.person}) + " - " + T["title"] : quiet;
  }

  function alertNew(fresh, waitingCount) {
    const urgent = fresh.some((h) => h.priority === "urgent");
    sound(urgent ? "urgent" : "new");
    notify(T[urgent ? "alert.urgent" : "alert.new"]);
    banner(T[urgent ? "alert.urgent" : "alert.new"], urgent ? "urgent" : "normal", fresh[0].id);
    setTitle("(" + waitingCount + ") " + T["title"]);             // how many wait, not how many are new
  }

  // one loud alert for this person (in place of an earlier one for them, beside those for others)
  function raise(id, kind, text, person, alert) {
    const known = loud.get(id);
    loud.set(id, {kind, text, person, alert});
    if (!known || known.text !== text) loudLast = id;
  }

  function alertWorse(h) {
    const person = fmt("person", {alias: h.alias});
    const text = fmt("alert.worse", {person, reason: h.urgent_reason || T["priority.urgent"]});
    raise(h.id, "worse", text, person, null);
    loudLast = h.id;
    notify(text, true, "mado-worse-" + h.id);
  }

  // a colleague's conversation: who, the danger in words, who holds it and why it is not read
  function riskText(a) {
    return fmt("alert.risk." + a.why, {person: fmt("person", {alias: a.alias}),
      reason: a.urgent_reason || T["priority.urgent"], holder: a.holder, seconds: unreadAfter});
  }

  function loudItem(id, x) {
    const li = el("li", "alert worse " + x.kind);
    li.dataset.id = id;
    li.dataset.kind = x.kind;
    li.appendChild(el("span", "text", x.text));
    if (x.kind === "gone") {
      // nothing left to open: who saw it says so, and it ends on every console
      li.appendChild(el("span", "help", T["alert.gone.help"]));
      const seen = el("button", "assign seen", T["alert.gone.seen"]);
      seen.type = "button";
      seen.addEventListener("click", async () => {
        const r = await api("POST", "/alerts/gone/" + encodeURIComponent(id) + "/seen");
        if (r.ok) { loud.delete(id); renderLoud(); }
      });
      li.appendChild(seen);
      return li;
    }
    // one's own, or as an admin anyone's: the alert leads to the conversation. A counselor who is
    // not the holder may not read it: they are told whom to tell instead.
    if (x.kind === "worse" || ROLE === "admin") {
      li.tabIndex = 0;
      li.addEventListener("click", () => select(id));
      li.addEventListener("keydown", (e) => onKeyOpen(e, id));
    } else {
      li.appendChild(el("span", "help", T["alert.risk.help"]));
    }
    if (x.kind === "risk" && ROLE === "admin") {
      const give = el("button", "assign", T["assign"]);
      give.type = "button";
      give.dataset.id = id;
      give.addEventListener("click", async (e) => {
        e.stopPropagation();
        const r = await api("GET", "/counselors");
        if (r.ok) openAssign(id, x.person, x.alert.holder, r.data.counselors || []);
      });
      li.appendChild(give);
    }
    return li;
  }

  function renderLoud() {
    const items = [...loud.entries()];
    const key = JSON.stringify(items.map(([id, x]) => [id, x.kind, x.text]));
    if (key !== loudShown) {                 // redrawn only when it changes: a click is never lost
      loudShown = key;
      $("alerts").replaceChildren(...items.map(([id, x]) => loudItem(id, x)));
      $("alerts").hidden = !items.length;
    }
    if (items.length) setTitle(T["title"]);
    else if (document.title.startsWith(fmt("alert.worse.title", {person: ""}))) document.title = T["title"];
  }

  function alertHanded(h, ring) {
    const by = (h.handover && h.handover.by) || "";
    const text = fmt("alert.transfer", {by, person: fmt("person", {alias: h.alias})});
    if (ring) sound("transfer");                 // (the loudest sound, if any, is not covered)
    notify(text, false, "mado-handed-" + h.id);
    banner(text, "transfer", h.id);
    setTitle("(1) " + T["title"]);
  }

  // a colleague handed on or closed one of my conversations: a banner that says who did what
  // (it stays until dismissed or another replaces it; a click shows the conversation and the draft)
  function movedAway(id, text) {
    sound("transfer");
    notify(text, false, "mado-moved-" + id);
    banner(text, "moved", id);
  }

  // Someone waiting who wrote something risky after asking, seen here for the first time (this
  // console just opened or reloaded, or it had not listed them yet when they wrote): as loud as if
  // it had been watching (issue 27, #11), unless this very alert was rung here before
  function worsenedWaiting(h) {
    return h.status === "waiting" && h.worsened && urgentSeen.get(h.id) !== h.urgent_at;
  }

  // urgent first (the latest risk message first), otherwise the order the API gave
  function byUrgency(a, b) {
    const ua = a.priority === "urgent", ub = b.priority === "urgent";
    if (ua !== ub) return ua ? -1 : 1;
    return ua ? (b.urgent_at || 0) - (a.urgent_at || 0) : 0;
  }

  // my conversations: urgent first, then whoever has waited longest for my reply
  function byNeed(a, b) {
    const u = byUrgency(a, b);
    if (u) return u;
    const wa = a.awaiting_reply_since, wb = b.awaiting_reply_since;
    if (Boolean(wa) !== Boolean(wb)) return wa ? -1 : 1;
    return (wa || 0) - (wb || 0);
  }

  // The lists as last answered; drawn again as the minutes pass (waited, awaiting a reply), which
  // the server counted at the moment it answered (each handoff's own answer: ``at``).
  let lastLists = null;
  let dueTimer = null;
  function aged(h, now) {
    const s = Math.floor((now - h.at) / 1000);
    const o = {...h};
    if (o.waiting_s !== null && o.waiting_s !== undefined) o.waiting_s += s;
    if (o.awaiting_s !== null && o.awaiting_s !== undefined) o.awaiting_s += s;
    return o;
  }
  function drawLists(l) {
    const now = Date.now();
    fill("queue", l.waiting.map((h) => aged(h, now)), "queue-empty");
    fill("mine", l.mine.map((h) => aged(h, now)), "mine-empty");
    fill("others", l.others.map((h) => aged(h, now)));
  }
  const stamped = (list, at) => list.map((h) => ({...h, at}));

  // The lists whole (and the risk alerts): at first, on the push channel's reset or a reconnect,
  // every round while polling, and now and then on push as a safety net.
  async function pollLists() {
    const [w, a, al] = await Promise.all([api("GET", "/handoffs?status=waiting"), api("GET", "/handoffs?status=active"),
      api("GET", "/alerts")]);
    if (!w.ok || !a.ok) return;
    const at = Date.now();
    showLists(stamped(w.data.handoffs, at), stamped(a.data.handoffs, at), al);
    listsAt = older(w.data.position, a.data.position);
  }
  // the changes the lists already show (the push channel's stream id, from the server), for a delta
  // of what changed since (GET /handoffs?since=): null when unknown (then the lists whole)
  let listsAt = null;
  const posKey = (p) => (p || "").split("-").map((x) => BigInt(x || 0));
  function older(p, q) {
    if (!p || !q) return null;
    const [a, b] = [posKey(p), posKey(q)];
    return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]) ? p : q;
  }

  // List deltas (on push): only the handoffs an event named (GET /handoffs?ids=), patched into
  // the lists as last answered, each put back in its place (the lists' order: ``order``, then
  // id, as the server sorts them); those that left both lists (``gone``) are taken off.
  const changed = new Set();     // handoff ids heard of, not yet asked for
  let changedAlerts = false;     // and whether the risk alerts may have changed with them
  const IDS_MAX = 100;
  function byOrder(a, b) {
    const [ga, sa] = a.order || [0, 0], [gb, sb] = b.order || [0, 0];
    return ga - gb || sa - sb || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }
  async function pollChanged() {
    if (!lastLists) { changed.clear(); return pollLists(); }
    const ids = [...changed].slice(0, IDS_MAX);
    const alerts = changedAlerts;
    ids.forEach((id) => changed.delete(id));
    changedAlerts = false;
    if (!ids.length && !alerts) return;
    let d, al = null;
    try {
      [d, al] = await Promise.all([ids.length ? api("GET", "/handoffs?ids=" + ids.map(encodeURIComponent).join(","))
        : Promise.resolve({ok: true, data: {handoffs: [], gone: []}}), alerts ? api("GET", "/alerts") : null]);
    } catch (e) {
      ids.forEach((id) => changed.add(id));          // asked for again with the next
      changedAlerts = changedAlerts || alerts;
      throw e;
    }
    if (changed.size || changedAlerts) refreshChanged(false);
    if (!d.ok) return;
    patchLists(ids, d.data.handoffs, al);
  }
  // the lists as last answered, with these handoffs' lines replaced by the new ones (or taken off)
  function patchLists(ids, handoffs, al) {
    const at = Date.now();
    const drop = new Set(ids);
    const waiting = lastLists.raw.waiting.filter((h) => !drop.has(h.id));
    const active = lastLists.raw.active.filter((h) => !drop.has(h.id));
    stamped(handoffs, at).forEach((h) => (h.status === "waiting" ? waiting : active).push(h));
    showLists(waiting.sort(byOrder), active.sort(byOrder), al);
  }
  // What changed that the push channel could not name (a colleague's conversation): the lines of
  // every handoff changed since the lists' position, as a whole list would have them (the lists
  // whole when the server cannot tell), with the risk alerts if they may have changed too
  async function pollSince() {
    if (!lastLists || !listsAt) return pollLists();
    const from = listsAt;
    const d = await api("GET", "/handoffs?since=" + encodeURIComponent(from));
    if (!d.ok || d.data.whole) return pollLists();
    const al = d.data.alerts ? await api("GET", "/alerts") : null;
    if (listsAt !== from || !lastLists) return refreshOthers(false);   // (the lists were asked for meanwhile)
    listsAt = d.data.position;
    patchLists([...d.data.handoffs.map((h) => h.id), ...d.data.gone], d.data.handoffs, al);
  }

  // What the lists say, whole or patched: drawn, and what is new in them alerted
  function showLists(waiting, active, al) {
    const mine = active.filter((h) => h.claimed_by === ME).sort(byNeed);
    const others = active.filter((h) => h.claimed_by !== ME).sort(byUrgency);
    lastLists = {waiting, mine, others, raw: {waiting, active}};
    drawLists(lastLists);
    $("queue-count").textContent = String(waiting.length);
    const ids = new Set(waiting.map((h) => h.id));
    if (known !== null) {
      const fresh = waiting.filter((h) => !known.has(h.id) && !releasedByMe.has(h.id));
      if (fresh.length) alertNew(fresh, waiting.length);
    }
    known = ids;
    releasedByMe.forEach((id) => { if (ids.has(id)) releasedByMe.delete(id); });
    const worse = [];
    [...waiting, ...mine].forEach((h) => {
      if (h.priority !== "urgent" || !h.urgent_at) return;
      if (listed.has(h.id) ? h.urgent_at > (urgentSeen.get(h.id) || 0) : worsenedWaiting(h)) worse.push(h);
      urgentSeen.set(h.id, h.urgent_at);
    });
    listed = new Set([...waiting, ...mine].map((h) => h.id));
    // a person taken by someone else, closed or gone is not this alert's any more (a stale
    // banner would name someone already handled)
    loud.forEach((x, id) => { if (x.kind === "worse" && !listed.has(id)) loud.delete(id); });
    worse.sort(byUrgency).reverse().forEach(alertWorse);      // the latest one names the window
    let loudSound = worse.length > 0;
    if (al && al.ok) loudSound = risks(al.data) || loudSound;
    // an unread risk message's time may run out with nothing else happening: asked again then
    if (al) clearTimeout(dueTimer);
    if (al && al.ok && al.data.due_in_s !== null && al.data.due_in_s !== undefined) {
      dueTimer = setTimeout(() => { if (pushUp) refreshAlerts(true); }, al.data.due_in_s * 1000 + 250);
    }
    if (loudSound) sound("worse");
    renderLoud();
    // a new message from someone I am talking with: a soft sound of its own
    // (not for the very message that has just rung the loudest alert, from the push channel)
    const wrote = mine.some((h) => unreadSeen.has(h.id) && h.unread > unreadSeen.get(h.id)
      && !(Date.now() - (rungWorse.get(h.id) || 0) < 10000));
    unreadSeen.clear();
    mine.forEach((h) => unreadSeen.set(h.id, h.unread));
    if (wrote && !loudSound) sound("message");
    active.forEach((h) => aliasOf.set(h.id, h.alias));
    // one of mine handed on or closed by a colleague (a supervisor): who did what
    if (mineIds !== null) {
      const stillMine = new Set(mine.map((h) => h.id));
      mineIds.forEach((id) => {
        if (stillMine.has(id)) return;
        if (ids.has(id)) {                                      // back in the queue: by someone else?
          const back = waiting.find((h) => h.id === id);
          if (back && back.released_by && back.released_by !== ME) {
            movedAway(id, fmt("moved.release", {by: back.released_by, person: fmt("person", {alias: back.alias})}));
          }
          return;
        }
        const now = active.find((h) => h.id === id);
        if (now) {
          if (now.handover && now.handover.by && now.handover.by !== ME) {
            movedAway(id, fmt("moved.transfer", {by: now.handover.by, person: fmt("person", {alias: now.alias}), to: now.claimed_by}));
          }
          return;
        }
        api("GET", "/handoffs/" + id + "?peek=1").then((r) => {
          const h = r.data;
          if (r.ok && h.closed_reason === "closed" && h.closed_by && h.closed_by !== ME) {
            movedAway(id, fmt("moved.close", {by: h.closed_by, person: fmt("person", {alias: h.alias})}));
          }
        }, () => {});
      });
    }
    // a conversation handed to me (by a colleague or an admin): sound and banner
    const handed = mineIds === null ? [] : mine.filter((h) => !mineIds.has(h.id) && !claimedByMe.has(h.id));
    mineIds = new Set(mine.map((h) => h.id));
    claimedByMe.forEach((id) => { if (mineIds.has(id)) claimedByMe.delete(id); });
    if (handed.length) alertHanded(handed[0], !loudSound);
    // the banner of a new or handed-over conversation that has since gone elsewhere goes too
    const b = $("alert");
    if (!b.hidden && b.dataset.id && b.dataset.kind !== "moved"
        && !(b.dataset.kind === "transfer" ? mineIds : ids).has(b.dataset.id)) {
      b.hidden = true;
      setTitle(T["title"]);
    }
    order = [...waiting, ...mine, ...others].map((h) => h.id);
    aliases = new Map(active.map((h) => [h.id, h.alias]));
  }

  // Risk messages nobody present has read (GET /alerts), in anyone's conversation. A colleague's:
  // a loud alert until the server no longer lists it (someone present has read it, it was given
  // to someone present, released or closed). My own, left unread: my own loud alert again.
  // True when something new is to be heard.
  function risks(data) {
    unreadAfter = data.unread_after_s;
    const now = new Map(data.alerts.map((x) => [x.id, x]));
    const gone = new Map((data.gone || []).map((x) => [x.id, x]));
    loud.forEach((x, id) => { if ((x.kind === "risk" && !now.has(id)) || (x.kind === "gone" && !gone.has(id))) loud.delete(id); });
    riskSeen.forEach((_, id) => { if (!now.has(id)) riskSeen.delete(id); });
    let fresh = false;
    // someone at risk left (forget-me, a block, a cancel): as loud as a risk message, for everyone,
    // until someone says they have seen it; it says who and how, never what they wrote
    gone.forEach((x, id) => {
      const person = fmt("person", {alias: x.alias});
      const text = fmt("alert.gone." + x.why, {person, reason: x.urgent_reason || T["priority.urgent"],
        where: x.holder ? fmt("alert.gone.holder", {holder: x.holder}) : T["alert.gone.queue"]});
      const isNew = !(loud.has(id) && loud.get(id).kind === "gone");
      raise(id, "gone", text, person, x);
      if (isNew) {
        loudLast = id;
        fresh = true;
        notify(text, true, "mado-gone-" + id);
      }
    });
    now.forEach((x, id) => {
      const at = x.urgent_at || x.risk_at;
      const isNew = (riskSeen.get(id) || 0) < at;
      riskSeen.set(id, at);
      const person = fmt("person", {alias: x.alias});
      if (gone.has(id)) return;
      if (x.holder === ME) {
        if (isNew && !loud.has(id)) { alertWorse({id, alias: x.alias, urgent_reason: x.urgent_reason}); fresh = true; }
        return;
      }
      const text = riskText(x);
      raise(id, "risk", text, person, x);
      if (isNew) {
        loudLast = id;
        fresh = true;
        notify(text, true, "mado-risk-" + id);
      }
    });
    return fresh;
  }

  function renderIntake(h) {
    const dl = $("intake-list");
    const rows = [
      ["intake.lane", T["lane." + (h.intake.lane || "")] || ""],
      ["intake.topics", (h.intake.topics || []).map((k) => T["stats.topic_" + k] || T["topic." + k] || T["topic.other"]).join("、") || T["intake.none"]],
      ["intake.pref", h.intake.pref || T["intake.none"]],
      ["intake.crisis", T["tier." + (h.crisis || h.intake.crisis)] || T["intake.none"]],
    ];
    if (h.intake.about_other) rows.push(["intake.about_other", "✓"]);
    // what the person wrote before asking, if they agreed to show it (issue 27, #8): beside the
    // labels above, which are the bot's reading and can be wrong, so the counselor reads their words
    const before = h.context || [];
    if (before.length) rows.unshift(["intake.before", before.join("\n")]);      // their words first
    if ((h.earlier || []).length) rows.push(["earlier.intake", fmt("earlier.count", {n: h.earlier.length})]);
    dl.replaceChildren();
    rows.forEach(([k, v]) => {
      dl.appendChild(el("dt", k === "intake.before" ? "before" : "", T[k]));
      const dd = el("dd", k === "intake.before" ? "before" : "", v);
      dd.dataset.row = k;
      dl.appendChild(dd);
    });
  }

  function entry(m) {
    // the person's words in a <bdi>: isolated for direction, so a right-to-left override inside
    // them cannot reorder anything around them
    const li = el("li", m.from + (["transfer", "resource", "said"].includes(m.kind) ? " " + m.kind : ""));
    li.appendChild(el("bdi", "text", m.text));
    // a counselor's message names who wrote it (a colleague's before a handover too)
    let from = T["from." + m.kind] || T["from." + m.from];
    if (m.from === "counselor" && m.by) {
      from = fmt(m.kind === "resource" ? "from.resource.by" : "from.counselor.by", {by: m.by});
      li.dataset.by = m.by;
    }
    li.appendChild(el("span", "at", from + " · " + new Date(m.at).toLocaleTimeString("ja-JP")));
    return li;
  }

  const day = (iso) => (iso ? new Date(iso).toLocaleDateString("ja-JP") : "");

  // Case notes: private to counselors and admins (the person never receives them). The handover
  // note a transfer carried is one of them. Its writer may change or delete a note (on the
  // conversation on screen): one note at a time is being edited or asked about (noteEdit).
  let noteEdit = null;          // {hid, id, mode: "edit"|"delete", text}
  function noteItem(n, mine) {
    const li = el("li", ["close", "handover"].includes(n.kind) ? n.kind : "");
    if (n.id) li.dataset.id = n.id;
    const when = new Date(n.at).toLocaleString("ja-JP");
    const head = n.kind === "close" ? T["notes.close"] + " · " + n.by
      : n.kind === "handover" ? fmt("notes.handover", {by: n.by, to: n.to || ""}) : n.by;
    li.appendChild(el("span", "by", head + " · " + when + (n.edited_at ? " " + T["notes.edited"] : "")));
    const editing = mine && noteEdit && noteEdit.id === n.id && current && noteEdit.hid === current.id;
    if (editing && noteEdit.mode === "edit") {
      const area = el("textarea", "note-edit");
      area.value = noteEdit.text;
      area.maxLength = n.kind === "close" ? 200 : 1000;
      area.setAttribute("aria-label", T["notes.edit"]);
      area.addEventListener("input", () => { if (noteEdit) noteEdit.text = area.value; });
      li.append(area, noteButton("save", T["notes.save"], () => saveNote(n, area.value), "primary"),
        noteButton("cancel", T["notes.cancel"], () => endNoteEdit()));
      return li;
    }
    li.appendChild(el("div", "text", n.text));
    if (editing && noteEdit.mode === "delete") {
      li.append(el("span", "confirm", T["notes.delete.confirm"]),
        noteButton("delete-ok", T["notes.delete.ok"], () => deleteNote(n), "danger"),
        noteButton("cancel", T["notes.cancel"], () => endNoteEdit()));
    } else if (mine) {
      li.append(noteButton("edit", T["notes.edit"], () => startNoteEdit(n, "edit")),
        noteButton("delete", T["notes.delete"], () => startNoteEdit(n, "delete")));
    }
    return li;
  }

  function noteButton(name, text, onClick, cls) {
    const b = el("button", "note-" + name + (cls ? " " + cls : ""), text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function fillNotes(listId, emptyId, notes, canChange) {
    $(listId).replaceChildren(...notes.map((n) => noteItem(n, Boolean(canChange && n.id && n.by === ME))));
    $(emptyId).hidden = notes.length > 0;
  }

  function redrawNotes() {
    if (!current) return;
    shownContext = "";
    renderContext(current);
    const area = document.querySelector("#notes textarea.note-edit");
    if (area) { area.focus(); area.setSelectionRange(area.value.length, area.value.length); }
  }
  function startNoteEdit(n, mode) {
    noteEdit = {hid: current.id, id: n.id, mode, text: n.text};
    redrawNotes();
    if (mode === "delete") document.querySelector("#notes button.note-delete-ok").focus();
  }
  function endNoteEdit() { noteEdit = null; redrawNotes(); }

  // a note changed or deleted: on the conversation it belongs to, whatever is on screen by then
  async function changeNote(n, path, body) {
    const hid = noteEdit && noteEdit.hid;
    if (!hid) return;
    const r = await act({id: hid, person: fmt("person", {alias: aliasOf.get(hid) || "?"})}, "/notes/" + n.id + path, body);
    if (r && r.ok) {
      if (noteEdit && noteEdit.id === n.id) noteEdit = null;
      if (current && current.id === hid) { current.notes = r.data.notes; redrawNotes(); }
    }
  }
  const saveNote = (n, text) => { if (text.trim()) changeNote(n, "", {text}); };
  const deleteNote = (n) => changeNote(n, "/delete");

  // The person's earlier conversations still kept: when, who held it, how long, the closing note;
  // the one holding the present conversation (or an admin) may open their transcripts to read.
  function earlierItem(e, canOpen) {
    const li = el("li");
    li.dataset.id = e.id;
    const minutes = e.closed_at ? Math.max(0, Math.round((new Date(e.closed_at) - new Date(e.created_at)) / 60000)) : 0;
    li.appendChild(el("span", "", fmt("earlier.item", {date: day(e.created_at), who: e.claimed_by || T["earlier.nobody"],
      minutes, messages: e.message_count})));
    if (canOpen) {
      const open = el("button", "", T["earlier.open"]);
      open.type = "button";
      open.addEventListener("click", () => openEarlier(e));
      li.appendChild(open);
    }
    if (e.note) li.appendChild(el("div", "note", e.note));
    return li;
  }

  let shownContext = "";
  function renderContext(h) {
    const canWrite = !h.left && (h.claimed_by === ME || ROLE === "admin");
    const editing = noteEdit && noteEdit.hid === h.id ? [noteEdit.id, noteEdit.mode] : null;
    const key = JSON.stringify([h.earlier, h.notes, canWrite, editing]);
    if (key === shownContext) return;                 // nothing new: no flicker, no lost focus
    shownContext = key;
    const earlier = h.earlier || [];
    $("earlier-section").hidden = !earlier.length;
    $("earlier-count").textContent = String(earlier.length);
    $("earlier").replaceChildren(...earlier.map((e) => earlierItem(e, canWrite)));
    fillNotes("notes", "notes-empty", h.notes || [], canWrite);
    $("note-form").hidden = !canWrite;
  }

  async function openEarlier(e) {
    if (!current) return;
    const r = await api("GET", "/handoffs/" + current.id + "/earlier/" + e.id);
    if (!r.ok) { showError(r.data.error || T["error.generic"]); return; }
    $("earlier-title").textContent = fmt("earlier.reading", {date: day(r.data.created_at)});
    $("earlier-transcript").replaceChildren(...r.data.messages.map(entry));
    fillNotes("earlier-notes", "earlier-notes-empty", r.data.notes);
    $("earlier-dialog").showModal();
  }

  function atBottom() { return tr.scrollHeight - tr.scrollTop - tr.clientHeight < 4; }

  function toBottom() {
    tr.scrollTop = tr.scrollHeight;
    stuck = true;
    pill.hidden = true;
  }

  // The transcript on screen is one stretch of it, [shownFrom, shownMessages): the newest page at
  // first (a long one is not fetched whole), older pages added above on request (the button at
  // its top, or scrolling up to it), and after that only what is new (?after=<cursor>): what a
  // poll or a pushed event costs grows with what is new, not with the transcript's length.
  let shownFrom = 0;
  let olderCursor = null;       // for ?before=, while older entries are not on screen
  let leftLine = null;          // "the person left", kept last
  function renderTranscript(h, first) {
    const left = Boolean(h.left);
    const start = h.total - h.messages.length;      // the index of the first entry of this answer
    if (first || h.total < shownMessages) {          // a new conversation, or its transcript deleted
      tr.replaceChildren(...h.messages.map(entry));
      shownFrom = start;
      olderCursor = h.older;
      leftLine = null;
      showOlder();
    } else {
      const fresh = h.messages.slice(Math.max(0, shownMessages - start)).map(entry);
      if (!fresh.length && left === shownLeft) return;              // nothing new: no flicker
      if (leftLine) leftLine.before(...fresh);
      else tr.append(...fresh);                                     // the transcript only grows
    }
    const grew = !first && h.total > shownMessages;
    shownMessages = Math.max(h.total, first ? 0 : shownMessages);
    if (left && !leftLine) {
      leftLine = el("li", "bot", T["left"]);
      tr.appendChild(leftLine);
    }
    shownLeft = left;
    if (first || stuck) toBottom();
    else if (grew) showPill();
  }

  // older entries of a long transcript: a button above the first one shown
  function showOlder() {
    const was = tr.querySelector("li.older");
    if (was) was.remove();
    if (!olderCursor) return;
    const li = el("li", "older");
    const b = el("button", "", T["transcript.older"]);
    b.type = "button";
    b.id = "older";
    b.addEventListener("click", loadOlder);
    li.appendChild(b);
    tr.prepend(li);
  }
  let loadingOlder = false;
  async function loadOlder() {
    const h = current;
    if (!h || !olderCursor || loadingOlder) return;
    loadingOlder = true;
    try {
      const r = await api("GET", "/handoffs/" + h.id + "?peek=1&limit=" + PAGE + "&before=" + olderCursor);
      if (!r.ok || !current || current.id !== h.id) return;
      const page = r.data.messages;                     // the entries just before shownFrom
      const height = tr.scrollHeight;
      tr.querySelector("li.older").after(...page.map(entry));
      shownFrom -= page.length;
      olderCursor = shownFrom > 0 ? String(shownFrom) : null;
      showOlder();
      tr.scrollTop += tr.scrollHeight - height;         // what was on screen stays where it was
    } finally {
      loadingOlder = false;
    }
  }

  // The pill takes its own row below the transcript, which gets shorter by as much: it scrolls by
  // that much too, so the words that were at its bottom edge (the newest, often) stay in view
  // above the pill (issue 27, #16).
  function showPill() {
    if (!pill.hidden) return;
    const before = tr.clientHeight;
    pill.hidden = false;
    tr.scrollTop += before - tr.clientHeight;
  }

  // Read (LINE's read mark for the person) only once the newest message has really been on
  // screen: its end inside the transcript's visible part, in a visible tab. Reported with how
  // many entries were shown, so a message that arrives meanwhile is not read with them.
  function newestInView() {
    const last = tr.lastElementChild;
    if (!last || document.visibilityState !== "visible" || $("conversation").hidden) return false;
    const b = last.getBoundingClientRect();
    const c = tr.getBoundingClientRect();
    return b.bottom <= Math.min(c.bottom, window.innerHeight) + 1 && b.bottom > Math.max(c.top, 0);
  }

  function checkSeen() {
    const h = current;
    if (!h || !h.unread || h.status !== "active" || h.claimed_by !== ME || form.dataset.hid !== h.id) return;
    if ($("away").getAttribute("aria-pressed") === "true") return;     // 離席中: nobody is reading
    const seen = shownMessages;
    if (seen <= (readSent.get(h.id) || 0) || !newestInView()) return;
    readSent.set(h.id, seen);
    const forget = () => { if (readSent.get(h.id) === seen) readSent.delete(h.id); };
    api("POST", "/handoffs/" + h.id + "/read", {seen}).then((r) => {
      if (!r.ok || r.data.away) { forget(); return; }
      if (current && current.id === h.id) {
        current.unread = r.data.unread;
        $("conv-badges").replaceChildren(...badges(current));
      }
    }, forget);
  }

  function newId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function saveDraft() {
    const hid = form.dataset.hid;
    if (!hid) return;
    const d = drafts.get(hid);
    if (!box.value) drafts.delete(hid);
    else if (!d || d.text !== box.value) drafts.set(hid, {text: box.value, cid: newId()});
  }

  function updateSend() { $("send").disabled = sending.has(form.dataset.hid); }

  function showConversation(h) {
    // a new conversation on screen: its own draft (or nothing) in the reply box
    form.dataset.hid = h.id;
    box.value = (drafts.get(h.id) || {}).text || "";
    box.placeholder = fmt("reply.to", {person: fmt("person", {alias: h.alias})});      // who gets it
    box.setAttribute("aria-label", box.placeholder);
    noteForm.dataset.hid = h.id;
    noteBox.value = noteDrafts.get(h.id) || "";
    updateSend();
  }

  async function pollSelected() {
    const hid = selected;
    if (!hid) return;
    const seq = ++polls;
    // the first time the newest page, then only what is new since the cursor
    const more = current && current.id === hid && current.cursor ? "&after=" + current.cursor : "&limit=" + PAGE;
    const r = await api("GET", "/handoffs/" + hid + "?peek=1" + more);     // read is said apart: checkSeen
    if (hid !== selected || seq < applied) return;     // the counselor moved on, or a newer answer is shown
    applied = seq;
    if (!r.ok) { unavailable(r.data.error || T["error.generic"]); showKept(hid); return; }
    const h = r.data;
    const first = !current || current.id !== h.id;
    if (!first && !h.context) h.context = current.context;       // (sent with the first page only)
    current = h;
    aliasOf.set(h.id, h.alias);
    if (first) showConversation(h);
    $("placeholder").hidden = true;
    $("placeholder").textContent = T["select"];
    $("conversation").hidden = false;
    let ended = h.status === "closed" ? T["ended." + (h.closed_reason || "closed")] || T["ended.closed"] : "";
    if (h.status === "closed" && h.outcome) ended = fmt("ended.outcome", {outcome: OUTCOMES[h.outcome] || h.outcome});
    if (h.status === "closed" && h.closed_reason === "closed" && h.closed_by && h.closed_by !== ME) {
      // a colleague (a supervisor) ended it: who
      ended = fmt(h.outcome ? "ended.by.outcome" : "ended.by", {by: h.closed_by, outcome: OUTCOMES[h.outcome] || h.outcome});
    }
    $("conv-ended").textContent = ended;
    $("conv-ended").hidden = !ended;
    $("conv-title").textContent = fmt("person", {alias: h.alias});
    $("conv-badges").replaceChildren(...badges(h));
    $("conv-state").textContent = T["person_state." + h.person_state] || "";
    $("conv-state").dataset.state = h.person_state || "";
    $("conv-urgent").textContent = h.urgent_reason ? fmt("urgent.header", {reason: h.urgent_reason}) : "";
    $("conv-urgent").hidden = !h.urgent_reason;
    const mineNow = h.status === "active" && h.claimed_by === ME;
    const canAct = h.status === "active" && (h.claimed_by === ME || ROLE === "admin");
    $("claim").hidden = h.status !== "waiting";
    $("release").hidden = !canAct;
    $("transfer").hidden = !canAct;
    $("close").hidden = !canAct;
    $("reply-form").hidden = !mineNow;
    if (first || h.crisis !== shownCrisis) renderIntake(h);     // a crisis may arrive later
    if (first) shownContext = "";
    renderContext(h);
    shownCrisis = h.crisis;
    renderTranscript(h, first);
    showKept(h.id);
    checkSeen();
  }

  // A reply that can no longer be sent from the reply box (a colleague handed the conversation on
  // or closed it while it was being written or sent) is kept: shown below, with why it was not
  // sent, to copy; it stays until the counselor drops it.
  const aliasOf = new Map();      // handoff id → alias, as last seen
  const sendErrors = new Map();   // handoff id → why its last send was refused
  function showKept(hid) {
    const k = $("kept");
    const d = drafts.get(hid);
    const replyable = current && current.id === hid && !form.hidden;
    if (!d || replyable || hid !== selected) { k.hidden = true; k.dataset.hid = ""; return; }
    const person = fmt("person", {alias: aliasOf.get(hid) || "?"});
    $("kept-what").textContent = fmt("kept", {person});
    if (k.dataset.hid !== hid || $("kept-text").value !== d.text) {
      $("kept-text").value = d.text;
      $("kept-copy").textContent = T["kept.copy"];
    }
    $("kept-error").textContent = sendErrors.get(hid) || "";
    $("kept-error").hidden = !sendErrors.has(hid);
    k.dataset.hid = hid;
    k.hidden = false;
  }
  $("kept-copy").addEventListener("click", async () => {
    const text = $("kept-text").value;
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {                        // no clipboard permission: the old way, from the box
      $("kept-text").select();
      document.execCommand("copy");
    }
    $("kept-copy").textContent = T["kept.copied"];
  });
  $("kept-drop").addEventListener("click", () => {
    const hid = $("kept").dataset.hid;
    drafts.delete(hid);
    sendErrors.delete(hid);
    showKept(hid);
  });

  // The conversation asked for cannot be shown (another counselor's, gone): the pane says so and
  // shows nothing of any other conversation, the list marks the one asked for.
  function unavailable(text) {
    current = null;
    form.dataset.hid = "";
    form.hidden = true;
    noteForm.dataset.hid = "";
    noteBox.value = "";
    $("conversation").hidden = true;
    $("placeholder").textContent = text;
    $("placeholder").hidden = false;
  }

  function showError(text) {
    const e = $("conv-error");
    e.textContent = text;
    e.hidden = !text;
  }

  function select(id) {
    if (id !== selected) {
      // nothing of the last conversation stays on screen or in the reply box while the next loads
      saveDraft();
      form.dataset.hid = "";
      box.value = "";
      noteForm.dataset.hid = "";
      noteBox.value = "";
      updateSend();
      form.hidden = true;
      tr.replaceChildren();
      pill.hidden = true;
      shownMessages = -1; shownLeft = false; current = null; showError("");
      noteEdit = null;
      $("kept").hidden = true;
    }
    selected = id;
    history.replaceState(null, "", "/console/handoffs/" + id);
    document.querySelectorAll(".items li").forEach((li) => li.classList.toggle("selected", li.dataset.id === id));
    // a loud alert about my own or a queued person goes once they are opened; one about a
    // colleague's conversation stays until someone present has read it (the server says)
    // the banner goes only if it is about this person (opening one never clears another's alert)
    if (loud.has(id) && loud.get(id).kind === "worse") loud.delete(id);
    if ($("alert").dataset.id === id) {
      $("alert").hidden = true;
      setTitle(T["title"]);
    }
    renderLoud();
    pollSelected();
  }

  // the person a button or a dialog acts on: their handoff id and their alias in words
  const who = (h) => ({id: h.id, person: fmt("person", {alias: h.alias})});

  // Acts on this person's handoff (never "whoever is on screen by now"); an error about someone
  // no longer on screen names them.
  async function act(target, path, body) {
    if (!target) return null;                            // still loading: nothing to act on
    let r;
    try {
      r = await api("POST", "/handoffs/" + target.id + path, body);
    } catch (e) {                                        // nothing reached the server: nothing done
      r = {ok: false, status: 0, data: {error: T["error.offline"]}};
    }
    const error = r.ok ? "" : (r.data.error || T["error.generic"]);
    showError(error && !(current && current.id === target.id) ? fmt("error.for", {person: target.person, error}) : error);
    if (r.status) {
      try { await pollLists(); await pollSelected(); } catch (e) { /* the next round will */ }
    }
    return r;
  }

  // A dialog that acts on a person belongs to the person it was opened for (issue 27): it says
  // who in its first line, and its answer acts on their handoff, whatever is on screen by then.
  // While any dialog is open the console's own keys do nothing (j/k, c, r: below).
  const openedFor = {};          // dialog name → {id, person}
  function openFor(name, target, text) {
    openedFor[name] = target;
    $(name + "-what").textContent = text;
    $(name + "-dialog").returnValue = "";
    $(name + "-dialog").showModal();
  }
  // the person the dialog was opened for, once it has been answered (and then never again)
  function answered(name) {
    const target = openedFor[name];
    openedFor[name] = null;
    return $(name + "-dialog").returnValue === "ok" ? target : null;
  }
  const dialogOpen = () => document.querySelector("dialog[open]") !== null;

  tr.addEventListener("scroll", () => {
    if (tr.scrollTop < 40 && olderCursor && !stuck) loadOlder();      // scrolled up to the oldest shown
    stuck = atBottom();
    if (stuck) pill.hidden = true;
    checkSeen();
  });
  // the transcript's box changes (reply box shown, window resized, intake folded): keep following
  new ResizeObserver(() => { if (stuck) toBottom(); checkSeen(); }).observe(tr);
  document.addEventListener("visibilitychange", checkSeen);
  pill.addEventListener("click", () => { toBottom(); checkSeen(); });

  $("alert").addEventListener("click", () => { if ($("alert").dataset.id) select($("alert").dataset.id); });
  $("alert").addEventListener("keydown", (e) => { if ($("alert").dataset.id) onKeyOpen(e, $("alert").dataset.id); });
  $("claim").addEventListener("click", () => {
    if (!current) return;
    claimedByMe.add(current.id);
    act(who(current), "/claim");
  });
  $("release").addEventListener("click", () => {
    if (!current || dialogOpen()) return;
    const target = who(current);
    openFor("release", target, fmt("release.confirm", {person: target.person}));
  });
  $("release-dialog").addEventListener("close", () => {
    const target = answered("release");
    if (!target) return;
    releasedByMe.add(target.id);
    act(target, "/release");
  });
  // closing asks for the outcome (an anonymous tag for the closed list), then ends the conversation
  $("close").addEventListener("click", () => {
    if (!current || dialogOpen()) return;
    const target = who(current);
    $("close-outcome").value = "";
    $("close-note").value = "";
    $("close-ok").disabled = true;
    openFor("close", target, fmt("close.confirm", {person: target.person}));
  });
  $("close-outcome").addEventListener("change", () => { $("close-ok").disabled = !$("close-outcome").value; });
  $("close-dialog").addEventListener("close", async () => {
    const target = answered("close");
    if (!target || !$("close-outcome").value) return;
    await act(target, "/close", {outcome: $("close-outcome").value, note: $("close-note").value});
    if ($("closed-section").open) searchClosed();
  });

  // closed conversations: the latest, or those found by alias and the day they were closed
  async function searchClosed() {
    const params = new URLSearchParams({status: "closed"});
    const q = $("closed-q").value.trim();
    const day = $("closed-date").value;
    if (q) params.set("q", q);
    if (day) params.set("date", day);
    const r = await api("GET", "/handoffs?" + params);
    if (!r.ok) return;
    fill("closed", r.data.handoffs);
    $("closed-empty").hidden = r.data.handoffs.length > 0;
  }
  $("closed-search").addEventListener("submit", (e) => { e.preventDefault(); searchClosed(); });
  $("closed-section").addEventListener("toggle", () => { if ($("closed-section").open) searchClosed(); });
  // a colleague as a choice: their name and whether they are here
  function colleagueOption(c) {
    const o = el("option", "", c.name + "（" + T["status." + c.status] + "）");
    o.value = c.name;
    return o;
  }
  // the list of colleagues in a dialog: nobody chosen until the counselor chooses (never the first
  // name by default), and its button only then
  function fillColleagues(select, ok, people) {
    const none = el("option", "", T["close.choose"]);
    none.value = "";
    select.replaceChildren(none, ...people.map(colleagueOption));
    select.value = "";
    ok.disabled = true;
    select.onchange = () => { ok.disabled = !select.value; };
  }

  // the transfer is for the person on screen at the click, even if another is opened while the
  // list of colleagues loads (the dialog names them)
  $("transfer").addEventListener("click", async () => {
    if (!current) return;
    const target = who(current);
    const r = await api("GET", "/colleagues");
    if (dialogOpen()) return;
    const names = (r.data.colleagues || []).filter((c) => c.name !== ME)
      .sort((a, b) => Number(b.online) - Number(a.online));
    fillColleagues($("transfer-to"), $("transfer-ok"), names);
    const nobody = !names.some((c) => c.online);
    $("transfer-none").hidden = !nobody;
    $("transfer-to").disabled = !names.length;
    $("transfer-note").value = "";
    openFor("transfer", target, fmt("transfer.what", {person: target.person}));
  });
  $("transfer-dialog").addEventListener("close", () => {
    const target = answered("transfer");
    if (target && $("transfer-to").value) {
      act(target, "/transfer", {to: $("transfer-to").value, note: $("transfer-note").value});
    }
  });
  noteBox.addEventListener("input", () => {
    const hid = noteForm.dataset.hid;
    if (hid && noteBox.value) noteDrafts.set(hid, noteBox.value);
    else if (hid) noteDrafts.delete(hid);
  });
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const hid = noteForm.dataset.hid;            // the conversation the note was written for
    const text = noteBox.value;
    if (!hid || !current || current.id !== hid || !text.trim()) return;
    const r = await act(who(current), "/notes", {text});
    if (r && r.ok) {
      if (noteDrafts.get(hid) === text) noteDrafts.delete(hid);
      if (noteForm.dataset.hid === hid && noteBox.value === text) noteBox.value = "";
    }
  });

  // Send a resource: a card of the catalogue, through the same path as a typed message (a
  // client_id per opening of the dialog: a double click sends it once). A choice first shows what
  // the person will get and names them; only 「… に送る」 sends it (issue 27, #16).
  let resourceFor = null;       // {hid, cid, person, id}: the dialog's person, and the card shown
  function resourceButton(res) {
    const b = el("button", res.theirs ? "theirs" : "", res.title);
    b.type = "button";
    b.dataset.id = res.id;
    b.addEventListener("click", () => previewResource(res.id));
    return b;
  }
  function resourceChoosing() {
    $("resource-dialog").classList.remove("previewing");
    $("resource-preview").hidden = true;
    if (resourceFor) resourceFor.id = null;
  }
  async function previewResource(id) {
    const target = resourceFor;
    if (!target || !id) return;
    const r = await api("GET", "/resources/" + encodeURIComponent(id)).catch(() => ({ok: false, data: {}}));
    if (resourceFor !== target || !$("resource-dialog").open) return;
    if (!r.ok) { resourceChoosing(); return; }
    target.id = id;
    $("resource-preview-what").textContent = fmt("resource.confirm", {person: target.person, title: r.data.title});
    $("resource-preview-text").textContent = r.data.text;
    $("resource-send").textContent = fmt("resource.send", {person: target.person});
    $("resource-dialog").classList.add("previewing");
    $("resource-preview").hidden = false;
    $("resource-send").focus();
  }
  $("resource-back").addEventListener("click", resourceChoosing);
  $("resource-send").addEventListener("click", () => { if (resourceFor) sendResource(resourceFor.id); });

  $("resource").addEventListener("click", async () => {
    const hid = form.dataset.hid;
    if (!hid || !current || current.id !== hid) return;
    const person = who(current).person;
    const r = await api("GET", "/resources?handoff=" + encodeURIComponent(hid));
    if (!r.ok || form.dataset.hid !== hid || dialogOpen()) return;
    const list = r.data.resources || [];
    resourceFor = {hid, cid: newId(), person};
    resourceChoosing();
    const theirs = list.filter((x) => x.theirs);
    $("resource-theirs-section").hidden = !theirs.length;
    $("resource-theirs").replaceChildren(...theirs.map(resourceButton));
    $("resource-common").replaceChildren(...list.filter((x) => !x.theirs && !x.place).map(resourceButton));
    const first = el("option", "", T["resource.place_choose"]);
    first.value = "";
    $("resource-place").replaceChildren(first, ...list.filter((x) => x.place && !x.theirs).map((x) => {
      const o = el("option", "", x.title);
      o.value = x.id;
      return o;
    }));
    $("resource-place-send").disabled = true;
    $("resource-what").textContent = fmt("resource.title", {person});
    $("resource-dialog").showModal();
  });
  $("resource-place").addEventListener("change", () => { $("resource-place-send").disabled = !$("resource-place").value; });
  $("resource-place-send").addEventListener("click", () => previewResource($("resource-place").value));

  async function sendResource(id) {
    const target = resourceFor;
    if (!target || !id) return;
    resourceFor = null;                        // one send per opening of the dialog
    $("resource-dialog").close();
    let r;
    try {
      r = await api("POST", "/handoffs/" + target.hid + "/resources", {id, client_id: target.cid});
    } catch (err) {
      r = {ok: false, data: {error: T["error.network"]}};
    }
    if (form.dataset.hid === target.hid) showError(r.ok ? "" : (r.data.error || T["error.generic"]));
    await pollSelected();
  }

  // The session ended (timed out, password changed, account stopped): the console says so and
  // stops asking; the drafts are in this browser and come back after logging in again.
  let ended = false;
  function sessionEnded() {
    if (ended) return;
    ended = true;
    saveDraft();
    document.querySelectorAll("dialog[open]").forEach((d) => d.close());
    $("ended-dialog").showModal();
  }
  $("ended-login").addEventListener("click", () => {
    location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
  });
  // leaving the page with a reply not sent: the browser asks first (the draft is kept anyway)
  window.addEventListener("beforeunload", (e) => {
    if (ended) return;
    saveDraft();
    if (box.value.trim() || sending.size) { e.preventDefault(); e.returnValue = ""; }
  });

  $("logout").addEventListener("click", async () => { await api("POST", "/logout"); location.href = "/console/login"; });
  // A canned reply goes into the box when picked with the mouse, or with Enter once the arrow keys
  // have moved to it: moving through the list with the arrows inserts nothing (issue 27, #14).
  let cannedByKeys = false;
  function insertCanned() {
    const c = CANNED[Number($("canned").value)];
    if ($("canned").value !== "" && c) { box.value = box.value ? box.value + "\n" + c.text : c.text; saveDraft(); box.focus(); }
    $("canned").value = "";
  }
  $("canned").addEventListener("keydown", (e) => {
    if (["ArrowDown", "ArrowUp", "Home", "End", "PageDown", "PageUp"].includes(e.key)) cannedByKeys = true;
    else if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) { e.preventDefault(); insertCanned(); }
  });
  $("canned").addEventListener("change", () => {
    if (cannedByKeys) { cannedByKeys = false; return; }     // moved with the keys: not chosen yet
    insertCanned();
  });
  $("canned").addEventListener("blur", () => { cannedByKeys = false; $("canned").value = ""; });
  box.addEventListener("input", () => {
    saveDraft();
    const hid = form.dataset.hid;
    const now = Date.now();
    if (now - lastTyping > 5000 && hid) { lastTyping = now; api("POST", "/handoffs/" + hid + "/typing").catch(() => {}); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const hid = form.dataset.hid;           // the conversation on screen, now
    const text = box.value;
    if (!hid || form.hidden || sending.has(hid) || !text.trim()) return;
    saveDraft();
    const draft = drafts.get(hid);
    sending.add(hid);
    updateSend();
    let r;
    try {
      // the answer to an earlier send of this conversation was lost: whether it arrived is asked
      // first (by its client_id); nothing new goes out until that is known
      const before = unsure.has(hid) ? await settle(hid) : false;
      if (before !== false) return;
      r = await api("POST", "/handoffs/" + hid + "/messages", {text, client_id: draft.cid});
    } catch (err) {
      r = await lost(hid, draft);
    } finally {
      sending.delete(hid);
      updateSend();
    }
    if (r.ok) {
      if (drafts.get(hid) === draft) drafts.delete(hid);     // unless edited meanwhile
      if (form.dataset.hid === hid && box.value === text) box.value = "";
      sendErrors.delete(hid);
    } else {
      sendErrors.set(hid, r.data.error || T["error.generic"]);   // shown with the kept draft too
    }
    if (form.dataset.hid === hid) showError(r.ok ? (r.notice || "") : (r.data.error || T["error.generic"]));
    await pollLists();
    await pollSelected();
  });
  // A send whose answer was lost on the way back may have arrived (issue 27, #9): asked by its
  // client_id before anything is offered again. Until the server can say, the draft is "unsure"
  // and nothing of that conversation is sent; an edit meanwhile is never a second message.
  const unsure = new Map();      // handoff id → the draft whose send's answer was lost
  async function wasSent(hid, cid) {             // true, false, or null (cannot tell yet)
    try {
      const r = await api("GET", "/handoffs/" + hid + "/messages/" + cid);
      return r.ok ? Boolean(r.data.sent) : null;
    } catch (e) { return null; }
  }
  async function lost(hid, draft) {
    const sent = await wasSent(hid, draft.cid);
    if (sent) return {ok: true, data: {}, notice: T["send.was_sent"]};
    if (sent === false) return {ok: false, data: {error: T["send.not_sent"]}};
    unsure.set(hid, draft);
    return {ok: false, data: {error: T["send.unsure"]}};
  }
  // true: it had arrived (its text leaves the box; an edited text stays, not sent); false: it had
  // not (sending again is right); null: still cannot tell
  async function settle(hid) {
    const d = unsure.get(hid);
    if (!d || checking.has(hid)) return null;
    checking.add(hid);
    const sent = await wasSent(hid, d.cid).finally(() => checking.delete(hid));
    if (unsure.get(hid) !== d) return null;
    if (sent === null) { if (form.dataset.hid === hid) showError(T["send.unsure"]); return null; }
    unsure.delete(hid);
    sendErrors.delete(hid);
    if (!sent) { if (form.dataset.hid === hid) showError(T["send.not_sent"]); return false; }
    const edited = drafts.has(hid) && drafts.get(hid).text !== d.text;
    if (!edited) {
      drafts.delete(hid);
      if (form.dataset.hid === hid && box.value === d.text) box.value = "";
    }
    if (form.dataset.hid === hid) showError(T[edited ? "send.was_sent.edited" : "send.was_sent"]);
    return true;
  }
  const checking = new Set();

  // Ctrl+Enter does what the field's own button does, and only that (issue 27, high #3): the reply
  // box sends the reply, the case-note box saves the note, a field of a dialog answers it as its
  // confirming button would (when that button may be pressed); anywhere else nothing.
  function ctrlEnter(field) {
    if (field === box) { form.requestSubmit(); return; }
    if (field === noteBox) { noteForm.requestSubmit(); return; }
    if (field.classList.contains("note-edit")) { field.parentElement.querySelector("button.note-save").click(); return; }
    const ok = field.closest("dialog[open]") && field.closest("dialog[open]").querySelector("button[value=ok]");
    if (ok && !ok.disabled) ok.click();
  }

  document.addEventListener("keydown", (e) => {
    // keys typed into a field or a list of choices (canned replies, transfer) are for that field
    const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(e.target.tagName) || e.target.isContentEditable;
    if (typing && e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); ctrlEnter(e.target); return; }
    // a dialog open: it is answered first (Esc closes it); no key of the console's acts meanwhile
    if (dialogOpen()) return;
    if (typing && e.key === "Escape") { e.target.blur(); return; }
    if (typing) return;
    const i = order.indexOf(selected);
    if (e.key === "j" && order.length) select(order[Math.min(order.length - 1, i + 1)]);
    else if (e.key === "k" && order.length) select(order[Math.max(0, i - 1)]);
    else if (e.key === "c" && current && current.status === "waiting") { claimedByMe.add(current.id); act(who(current), "/claim"); }
    else if (e.key === "r" && !$("reply-form").hidden) { e.preventDefault(); $("reply").focus(); }
  });
  if ("Notification" in window && Notification.permission === "default") {
    document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), {once: true});
  }

  // away: said to the server, shown on the button
  function showAway(away) {
    $("away").setAttribute("aria-pressed", away ? "true" : "false");
    $("away").textContent = T[away ? "away.on" : "away"];
  }
  $("away").addEventListener("click", async () => {
    const away = $("away").getAttribute("aria-pressed") !== "true";
    const r = await api("POST", "/me/status", {status: away ? "away" : "online"});
    if (r.ok) showAway(away);
    if (r.ok && !away) checkSeen();              // back: what is on screen now is read
  });
  api("GET", "/colleagues").then((r) => {
    const me = (r.data.colleagues || []).find((c) => c.name === ME);
    if (me) showAway(me.status === "away");
  }, () => {});

  // The supervisor's view (admins): each counselor, here or away or gone, and what they hold;
  // a conversation held by someone away or offline can be given to someone present.
  let aliases = new Map();      // active handoff id → alias, from the last list poll
  async function pollStaff() {
    if (ROLE !== "admin" || !$("staff")) return;
    const r = await api("GET", "/counselors");
    if (!r.ok) return;
    const people = r.data.counselors || [];
    Object.entries(r.data.aliases || {}).forEach(([id, alias]) => aliases.set(id, alias));
    $("staff").replaceChildren(...people.map((c) => {
      const li = el("li");
      li.dataset.name = c.name;
      li.dataset.status = c.status;
      li.append(el("span", "dot"), el("strong", "", c.name), el("span", "", " " + T["status." + c.status]));
      const held = el("div", "held");
      if (!c.holding.length) held.appendChild(el("span", "empty", T["staff.none"]));
      c.holding.forEach((id) => {
        const alias = fmt("person", {alias: aliases.get(id) || "?"});
        const open = el("button", "", alias);
        open.type = "button";
        open.dataset.id = id;
        open.addEventListener("click", () => select(id));
        held.appendChild(open);
        if (c.status !== "online") {
          const give = el("button", "assign", T["assign"]);
          give.type = "button";
          give.dataset.id = id;
          give.addEventListener("click", () => openAssign(id, alias, c.name, people));
          held.appendChild(give);
        }
      });
      li.appendChild(held);
      return li;
    }));
  }

  let rounds = 0;
  function openAssign(id, person, holder, people) {
    if (dialogOpen()) return;
    const here = people.filter((c) => c.name !== holder && !c.disabled)
      .sort((a, b) => Number(b.status === "online") - Number(a.status === "online"));
    fillColleagues($("assign-to"), $("assign-ok"), here);
    $("assign-none").hidden = here.some((c) => c.status === "online");
    openFor("assign", {id, person}, fmt("assign.what", {person, holder}));
  }
  $("assign-dialog").addEventListener("close", async () => {
    const target = answered("assign");
    if (!target || !$("assign-to").value) return;
    const r = await api("POST", "/handoffs/" + target.id + "/assign", {to: $("assign-to").value});
    if (!r.ok) showError(fmt("error.for", {person: target.person, error: r.data.error || T["error.generic"]}));
    await pollLists();
    await pollStaff();
  });

  // The canned replies as an admin last left them (asked again every few seconds); not redrawn
  // while the counselor has the list open.
  async function pollCanned() {
    const r = await api("GET", "/canned");
    const list = r.data.canned;
    if (!r.ok || document.activeElement === $("canned") || JSON.stringify(list) === JSON.stringify(CANNED)) return;
    CANNED = list;
    const first = el("option", "", T["canned"]);
    first.value = "";
    $("canned").replaceChildren(first, ...list.map((c, i) => {
      const o = el("option", "", c.label);
      o.value = String(i);
      return o;
    }));
  }

  // The push channel (GET /console/api/events, Server-Sent Events): while it is up, the console
  // asks the API only when told that something changed, and only for that (the lists, the
  // conversation on screen from its cursor, the staff, the canned replies). A worsening person
  // rings at once, from the event itself (it says who and the danger in words). When the channel
  // drops, the console polls every second as before and says so in the header, until the
  // browser is back on it; it resumes from the last event it had (Last-Event-ID), so nothing
  // that happened meanwhile is missed.
  let push = null;               // the EventSource, while open or reconnecting
  let pushUp = false;
  let lastEventId = "";
  let opened = 0;
  const rungWorse = new Map();   // handoff id → when its loud alert rang from an event
  const PUSH_RETRY_MS = 5000;    // a channel the browser gave up on: opened again this much later
  const LIST_GAP_MS = 1000;      // the lists (or what changed in them) at most once a second when busy
  const OTHERS_GAP_MS = 5000;    // the lists whole for colleagues' conversations: about every 5 s at most
  // and whole anyway this often on push: a slow safety net (every 30 s, it was most of what 50
  // idle consoles cost the server: benchmarks/console.py)
  const FULL_LISTS_MS = 300000;
  // the risk alerts asked for anyway this often on push (rounds of POLL_MS): a slow safety net, now
  // that the server says when an unread risk message's time runs out (the "alerts" event); the
  // same call tells a quiet console that its login has ended (any answer 401 does)
  const ALERTS_CHECK_ROUNDS = 60;
  async function checkAlerts() {
    const al = await api("GET", "/alerts");
    if (!al.ok) return;
    if (risks(al.data)) sound("worse");
    renderLoud();
  }
  let quiet = 0;
  function startPush() {
    if (ended || push || !window.EventSource) return;
    const es = push = new EventSource("/console/api/events" + (lastEventId ? "?last=" + encodeURIComponent(lastEventId) : ""));
    es.onopen = () => {
      // (again) on the channel: what is on screen is asked for once, whatever the browser kept
      // of the stream meanwhile (the server also sends what was missed since Last-Event-ID)
      if (opened++) refreshAll().catch(() => {});
      pushUp = true;
      showConnection();
    };
    es.onmessage = (e) => {
      if (e.lastEventId) lastEventId = e.lastEventId;
      let d;
      try { d = JSON.parse(e.data); } catch (err) { return; }
      heard(d);
    };
    es.onerror = () => {
      pushUp = false;
      showConnection();
      if (es.readyState === EventSource.CLOSED) {          // refused (the session ended, a 503)
        push = null;
        if (!ended) setTimeout(startPush, PUSH_RETRY_MS);
      }
    };
  }

  function heard(d) {
    if (d.type === "reset") { refreshAll().catch(() => {}); return; }
    if (d.type === "typing") return;
    if (d.type === "canned") { pollCanned().catch(() => {}); return; }
    // a risk alert begins now (an unread risk message's time ran out: the server's timetable)
    if (d.type === "alerts") { refreshAlerts(true); return; }
    if (d.type === "urgent" && d.id && d.worse && !d.gone && (d.status === "waiting" || d.holder === ME)
        && d.urgent_at > (urgentSeen.get(d.id) || 0)) {
      // a person in the queue or in one of my conversations wrote something risky: as loud as
      // the lists would make it, now (the lists, asked for next, know it has rung)
      urgentSeen.set(d.id, d.urgent_at);
      rungWorse.set(d.id, Date.now());
      alertWorse({id: d.id, alias: d.alias, urgent_reason: d.tier});
      sound("worse");
      renderLoud();
    }
    // the lists: only what the event names (a list delta), at once for a risk. An event that
    // names nothing (a conversation of a colleague's I may not open, whose line in the lists may
    // have changed; presence, teams) asks for the lists whole: at once for a risk or presence,
    // within OTHERS_GAP_MS for the rest (a colleague's conversation moving on)
    if (d.id) {
      changed.add(d.id);
      // what changed is asked for within a second, each console at its own moment (many consoles
      // hear the same event: all asking in the same instant queued LINE's webhook behind their
      // connections), at once for a risk; someone waiting who worsened has rung from the event
      // itself: their line (and the queue's order) follows within the second, and no risk alert
      // of a held conversation changes with it
      const worsenedWaiting = d.type === "urgent" && d.worse && !d.gone && d.status === "waiting";
      if (d.type !== "message" && !worsenedWaiting) changedAlerts = true;
      refreshChanged(d.type === "urgent" && !worsenedWaiting);
    } else if (d.type === "urgent" || d.type === "presence") {
      refreshLists(true);
    } else if (d.type === "queue") {
      refreshOthers(false);
    } else {
      refreshLists(false);
    }
    // the conversation on screen, if this is about it, or about one I may not be told of (it may
    // be the one on screen, handed on or closed by a colleague: the pane says so)
    if (selected && (!d.id || d.id === selected)) refreshSelected();
    if (ROLE === "admin" && d.type !== "message" && d.type !== "read") refreshStaff();
  }

  // One request at a time for each; what is heard meanwhile is asked for once after it. With
  // ``spreadMs``, the first one after a quiet while waits a random moment within it too.
  function coalesced(run, gapMs, spreadMs) {
    let busy = false, again = false, last = 0, timer = null;
    const go = (now) => {
      if (busy) { again = true; return; }
      const gap = typeof gapMs === "function" ? gapMs() : gapMs;
      const wait = now ? 0 : Math.max(last + gap - Date.now(), spreadMs ? Math.random() * spreadMs : 0);
      if (wait > 0) { if (!timer) timer = setTimeout(() => { timer = null; go(true); }, wait); return; }
      busy = true;
      last = Date.now();
      run().catch(() => {}).finally(() => { busy = false; if (again) { again = false; go(false); } });
    };
    return go;
  }
  const refreshLists = coalesced(pollLists, LIST_GAP_MS);
  // (each console its own moment within the gap, the first time too: the consoles that hear the
  // same event do not all ask at once, also after a quiet while)
  const refreshOthers = coalesced(pollSince, () => OTHERS_GAP_MS * (0.6 + 0.8 * Math.random()), OTHERS_GAP_MS);
  const refreshAlerts = coalesced(checkAlerts, LIST_GAP_MS);
  const refreshChanged = coalesced(pollChanged, LIST_GAP_MS, LIST_GAP_MS);
  const refreshSelected = coalesced(pollSelected, 0);
  const refreshStaff = coalesced(pollStaff, LIST_GAP_MS);
  // everything again (the channel's reset: too much was missed to say what): also what a test or
  // a reader may call to see the console's next round (window.madoRefresh)
  async function refreshAll() {
    await Promise.all([pollSelected(), pollLists(), pollStaff(), pollCanned()]);
  }
  window.madoRefresh = refreshAll;

  // the lists' minutes (waited, awaiting a reply) move on between answers without asking
  setInterval(() => { if (pushUp && lastLists) drawLists(lastLists); }, 15000);
  setInterval(() => { if (pushUp) refreshLists(false); }, FULL_LISTS_MS);

  async function loop() {
    if (!pushUp) {                 // polling: the push channel is down (or not yet up)
      try { await pollSelected(); await pollLists(); } catch (e) { /* network blip: next round */ }
      if (rounds % 5 === 4) pollCanned().catch(() => {});
      if (rounds++ % 3 === 0) pollStaff().catch(() => {});      // the staff view: every third round
    } else if (++quiet % ALERTS_CHECK_ROUNDS === 0) {
      // on push too, the risk alerts are asked for now and then: a risk message nobody present
      // has read must ring here even if the event or the timer that would have said so was lost
      // (the safety net of issue 27's first item). It also finds out whether this browser is
      // still logged in (its cookie may be gone; the session ending on the server ends the stream)
      refreshAlerts(true);
    }
    unsure.forEach((_, hid) => { settle(hid).catch(() => {}); });
    if (!ended) setTimeout(loop, POLL_MS);
  }
  // the browser itself says the network went or came back: asked at once (a quiet console on push
  // asks the server only now and then, and an open stream may not notice a lost network soon)
  window.addEventListener("offline", () => refreshAlerts(true));
  window.addEventListener("online", () => refreshAlerts(true));
  showConnection();
  startPush();
  loop();
})();
