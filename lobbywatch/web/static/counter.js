/* The counter display: /counter/<site>/<counter>. The no-upsell light, the line, the current
 * transaction against its limit, and the counter's state with buttons to set it. */
"use strict";

(() => {
  const { t, pick } = LW;
  const $ = (id) => document.getElementById(id);
  const [, , site, counter] = window.location.pathname.split("/").map(decodeURIComponent);
  const base = "/api/v1/sites/" + encodeURIComponent(site) + "/counters/" + encodeURIComponent(counter);
  let view = null;
  let busy = false;

  function draw() {
    const v = view;
    const buttons = document.querySelectorAll(".state-buttons button");
    for (const b of buttons) {
      b.textContent = t("state." + b.dataset.state);
      b.setAttribute("aria-pressed", String(v != null && v.state === b.dataset.state));
      b.disabled = busy;
    }
    $("queue-unit").textContent = t("counter.people");
    if (!v) return;
    $("name").textContent = pick(v.name);
    document.title = pick(v.name) + " · LobbyWatch";
    const light = $("light");
    light.dataset.on = String(v.no_upsell);
    $("light-title").textContent = t(v.no_upsell ? "counter.upsell.on" : "counter.upsell.off");
    $("light-why").textContent = v.no_upsell
      ? t("counter.upsell.on.why", { n: v.queue_length ?? "?", limit: v.no_upsell_at })
      : t("counter.upsell.off.why");
    $("queue-n").textContent = v.queue_length == null ? t("counter.queue.none") : String(v.queue_length);
    $("queue-unit").hidden = v.queue_length == null;
    const tx = v.transaction;
    const box = $("tx");
    if (!tx) {
      box.dataset.level = "none";
      $("tx-value").textContent = t("counter.tx.none");
      $("tx-limit").textContent = "";
      $("tx-bar").style.width = "0";
    } else {
      const ratio = tx.elapsed_s / tx.limit_s;
      box.dataset.level = ratio >= 1 ? "bad" : ratio >= 0.8 ? "warn" : "ok";
      $("tx-value").textContent = LWFloor.minSec(tx.elapsed_s);
      const limit = LWFloor.minSec(tx.limit_s);
      $("tx-limit").textContent = t(ratio >= 1 ? "counter.tx.over" : "counter.tx.limit", { limit });
      $("tx-bar").style.width = Math.min(100, ratio * 100).toFixed(1) + "%";
    }
    $("state-now").textContent = v.state ? t("state." + v.state) : t("counter.state.none");
    $("state-now").dataset.state = v.state || "";
    $("state-since").textContent = v.state_since ? t("counter.state.since", { time: LWFloor.clockTime(v.state_since, v.timezone) }) : "";
  }

  const page = LWFloor.run("counter", base + "/display/stream", "counter", (data) => {
    view = data;
    draw();
  }, draw);

  for (const b of document.querySelectorAll(".state-buttons button")) {
    b.addEventListener("click", async () => {
      if (busy) return;
      busy = true;
      $("state-error").textContent = "";
      draw();
      try {
        view = await LW.api(base + "/state", page.token(), { method: "POST", body: { state: b.dataset.state } });
      } catch (e) {
        $("state-error").textContent = t("counter.set.fail", { msg: e.message });
      } finally {
        busy = false;
        draw();
      }
    });
  }
  draw();
})();
