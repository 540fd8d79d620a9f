/* What the counter display and the guide page share: the connection pill and banner, the
 * login form, and following one event stream that reloads the whole view on every
 * (re)connection (the server sends the full state first). */
"use strict";

const LWFloor = (() => {
  const { t } = LW;
  const $ = (id) => document.getElementById(id);

  /**
   * Run a floor page: `scope` keys its token; `path` is its event stream, `event` the event
   * name; `onData(data)` draws; `onLang()` redraws after a language switch.
   * Returns {token(), reload()}.
   */
  function run(scope, path, event, onData, onLang) {
    let tok = LW.token(scope);
    let stop = null;
    let connState = "connecting";
    let dataState = "live";
    let deniedMsg = "";

    function banner() {
      const b = $("banner");
      let text = "";
      let level = "";
      if (connState === "reconnecting") [text, level] = [t("floor.lost"), "warn"];
      else if (connState === "denied") [text, level] = [t("floor.denied", { msg: deniedMsg }), "bad"];
      else if (dataState === "absent") [text, level] = [t("floor.absent"), "warn"];
      else if (dataState === "delayed") [text, level] = [t("floor.delayed"), "warn"];
      b.hidden = !text;
      b.textContent = text;
      b.dataset.level = level;
      const c = $("conn");
      c.dataset.state = connState;
      c.textContent = {
        open: t("floor.live"), connecting: t("floor.connecting"), reconnecting: t("floor.reconnecting"), denied: "✕",
      }[connState];
      document.body.dataset.conn = connState;
    }

    function follow() {
      if (stop) stop();
      stop = LW.stream(path, tok, {
        onEvent(name, data) {
          if (name !== event) return;
          dataState = data.data || "live";
          onData(data);
          banner();
        },
        onState(state, detail) {
          connState = state;
          if (state === "denied") {
            deniedMsg = detail.message;
            if (detail.status === 401 || detail.status === 403) showLogin();
          }
          banner();
        },
      });
    }

    function showLogin() {
      if (stop) stop();
      stop = null;
      $("login").hidden = false;
    }

    LW.initLang(LW_FLOOR_ALL, () => {
      banner();
      onLang();
    });
    $("login").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("login-token").value.trim();
      if (!value) return;
      LW.saveToken(scope, value);
      tok = value;
      $("login").hidden = true;
      connState = "connecting";
      banner();
      follow();
    });
    $("logout").addEventListener("click", () => {
      LW.forgetToken(scope);
      tok = null;
      showLogin();
    });
    banner();
    if (tok) follow();
    else showLogin();
    return { token: () => tok };
  }

  /** "HH:MM" of an ISO time in the hall's time zone (`tz`, IANA). */
  function clockTime(iso, tz) {
    const locale = LW.lang() === "zh-CN" ? "zh-CN" : "en-GB";
    const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
    try {
      return new Date(iso).toLocaleTimeString(locale, { ...opts, timeZone: tz || undefined });
    } catch (_e) {
      return new Date(iso).toLocaleTimeString(locale, opts);
    }
  }

  /** "m:ss" of a number of seconds. */
  function minSec(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  return { run, clockTime, minSec };
})();
