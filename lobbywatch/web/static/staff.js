/* The staff page: /staff. Open alerts of the token's halls, newest first; acknowledge; put the
   device of a device alert out of service or back (a command through the hall's downlink). */
"use strict";

(() => {
  const { t, pick, el } = LW;
  const scope = "staff";
  const clock = LW.serverClock();
  const $ = (id) => document.getElementById(id);

  let tok = LW.token(scope);
  let sites = [];
  let site = LW.params.get("site") || localStorage.getItem("lw.staff.site") || "";
  let items = [];
  let stop = null;
  const cards = new Map(); // alert id -> {node, parts}
  const seenIds = new Set(); // alerts already shown (a new one makes the phone vibrate)

  function siteName(id) {
    const s = sites.find((x) => x.id === id);
    if (!s) return id;
    return LW.lang() === "zh-CN" ? s.name_zh : s.name_en;
  }

  function hallTime(iso, siteId) {
    const s = sites.find((x) => x.id === siteId);
    const locale = LW.lang() === "zh-CN" ? "zh-CN" : "en-GB";
    try {
      return new Date(iso).toLocaleTimeString(locale, {
        timeZone: s ? s.timezone : undefined, hour: "2-digit", minute: "2-digit", hour12: false,
      });
    } catch (_e) {
      return new Date(iso).toLocaleTimeString();
    }
  }

  function showError(text) {
    $("error").hidden = !text;
    $("error").textContent = text || "";
  }

  /* ------------------------------------------------------------------ cards */

  function makeCard(a) {
    const parts = {
      badge: el("span", { class: "badge", "data-testid": "severity" }),
      title: el("div", { class: "card-title", "data-testid": "title" }),
      meta: el("div", { class: "card-meta", "data-testid": "meta" }),
      todoLabel: el("div", { class: "todo-label" }),
      body: el("div", { class: "card-body", "data-testid": "todo" }),
      acked: el("div", { class: "acked", "data-testid": "acked" }),
      comment: el("textarea", { rows: 1, maxLength: 500, "data-testid": "comment" }),
      button: el("button", { type: "button", "data-testid": "ack" }),
      error: el("div", { class: "ack-error", "data-testid": "ack-error" }),
      deviceLabel: el("span", { class: "device-label" }),
      oosOn: el("button", { type: "button", "data-testid": "oos-on" }),
      oosOff: el("button", { type: "button", "data-testid": "oos-off" }),
      oosMsg: el("div", { class: "device-msg", "data-testid": "oos-msg" }),
    };
    parts.form = el("div", { class: "ack" }, parts.comment, parts.button, parts.error);
    parts.device = el("div", { class: "device-ctl", "data-testid": "device-ctl" },
      parts.deviceLabel, parts.oosOn, parts.oosOff, parts.oosMsg);
    const node = el("article", { class: "card", "data-testid": "alert-" + a.id },
      el("div", { class: "card-head" }, parts.title, parts.badge),
      parts.meta, parts.todoLabel, parts.body, parts.acked, parts.form, parts.device);
    parts.button.addEventListener("click", () => acknowledge(a.id, parts));
    parts.oosOn.addEventListener("click", () => outOfService(a, true, parts));
    parts.oosOff.addEventListener("click", () => outOfService(a, false, parts));
    return { node, parts, busy: false };
  }

  function fillCard(card, a) {
    const { node, parts } = card;
    node.className = "card sev-" + a.severity;
    node.dataset.state = a.state;
    node.dataset.kind = a.kind;
    node.dataset.severity = a.severity;
    parts.badge.textContent = t("severity." + a.severity);
    parts.title.textContent = pick(a.title);
    const mins = Math.max(0, Math.round((clock.now().getTime() - Date.parse(a.started_at)) / 60000));
    const where = sites.length > 1 ? siteName(a.site) + " · " : "";
    parts.meta.textContent = where + t("staff.since", { time: hallTime(a.started_at, a.site), m: mins });
    parts.todoLabel.textContent = t("staff.todo");
    parts.body.textContent = pick(a.body);
    const acked = a.state === "acknowledged";
    parts.acked.hidden = !acked;
    parts.acked.textContent = acked
      ? "✓ " + t("alert.ackedby", { by: a.acked_by || "" }) + (a.ack_comment ? " — " + a.ack_comment : "")
      : "";
    parts.form.hidden = acked;
    parts.comment.placeholder = t("staff.comment");
    parts.button.textContent = card.busy ? t("staff.acking") : t("staff.ack");
    parts.button.disabled = card.busy;
    parts.device.hidden = !a.device;
    parts.deviceLabel.textContent = a.device ? t("staff.device", { d: a.device }) : "";
    parts.oosOn.textContent = t("staff.oos");
    parts.oosOff.textContent = t("staff.inservice");
  }

  function render() {
    const list = $("list");
    const seen = new Set();
    let prev = null;
    for (const a of items) {
      seen.add(a.id);
      let card = cards.get(a.id);
      if (!card) {
        card = makeCard(a);
        cards.set(a.id, card);
      }
      fillCard(card, a);
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== card.node) list.insertBefore(card.node, want); // move only when out of place
      prev = card.node;
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.node.remove();
        cards.delete(id);
      }
    }
    let empty = list.querySelector(".empty");
    if (!items.length && !empty) {
      empty = el("div", { class: "empty", "data-testid": "none" });
      list.append(empty);
    }
    if (empty) {
      if (items.length) empty.remove();
      else empty.textContent = t("staff.none");
    }
    const open = items.filter((a) => a.state === "firing").length;
    $("summary").textContent = t("staff.count", { n: items.length, u: open });
    document.title = (open ? "(" + open + ") " : "") + t("staff.title") + " · LobbyWatch";
    document.body.dataset.count = String(items.length);
  }

  async function acknowledge(id, parts) {
    const card = cards.get(id);
    if (!card || card.busy) return;
    card.busy = true;
    parts.error.textContent = "";
    parts.button.disabled = true;
    parts.button.textContent = t("staff.acking");
    const comment = parts.comment.value.trim();
    try {
      const updated = await LW.api("/api/v1/alerts/" + encodeURIComponent(id) + "/ack", tok, {
        method: "POST",
        body: { comment: comment || null },
      });
      items = items.map((a) => (a.id === id ? updated : a));
    } catch (e) {
      parts.error.textContent = t("staff.ackfail", { msg: e.message });
    } finally {
      card.busy = false;
      render();
    }
  }

  async function outOfService(a, on, parts) {
    parts.oosMsg.textContent = t("staff.acking");
    const path = "/api/v1/sites/" + encodeURIComponent(a.site) + "/devices/" + encodeURIComponent(a.device)
      + "/out-of-service";
    try {
      await LW.api(path, tok, { method: "POST", body: { out_of_service: on } });
      parts.oosMsg.textContent = t(on ? "staff.oossent" : "staff.backsent");
    } catch (e) {
      parts.oosMsg.textContent = t("staff.oosfail", { msg: e.message });
    }
  }

  /* ------------------------------------------------------------------ data */

  function setConn(state, detail) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = state === "open" ? t("staff.live") : state === "denied" ? "✕" : t("staff.reconnecting");
    if (state === "denied") showError(t("staff.denied", { msg: detail.message }));
    else if (state === "open") showError(null);
  }

  function follow() {
    if (stop) stop();
    const q = site ? "?site=" + encodeURIComponent(site) : "";
    stop = LW.stream("/api/v1/alerts/stream" + q, tok, {
      onEvent(name, data) {
        if (name !== "alerts") return;
        clock.sync(data.as_of);
        const fresh = data.alerts.some((a) => a.state === "firing" && !seenIds.has(a.id));
        if (fresh && seenIds.size && navigator.vibrate) navigator.vibrate([200, 100, 200]); // a new alert
        for (const a of data.alerts) seenIds.add(a.id);
        if (!seenIds.size) seenIds.add("");
        items = data.alerts;
        render();
      },
      onState(state, detail) {
        setConn(state, detail);
        if (state === "denied" && (detail.status === 401 || detail.status === 403) && !site) showLogin();
      },
    });
  }

  function fillSites() {
    const sel = $("site");
    sel.replaceChildren(el("option", { value: "", text: t("staff.allsites") }));
    for (const s of sites) sel.append(el("option", { value: s.id, text: siteName(s.id) }));
    if (site && !sites.some((s) => s.id === site)) site = "";
    sel.value = site;
    sel.hidden = sites.length < 2;
  }

  function showLogin() {
    if (stop) stop();
    stop = null;
    $("login").hidden = false;
  }

  async function start() {
    try {
      sites = await LW.api("/api/v1/sites", tok);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        showError(t("staff.denied", { msg: e.message }));
        showLogin();
        return;
      }
      sites = [];
    }
    fillSites();
    follow();
  }

  LW.initLang(LW_TEXTS, () => {
    fillSites();
    render();
    setConn($("conn").dataset.state);
  });
  $("site").addEventListener("change", (ev) => {
    site = ev.target.value;
    localStorage.setItem("lw.staff.site", site);
    items = [];
    render();
    follow();
  });
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("login-token").value.trim();
    if (!value) return;
    LW.saveToken(scope, value);
    tok = value;
    $("login").hidden = true;
    showError(null);
    start();
  });
  $("logout").addEventListener("click", () => {
    LW.forgetToken(scope);
    tok = null;
    showLogin();
  });
  setInterval(render, 30000); // "for N min" moves on
  setConn("connecting");
  render();
  if (tok) start();
  else showLogin();
})();
