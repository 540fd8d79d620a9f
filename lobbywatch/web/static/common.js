/* LobbyWatch pages: language, token, REST and server-sent events over fetch. No dependencies.
 *
 * Server-sent events are read with fetch() and a stream reader rather than EventSource,
 * because EventSource cannot send the Authorization header the server requires, and a
 * token in a URL ends up in access logs.
 */
"use strict";

const LW = (() => {
  const params = new URLSearchParams(window.location.search);

  /* ------------------------------------------------------------------ language */

  function pickLang() {
    const asked = (params.get("lang") || "").toLowerCase();
    if (asked.startsWith("zh")) return "zh-CN";
    if (asked.startsWith("en")) return "en";
    const kept = localStorage.getItem("lw.lang");
    if (kept === "zh-CN" || kept === "en") return kept;
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  let lang = pickLang();
  let texts = { en: {}, "zh-CN": {} };
  const langListeners = [];

  /** Text `key` in the current language; `{name}` placeholders filled from `vars`. */
  function t(key, vars) {
    const table = texts[lang] || {};
    let s = key in table ? table[key] : (texts.en[key] ?? key);
    if (vars) {
      for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
    }
    return s;
  }

  /** Pick the current language from a {en, "zh-CN"} object (or return a plain string). */
  function pick(obj) {
    if (obj == null) return "";
    if (typeof obj === "string") return obj;
    return obj[lang] || obj.en || obj["zh-CN"] || "";
  }

  function applyTexts(root) {
    document.documentElement.lang = lang;
    for (const el of (root || document).querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    for (const el of (root || document).querySelectorAll("[data-t-placeholder]")) {
      el.placeholder = t(el.dataset.tPlaceholder);
    }
  }

  function setLang(value) {
    lang = value;
    localStorage.setItem("lw.lang", value);
    applyTexts();
    for (const fn of langListeners) fn(lang);
  }

  function initLang(table, onChange) {
    texts = table;
    if (onChange) langListeners.push(onChange);
    applyTexts();
    for (const btn of document.querySelectorAll("[data-lang-toggle]")) {
      btn.addEventListener("click", () => setLang(lang === "zh-CN" ? "en" : "zh-CN"));
    }
  }

  /* ------------------------------------------------------------------ token */

  /**
   * The bearer token: `#token=` or `?token=` once (then removed from the address bar and
   * kept in localStorage), else localStorage. Prefer `#token=`: a fragment never reaches the
   * server, so it cannot land in an access log.
   */
  function token(scope) {
    const key = "lw.token." + scope;
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const given = fragment.get("token") || params.get("token");
    if (given) {
      localStorage.setItem(key, given);
      params.delete("token");
      fragment.delete("token");
      const q = params.toString();
      const f = fragment.toString();
      history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + (f ? "#" + f : ""));
    }
    return localStorage.getItem(key);
  }

  function saveToken(scope, value) {
    localStorage.setItem("lw.token." + scope, value);
  }

  function forgetToken(scope) {
    localStorage.removeItem("lw.token." + scope);
  }

  /* ------------------------------------------------------------------ REST */

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, tok, options) {
    const opts = options || {};
    const headers = { Accept: "application/json", Authorization: "Bearer " + tok };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method: opts.method || "GET",
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: "no-store",
    });
    let data = null;
    try {
      data = await res.json();
    } catch (_e) {
      data = null;
    }
    if (!res.ok) throw new HttpError(res.status, (data && data.message) || res.statusText);
    return data;
  }

  /* ------------------------------------------------------------------ server-sent events */

  /**
   * Follow an event stream at `path` with the bearer token; reconnects by itself.
   * handlers: onEvent(name, data), onState("open" | "reconnecting" | "denied", detail).
   * Returns a function that stops it.
   */
  function stream(path, tok, handlers) {
    let stopped = false;
    let controller = null;
    let delay = 1000;
    let watchdog = null;
    const SILENCE_MS = 40000; // the server sends a keep-alive every 15 s

    function arm() {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller && controller.abort(), SILENCE_MS);
    }

    function dispatch(block) {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let parsed;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch (_e) {
        return; // a bad event is skipped, the stream goes on
      }
      handlers.onEvent(name, parsed);
    }

    async function run() {
      while (!stopped) {
        controller = new AbortController();
        try {
          arm();
          const res = await fetch(path, {
            headers: { Accept: "text/event-stream", Authorization: "Bearer " + tok },
            cache: "no-store",
            signal: controller.signal,
          });
          if (res.status === 401 || res.status === 403 || res.status === 404) {
            let msg = res.statusText;
            try {
              msg = (await res.json()).message || msg;
            } catch (_e) {
              /* keep statusText */
            }
            handlers.onState("denied", { status: res.status, message: msg });
            clearTimeout(watchdog);
            return;
          }
          if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
          handlers.onState("open");
          delay = 1000;
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            arm();
            buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              dispatch(buf.slice(0, cut));
              buf = buf.slice(cut + 2);
            }
          }
        } catch (_e) {
          /* network error, abort by the watchdog: reconnect below */
        }
        clearTimeout(watchdog);
        if (stopped) return;
        handlers.onState("reconnecting");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }

    run();
    return () => {
      stopped = true;
      if (controller) controller.abort();
    };
  }

  /* ------------------------------------------------------------------ time */

  /** Server time, from the last `as_of` seen and the browser's clock since then. */
  function serverClock() {
    let offset = 0;
    return {
      sync(iso) {
        const t0 = Date.parse(iso);
        if (!Number.isNaN(t0)) offset = t0 - Date.now();
      },
      now() {
        return new Date(Date.now() + offset);
      },
    };
  }

  function minutes(seconds) {
    return seconds == null ? null : seconds / 60;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k === "role" || k.startsWith("aria-") || k === "title") {
        node.setAttribute(k, v);
      } else node[k] = v;
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  return {
    params,
    t,
    pick,
    initLang,
    applyTexts,
    lang: () => lang,
    token,
    saveToken,
    forgetToken,
    api,
    HttpError,
    stream,
    serverClock,
    minutes,
    el,
  };
})();
