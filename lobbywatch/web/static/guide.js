/* The guide page: /guide/<site>. Open care tasks (long waits) of the hall, newest first, with
 * where the customer is; one tap to acknowledge ("on my way"). */
"use strict";

(() => {
  const { t, pick, el } = LW;
  const $ = (id) => document.getElementById(id);
  const site = decodeURIComponent(window.location.pathname.split("/")[2] || "");
  const base = "/api/v1/sites/" + encodeURIComponent(site) + "/care";
  let tasks = [];
  let tz = "";
  const cards = new Map(); // alert id -> card
  const seen = new Set(); // alerts already shown (a new one makes the phone vibrate)

  function makeCard(id) {
    const parts = {
      title: el("div", { class: "task-title", "data-testid": "title" }),
      where: el("div", { class: "task-where", "data-testid": "where" }),
      meta: el("div", { class: "task-meta", "data-testid": "meta" }),
      dot: el("span", { class: "dot" }),
      body: el("div", { class: "task-body" }),
      acked: el("div", { class: "acked", "data-testid": "acked" }),
      button: el("button", { type: "button", class: "go", "data-testid": "ack" }),
      error: el("div", { class: "error-text", "data-testid": "ack-error" }),
    };
    parts.map = el("div", { class: "map", role: "img" }, parts.dot);
    const node = el("article", { class: "task", "data-testid": "task-" + id },
      el("div", { class: "task-head" }, el("div", {}, parts.title, parts.where, parts.meta), parts.map),
      parts.body, parts.acked, parts.button, parts.error);
    const card = { node, parts, busy: false };
    parts.button.addEventListener("click", () => acknowledge(id, card));
    return card;
  }

  function fill(card, task) {
    const a = task.alert;
    const { node, parts } = card;
    node.className = "task sev-" + a.severity;
    node.dataset.state = a.state;
    parts.title.textContent = pick(a.title);
    parts.where.textContent = t("guide.where", { zone: pick(a.params.where) || a.zone || "" });
    const waited = a.params.wait_min == null ? "" : t("guide.waited", { m: Math.round(a.params.wait_min) }) + " · ";
    parts.meta.textContent = waited + t("guide.since", { time: LWFloor.clockTime(a.started_at, tz) });
    parts.body.textContent = pick(a.body);
    parts.map.hidden = !task.position;
    parts.map.setAttribute("aria-label", t("guide.map"));
    if (task.position) {
      parts.dot.style.left = (task.position[0] * 100).toFixed(1) + "%";
      parts.dot.style.top = (task.position[1] * 100).toFixed(1) + "%";
    }
    const acked = a.state === "acknowledged";
    parts.acked.hidden = !acked;
    parts.acked.textContent = acked ? "✓ " + t("guide.acked", { by: a.acked_by || "" }) : "";
    parts.button.hidden = acked;
    parts.button.disabled = card.busy;
    parts.button.textContent = card.busy ? t("guide.acking") : t("guide.ack");
  }

  function render() {
    const list = $("list");
    const ids = new Set();
    let prev = null;
    for (const task of tasks) {
      const id = task.alert.id;
      ids.add(id);
      let card = cards.get(id);
      if (!card) cards.set(id, (card = makeCard(id)));
      fill(card, task);
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== card.node) list.insertBefore(card.node, want);
      prev = card.node;
    }
    for (const [id, card] of cards) {
      if (!ids.has(id)) {
        card.node.remove();
        cards.delete(id);
      }
    }
    let empty = list.querySelector(".empty");
    if (!tasks.length && !empty) list.append((empty = el("div", { class: "empty", "data-testid": "none" })));
    if (empty) {
      if (tasks.length) empty.remove();
      else empty.textContent = t("guide.none");
    }
    const open = tasks.filter((x) => x.alert.state === "firing").length;
    $("summary").textContent = t("guide.count", { n: tasks.length, u: open });
    document.title = (open ? "(" + open + ") " : "") + t("guide.title") + " · LobbyWatch";
    document.body.dataset.count = String(tasks.length);
  }

  async function acknowledge(id, card) {
    if (card.busy) return;
    card.busy = true;
    card.parts.error.textContent = "";
    render();
    try {
      const updated = await LW.api(base + "/" + encodeURIComponent(id) + "/ack", page.token(), {
        method: "POST", body: { comment: null },
      });
      tasks = tasks.map((x) => (x.alert.id === id ? { ...x, alert: updated } : x));
    } catch (e) {
      card.parts.error.textContent = t("guide.ackfail", { msg: e.message });
    } finally {
      card.busy = false;
      render();
    }
  }

  const page = LWFloor.run("guide", base + "/stream", "care", (data) => {
    const fresh = data.tasks.some((x) => x.alert.state === "firing" && !seen.has(x.alert.id));
    if (fresh && seen.size && navigator.vibrate) navigator.vibrate([200, 100, 200]);
    for (const x of data.tasks) seen.add(x.alert.id);
    if (!seen.size) seen.add("");
    tasks = data.tasks;
    tz = data.timezone;
    render();
  }, render);
  render();
})();
