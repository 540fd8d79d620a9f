/* The wall display of one hall: /wall/<site>. Live state and alerts over server-sent events,
 * or from the hall broker (wall-hall.js) with ?hall=ws://... when the server cannot be reached. */
"use strict";

(() => {
  const { t, pick, el } = LW;
  const site = decodeURIComponent(window.location.pathname.replace(/\/+$/, "").split("/").pop());
  const scope = "wall." + site;
  const clock = LW.serverClock();
  const $ = (id) => document.getElementById(id);
  const WAIT_KINDS = new Set(["queue", "waiting", "consultation"]);
  const STATES = ["online", "faulted", "out_of_service", "offline"];

  let tok = LW.token(scope);
  let layout = null;
  let live = null;
  let alerts = null; // null: not (yet) available
  let connection = "open";
  // The two feeds; `live` and `alerts` above are what is drawn: the server's, or the hall's
  // while the server's stream is down (docs/pages.md, "In-hall mode").
  let serverLive = null;
  let serverAlerts = null;
  let source = "server";
  const hallConf = LWHall.settings();
  let hall = null;
  let denied = null;
  const stops = [];

  /* ------------------------------------------------------------------ helpers */

  function zoneName(id) {
    const z = layout && layout.zones.find((x) => x.id === id);
    return z ? pick(z.name) : id;
  }

  function fmtMin(seconds) {
    if (seconds == null) return "—";
    const m = seconds / 60;
    return m < 10 ? (Math.round(m * 10) / 10).toFixed(1).replace(/\.0$/, "") : String(Math.round(m));
  }

  function level(value, limit, warnRatio) {
    if (value == null || limit == null) return "none";
    if (value > limit) return "bad";
    if (value >= limit * (warnRatio ?? 0.8)) return "warn";
    return "ok";
  }

  /** Keep as many children of `box` as fit, in order; with `moreKey`, say how many did not. */
  function fit(box, moreKey) {
    const over = () => box.scrollHeight > box.clientHeight + 1;
    if (!over()) return;
    const items = [...box.children];
    box.replaceChildren();
    const more = moreKey ? el("div", { class: "more", "data-testid": "more" }) : null;
    for (let shown = 0; shown < items.length; shown += 1) {
      const item = items[shown];
      box.insertBefore(item, more && more.parentNode ? more : null);
      const left = items.length - shown - 1;
      if (more && left > 0) {
        more.textContent = t(moreKey, { n: left });
        if (!more.parentNode) box.append(more);
      } else if (more) more.remove();
      if (shown > 0 && over()) {
        item.remove();
        if (more) {
          more.textContent = t(moreKey, { n: left + 1 });
          if (!more.parentNode) box.append(more);
        }
        return;
      }
    }
  }

  /** Customers waiting past the care limit and how many of them a guide has visited, read
   * from the alert engine's care tasks (open `long_wait` alerts: one per customer, joined
   * across cameras by server/handover.py), never from the cameras' own lists, which name a
   * customer once per camera that sees them. A zone's task (from a camera without visits)
   * stands for the `over` customers it counts; an acknowledged task is a visited one. */
  function careTasks() {
    let care = 0;
    let visited = 0;
    for (const a of (alerts && alerts.items) || []) {
      if (a.kind !== "long_wait") continue;
      const zoneTask = (a.subject || "").startsWith("zone:");
      const n = zoneTask ? Math.max(1, (a.params && a.params.over) || 1) : 1;
      care += n;
      if (a.state === "acknowledged") visited += n;
    }
    return { care, visited };
  }

  /* ------------------------------------------------------------------ rendering */

  /** How long the hall's gateway may send nothing before its data is absent, s: the layout's
   * absent_after_s, the hall's gateway_silence_s that the server's hall state and its
   * gateway-silence alert use (60 s, the default, until the layout is had). */
  function absentAfterS() {
    return layout && layout.absent_after_s != null ? layout.absent_after_s : 60;
  }

  /** live, delayed or absent: the server's verdict, or absent once the hall has been silent
   * for longer than the limit (the stream sends nothing while nothing arrives). */
  function dataState() {
    if (source === "hall") return "hall";
    if (!live || !live.gateways.length) return "absent";
    const last = Math.max(...live.gateways.map((g) => Date.parse(g.received_at)));
    if (clock.now().getTime() - last > absentAfterS() * 1000) return "absent";
    return live.data;
  }

  function renderHeader() {
    $("hall-name").textContent = layout ? pick(layout.name) : site;
    document.title = (layout ? pick(layout.name) : site) + " · LobbyWatch";
    const data = dataState();
    const state = source === "hall" ? "hall" : connection !== "open" ? "reconnecting" : data;
    const pill = $("data-pill");
    pill.className = "pill pill-" + state;
    pill.dataset.state = state;
    pill.textContent = t("data." + state);
    const banner = $("banner");
    let text = null;
    let bad = false;
    if (denied) {
      text = t("banner.denied", { msg: denied });
      bad = true;
    } else if (source === "hall") {
      text = t("banner.hall");
    } else if (hall && document.body.dataset.hall === "denied" && (!tok || connection !== "open")) {
      text = t("banner.hall_denied");
      bad = true;
    } else if (connection !== "open") {
      text = t("banner.reconnecting");
      bad = true;
    } else if (data === "delayed") {
      text = t("banner.delayed");
    } else if (data === "absent") {
      text = t("banner.absent", { s: Math.round(absentAfterS()) });
      bad = true;
    }
    banner.hidden = text == null;
    banner.textContent = text || "";
    banner.dataset.state = data;
    banner.classList.toggle("bad", bad);
  }

  function renderClock() {
    const now = clock.now();
    const tz = (layout && layout.timezone) || undefined;
    const locale = LW.lang() === "zh-CN" ? "zh-CN" : "en-GB";
    try {
      $("clock-time").textContent = now.toLocaleTimeString(locale, {
        timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
      });
      $("clock-date").textContent = now.toLocaleDateString(locale, {
        timeZone: tz, weekday: "long", year: "numeric", month: "long", day: "numeric",
      });
    } catch (_e) {
      $("clock-time").textContent = now.toLocaleTimeString();
    }
  }

  function renderKpis() {
    const limitMin = layout ? layout.max_wait_min : 10;
    const limitS = limitMin * 60;
    // Expected wait against the 10-minute line.
    const exp = live ? live.expected_wait_s : null;
    const kw = $("kpi-wait");
    kw.dataset.level = level(exp, limitS);
    $("wait-value").textContent = fmtMin(exp);
    $("wait-fill").style.width = exp == null ? "0" : Math.min(100, (exp / (limitS * 1.5)) * 100) + "%";
    $("wait-sub").textContent = exp != null && exp > limitS ? t("kpi.over", { limit: limitMin }) : t("kpi.limit", { limit: limitMin });
    // Longest current wait, and where.
    let longest = null;
    let where = null;
    for (const z of (live && live.zones) || []) {
      if (WAIT_KINDS.has(z.kind) && z.longest_wait_s != null && (longest == null || z.longest_wait_s > longest)) {
        longest = z.longest_wait_s;
        where = z.zone;
      }
    }
    $("kpi-longest").dataset.level = level(longest, limitS);
    $("longest-value").textContent = fmtMin(longest);
    // Customers past the care limit, and how many a guide has visited: the care tasks.
    const { care, visited } = careTasks();
    $("kpi-longest").dataset.care = String(care);
    $("kpi-longest").dataset.visited = String(visited);
    const sub = where ? zoneName(where) : live ? t("kpi.nobody") : "";
    $("longest-sub").textContent = care ? sub + " · " + t("kpi.care", { n: care, visited }) : sub;
    // People in the hall.
    const people = live ? Math.round(live.occupancy) : null;
    const cap = layout ? layout.hall_capacity : null;
    $("kpi-people").dataset.level = live ? level(people, cap, 0.9) : "none";
    $("people-value").textContent = people == null ? "—" : String(people);
    $("people-sub").textContent = cap ? t("kpi.capacity", { n: cap }) : "";
    // Kiosks working against the minimum.
    const min = layout ? layout.min_working_kiosks : 2;
    const kk = $("kpi-kiosks");
    if (live) {
      kk.dataset.level = live.kiosks_working < min ? "bad" : "ok";
      $("kiosks-value").textContent = live.kiosks_working + " / " + live.kiosks_total;
      $("kiosks-sub").textContent = live.kiosks_working < min ? t("kpi.below", { n: min }) : t("kpi.minimum", { n: min });
    } else {
      kk.dataset.level = "none";
      $("kiosks-value").textContent = "—";
      $("kiosks-sub").textContent = t("kpi.minimum", { n: min });
    }
  }

  function renderQueues() {
    const box = $("queues");
    box.replaceChildren();
    const limitS = (layout ? layout.max_wait_min : 10) * 60;
    const queues = (live && live.queues) || [];
    const tickets = (live && live.waits_by_business) || [];
    if (!queues.length && !tickets.length) {
      box.append(el("div", { class: "empty", text: t("queue.none") }));
      return;
    }
    for (const q of queues) {
      const lv = level(q.expected_wait_s, limitS);
      const pct = q.expected_wait_s == null ? 0 : Math.min(100, (q.expected_wait_s / (limitS * 1.5)) * 100);
      const fill = el("div", { class: "meter-fill" });
      fill.style.width = pct + "%";
      box.append(
        el("div", { class: "queue", "data-testid": "queue-" + q.zone, "data-level": lv },
          el("div", { class: "queue-name", text: zoneName(q.zone) }),
          el("div", { class: "queue-len", "data-testid": "queue-len", text: t("queue.people", { n: q.queue_length }) }),
          el("div", { class: "meter", "data-level": lv }, fill, el("div", { class: "meter-line" })),
          el("div", { class: "queue-wait", text: q.expected_wait_s == null ? "—" : t("queue.expected", { m: fmtMin(q.expected_wait_s) }) })),
      );
    }
    // Tell the wait per business type, from the queue tickets (server/hall_tickets.py).
    for (const w of tickets) {
      const lv = level(w.expected_wait_s, limitS);
      const fill = el("div", { class: "meter-fill" });
      fill.style.width = Math.min(100, (w.expected_wait_s / (limitS * 1.5)) * 100) + "%";
      box.append(
        el("div", { class: "queue", "data-testid": "business-" + w.business, "data-level": lv },
          el("div", { class: "queue-name", text: w.name[LW.lang() === "zh-CN" ? "zh-CN" : "en"] }),
          el("div", { class: "queue-len", text: t("queue.tickets", { n: w.ahead }) }),
          el("div", { class: "meter", "data-level": lv }, fill, el("div", { class: "meter-line" })),
          el("div", { class: "queue-wait", text: t("queue.expected", { m: fmtMin(w.expected_wait_s) }) })),
      );
    }
    fit(box, null);
  }

  function renderZones() {
    const box = $("zones");
    box.replaceChildren();
    const byId = new Map(((live && live.zones) || []).map((z) => [z.zone, z]));
    // Counter zones hold one customer at a time: the wall shows where people gather.
    const zones = (layout ? layout.zones : [...byId.values()].map((z) => ({ id: z.zone, kind: z.kind, capacity: null })))
      .filter((z) => z.kind !== "counter");
    if (!zones.length) {
      box.append(el("div", { class: "empty", text: t("zones.none") }));
      return;
    }
    for (const z of zones) {
      const v = byId.get(z.id);
      const occ = v ? Math.round(v.occupancy) : null;
      const lv = v && z.capacity ? level(v.occupancy, z.capacity, 0.8) : "none";
      const fill = el("div", { class: "bar-fill" });
      fill.style.width = v && z.capacity ? Math.min(100, (v.occupancy / z.capacity) * 100) + "%" : "0";
      const num = el("div", { class: "zone-num", "data-testid": "zone-num", text: occ == null ? "—" : String(occ) });
      if (z.capacity) num.append(el("small", { text: " / " + z.capacity }));
      box.append(
        el("div", { class: "zone", "data-testid": "zone-" + z.id, "data-level": lv },
          el("div", { class: "zone-name", text: zoneName(z.id) }),
          el("div", { class: "bar-track" }, fill), num),
      );
    }
    fit(box, "more");
  }

  function renderDevices() {
    const box = $("devices");
    box.replaceChildren();
    const known = new Map(((live && live.devices) || []).map((d) => [d.device, d]));
    const ids = layout ? layout.devices.map((d) => d.id) : [...known.keys()];
    for (const id of known.keys()) if (!ids.includes(id)) ids.push(id);
    if (!ids.length) {
      box.append(el("div", { class: "empty", text: t("devices.none") }));
      return;
    }
    for (const id of ids) {
      const d = known.get(id);
      const state = d && STATES.includes(d.state) ? d.state : "unknown";
      const faults = d && d.faults.length ? el("div", { class: "tile-faults", text: d.faults.join(", ") }) : null;
      box.append(
        el("div", { class: "tile", "data-testid": "device-" + id, "data-state": state },
          el("div", { class: "tile-name", text: id }),
          el("div", { class: "tile-state", text: t("state." + state) }), faults),
      );
    }
    fit(box, "more");
  }

  function renderAlerts() {
    const box = $("alerts");
    box.replaceChildren();
    const count = $("alert-count");
    if (alerts == null) {
      count.textContent = "";
      box.append(el("div", { class: "empty", text: t("alerts.off") }));
      return;
    }
    count.textContent = alerts.items.length ? "(" + alerts.items.length + ")" : "";
    if (!alerts.items.length) {
      box.append(el("div", { class: "empty", "data-testid": "alerts-none", text: t("alerts.none") }));
      return;
    }
    const now = clock.now().getTime();
    // The wall puts the most severe first, then the newest (the list comes newest first).
    const rank = { critical: 0, warning: 1, info: 2 };
    const ordered = alerts.items
      .map((a, i) => [a, i])
      .sort(([a, i], [b, j]) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3) || i - j)
      .map(([a]) => a);
    for (const a of ordered) {
      const mins = Math.max(0, Math.round((now - Date.parse(a.started_at)) / 60000));
      const meta = a.state === "acknowledged" ? t("alert.ackedby", { by: a.acked_by || "" }) : t("alert.for", { m: mins });
      box.append(
        el("div", { class: "alert sev-" + a.severity, "data-testid": "alert-" + a.id, "data-state": a.state, "data-kind": a.kind },
          el("div", { class: "alert-head" },
            el("div", { class: "alert-title", text: pick(a.title) }),
            el("div", { class: "alert-meta", text: t("severity." + a.severity) + " · " + meta })),
          el("div", { class: "alert-body", text: pick(a.body) })),
      );
    }
    fit(box, "alerts.more");
  }

  /** Draw the server's figures while its stream is open, else the hall broker's (if any). */
  function pickSource() {
    const serverUp = tok && !denied && connection === "open" && serverLive;
    const fromHall = hall && !serverUp ? hall.live(layout) : null;
    source = fromHall ? "hall" : "server";
    live = fromHall || serverLive;
    alerts = fromHall ? { items: hall.alerts() } : serverAlerts;
  }

  function render() {
    pickSource();
    renderHeader();
    renderClock();
    renderKpis();
    renderQueues();
    renderZones();
    renderDevices();
    renderAlerts();
    document.body.dataset.ready = live ? "1" : "0";
  }

  /* ------------------------------------------------------------------ data */

  function showLogin() {
    for (const s of stops.splice(0)) s();
    $("login").hidden = false;
    $("login-token").focus();
  }

  function onState(state, detail) {
    if (state === "denied") {
      denied = detail.message;
      render();
      showLogin();
      return;
    }
    connection = state;
    render();
  }

  async function start() {
    denied = null;
    try {
      layout = await LW.api("/api/v1/web/sites/" + encodeURIComponent(site) + "/layout", tok);
      localStorage.setItem("lw.layout." + site, JSON.stringify(layout)); // for the hall feed
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        denied = e.message;
        render();
        showLogin();
        return;
      }
      layout = cachedLayout(); // else draw ids until the layout can be had
    }
    render();
    stops.push(
      LW.stream("/api/v1/sites/" + encodeURIComponent(site) + "/live/stream", tok, {
        onEvent(name, data) {
          if (name !== "live") return;
          serverLive = data;
          clock.sync(data.as_of);
          render();
        },
        onState,
      }),
    );
    stops.push(
      LW.stream("/api/v1/alerts/stream?site=" + encodeURIComponent(site), tok, {
        onEvent(name, data) {
          if (name !== "alerts") return;
          serverAlerts = { items: data.alerts };
          clock.sync(data.as_of);
          render();
        },
        onState(state) {
          if (state === "denied") {
            serverAlerts = null; // no alert engine: the rest of the wall still works
            render();
          }
        },
      }),
    );
  }

  function cachedLayout() {
    try {
      return JSON.parse(localStorage.getItem("lw.layout." + site) || "null");
    } catch (_e) {
      return null;
    }
  }

  /** Follow the hall broker too (?hall=...): in the background while the server's stream is up. */
  function startHall() {
    if (!layout) layout = cachedLayout();
    if (!layout) {
      LWHall.layout(site).then((given) => {
        if (given && !layout) {
          layout = given; // from the hall gateway (a display that has never reached the server)
          render();
        }
      });
    }
    // A hall message redraws only while the hall is (or becomes) what is drawn.
    const onHall = () => {
      const was = source;
      pickSource();
      if (source === "hall" || was === "hall") render();
    };
    hall = LWHall.feed(site, hallConf, onHall, (state) => {
      document.body.dataset.hall = state;
      render();
    });
  }

  LW.initLang(LW_TEXTS, render);
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("login-token").value.trim();
    if (!value) return;
    LW.saveToken(scope, value);
    tok = value;
    $("login").hidden = true;
    start();
  });
  window.addEventListener("resize", render);
  setInterval(() => {
    renderClock();
    renderHeader();
  }, 1000);
  if (hallConf) startHall();
  if (tok) start();
  else if (hallConf) render(); // in the hall only: no server, no token
  else {
    render();
    showLogin();
  }
})();
