/* The wall's second feed: the hall broker over MQTT-over-WebSocket (docs/pages.md, "In-hall mode").
 *
 * Keeps the hall's retained messages (zone states, camera and device status, counter states,
 * the wait board, the open hall alerts the gateway keeps retained, docs/protocol.md) and turns
 * them into the same shapes the server's live and alert streams give, so wall.js draws both
 * with one renderer.
 */
"use strict";

const LWHall = (() => {
  const WAIT_KINDS = new Set(["queue", "waiting"]);

  /** The wall's hall broker settings from the page's address, or null: ?hall=ws://host:9001
   * (&hall_user=display). The password, `#hall_password=` once, is then kept in localStorage
   * and removed from the address bar, like the token (common.js). */
  function settings() {
    const q = new URLSearchParams(window.location.search);
    const url = q.get("hall");
    if (!url) return null;
    const key = "lw.hall_password." + url;
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const given = fragment.get("hall_password") || q.get("hall_password");
    if (given) {
      localStorage.setItem(key, given);
      q.delete("hall_password");
      fragment.delete("hall_password");
      const f = fragment.toString();
      history.replaceState(null, "", window.location.pathname + "?" + q.toString() + (f ? "#" + f : ""));
    }
    return { url, username: q.get("hall_user") || "display", password: localStorage.getItem(key) || "" };
  }

  /** The hall's layout from the server of the page when it gives one without a token (the hall
   * gateway does: gateway/wall_http.py); null otherwise. */
  async function layout(site) {
    try {
      const r = await fetch("/api/v1/web/sites/" + encodeURIComponent(site) + "/layout");
      return r.ok ? await r.json() : null;
    } catch (_e) {
      return null;
    }
  }

  /** A device's state as the server's hall state names it (server/hall_state.py, device_now). */
  function deviceState(s) {
    if (s.state === "offline") return "offline";
    if (s.out_of_service) return "out_of_service";
    if ((s.faults || []).length) return "faulted";
    return "online";
  }

  /**
   * Follow the hall broker of `site`; calls onChange() after each message and
   * onState("open" | "reconnecting" | "denied"). Returns { live(layout), alerts(), stop() }.
   */
  function feed(site, conf, onChange, onState) {
    const root = "lobbywatch/v1/" + site + "/";
    const zones = new Map();
    const devices = new Map();
    const counters = new Map();
    const cameras = new Map();
    const alerts = new Map();
    let board = [];
    let lastAt = null;

    function onMessage(topic, text) {
      const path = topic.slice(root.length).split("/");
      const key = path.join("/");
      let msg = null;
      try {
        msg = text ? JSON.parse(text) : null;
      } catch (_e) {
        return;
      }
      const maps = { zone_state: zones, device_status: devices, counter_state: counters, camera_status: cameras };
      if (msg == null) {
        for (const m of Object.values(maps)) m.delete(key); // a retained message cleared
        if (path[0] === "downlink" && path[1] === "alert") alerts.delete(path[2]); // resolved
      } else if (msg.type in maps) {
        maps[msg.type].set(key, msg);
      } else if (msg.type === "alert") {
        const was = alerts.get(msg.alert_id);
        if (msg.state === "resolved") alerts.delete(msg.alert_id);
        else alerts.set(msg.alert_id, { msg, started_at: was ? was.started_at : msg.ts });
      } else if (msg.type === "wait_board") {
        board = msg.waits;
      } else return;
      lastAt = Date.now();
      onChange();
    }

    const stop = LWMqtt.connect(conf.url, {
      username: conf.username,
      password: conf.password,
      filters: [
        root + "camera/+/zone/+",
        root + "camera/+/status",
        root + "device/+/status",
        root + "device/+/counter/+",
        root + "downlink/alert/+", // the open alerts, retained by the gateway (one topic each)
        root + "downlink/wait",
      ],
      onMessage,
      onState,
    });

    /** The floor now, in the shape of the server's live view (server/live.py, SiteLiveView). */
    function live(layout) {
      if (lastAt == null) return null;
      const zs = [...zones.values()]
        .map((z) => ({ ...z, camera: z.source }))
        .sort((a, b) => (a.zone < b.zone ? -1 : 1));
      const waits = zs.filter((z) => WAIT_KINDS.has(z.kind) && z.expected_wait_s != null).map((z) => z.expected_wait_s);
      const devs = [...devices.values()].map((d) => ({ device: d.source, state: deviceState(d), faults: d.faults || [] }));
      const selfService = new Set(((layout && layout.devices) || []).filter((d) => d.self_service).map((d) => d.id));
      for (const d of devices.values()) {
        if (d.info && d.info.kind !== "counter_terminal" && d.info.kind !== "display") selfService.add(d.source);
      }
      const known = new Map(devs.map((d) => [d.device, d]));
      const working = [...selfService].filter((id) => !known.has(id) || ["online", "unknown"].includes(known.get(id).state));
      const cs = [...counters.values()].map((c) => ({ counter: c.counter, state: c.state, since: c.since, ts: c.ts }));
      return {
        site,
        data: "hall",
        occupancy: zs.reduce((n, z) => n + z.occupancy, 0),
        expected_wait_s: waits.length ? Math.max(...waits) : null,
        kiosks_working: working.length,
        kiosks_total: selfService.size,
        counters_serving: cs.filter((c) => c.state === "serving").length,
        zones: zs,
        queues: zs
          .filter((z) => z.queue_length != null)
          .map((z) => ({ zone: z.zone, queue_length: z.queue_length, expected_wait_s: z.expected_wait_s ?? null })),
        devices: devs.sort((a, b) => (a.device < b.device ? -1 : 1)),
        counters: cs,
        waits_by_business: board.map((w) => ({
          business: w.business,
          name: { en: w.name_en, "zh-CN": w["name_zh-CN"] },
          ahead: w.ahead,
          expected_wait_s: w.expected_wait_s,
        })),
        cameras: [...cameras.values()].map((c) => ({ camera: c.source, state: c.state, stream_ok: c.stream_ok })),
        gateways: [],
      };
    }

    /** Open hall alerts, newest first, in the shape of the server's alert stream. */
    function openAlerts() {
      return [...alerts.values()]
        .map(({ msg, started_at }) => ({
          id: msg.alert_id,
          kind: msg.kind,
          severity: msg.severity,
          state: msg.state,
          title: msg.title,
          body: msg.body,
          zone: msg.zone,
          device: msg.device,
          started_at,
          acked_by: null,
        }))
        .sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
    }

    return { live, alerts: openAlerts, stop };
  }

  return { settings, layout, feed };
})();
