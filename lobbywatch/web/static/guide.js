/* The guide page: /guide/<site>. Open care tasks (long waits) of the hall, newest first, with
 * where the customer is (the zone; on the hall's floor plan, a sketch and "x m, y m", when the
 * camera is calibrated, else where in the camera's view); one tap to acknowledge ("on my way"). */
"use strict";

(() => {
  const { t, pick, el } = LW;
  const $ = (id) => document.getElementById(id);
  const site = decodeURIComponent(window.location.pathname.split("/")[2] || "");
  const base = "/api/v1/sites/" + encodeURIComponent(site) + "/care";
  let tasks = [];
  let tz = "";
  let plan = null; // the floor plan's extent {min: [x, y], max: [x, y]} in metres, or null
  const SVG = "http://www.w3.org/2000/svg";
  const cards = new Map(); // alert id -> card
  const seen = new Set(); // alerts already shown (a new one makes the phone vibrate)

  function makeCard(id) {
    const parts = {
      title: el("div", { class: "task-title", "data-testid": "title" }),
      where: el("div", { class: "task-where", "data-testid": "where" }),
      spot: el("div", { class: "task-spot", "data-testid": "spot" }),
      meta: el("div", { class: "task-meta", "data-testid": "meta" }),
      dot: el("span", { class: "dot" }),
      body: el("div", { class: "task-body" }),
      acked: el("div", { class: "acked", "data-testid": "acked" }),
      button: el("button", { type: "button", class: "go", "data-testid": "ack" }),
      error: el("div", { class: "error-text", "data-testid": "ack-error" }),
    };
    parts.map = el("div", { class: "map", role: "img", "data-testid": "view" }, parts.dot);
    parts.plan = el("div", { class: "map plan", role: "img", "data-testid": "floor" });
    const node = el("article", { class: "task", "data-testid": "task-" + id },
      el("div", { class: "task-head" },
        el("div", {}, parts.title, parts.where, parts.spot, parts.meta), parts.map, parts.plan),
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
    const floor = task.floor;
    parts.spot.hidden = !floor;
    parts.spot.textContent = floor ? t("guide.floor", { x: floor[0].toFixed(1), y: floor[1].toFixed(1) }) : "";
    parts.plan.hidden = !floor;
    parts.plan.setAttribute("aria-label", t("guide.floormap"));
    if (floor) parts.plan.replaceChildren(sketch(floor));
    parts.map.hidden = !task.position || !!floor; // the floor plan, where known, says more
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

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  /** A small sketch of the floor plan (x to the right, y down, as the hall file measures it;
   * a line every 5 m) with the customer's spot. */
  function sketch(floor) {
    const lo = plan ? [Math.min(plan.min[0], floor[0]), Math.min(plan.min[1], floor[1])] : [floor[0] - 5, floor[1] - 5];
    const hi = plan ? [Math.max(plan.max[0], floor[0]), Math.max(plan.max[1], floor[1])] : [floor[0] + 5, floor[1] + 5];
    const [w, h] = [Math.max(hi[0] - lo[0], 1), Math.max(hi[1] - lo[1], 1)];
    const pad = Math.max(w, h) * 0.06;
    const box = svg("svg", { viewBox: [lo[0] - pad, lo[1] - pad, w + 2 * pad, h + 2 * pad].join(" ") });
    box.append(svg("rect", { class: "plan-floor", x: lo[0], y: lo[1], width: w, height: h }));
    for (let x = Math.ceil(lo[0] / 5) * 5; x < hi[0]; x += 5) {
      box.append(svg("line", { class: "plan-grid", x1: x, y1: lo[1], x2: x, y2: hi[1] }));
    }
    for (let y = Math.ceil(lo[1] / 5) * 5; y < hi[1]; y += 5) {
      box.append(svg("line", { class: "plan-grid", x1: lo[0], y1: y, x2: hi[0], y2: y }));
    }
    box.append(svg("circle", { class: "plan-spot", "data-testid": "floor-spot", cx: floor[0], cy: floor[1], r: Math.max(w, h) * 0.05 }));
    return box;
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
    plan = data.floor_plan;
    render();
  }, render);
  render();
})();
