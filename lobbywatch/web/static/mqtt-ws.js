/* A minimal MQTT 3.1.1 client over WebSocket, for the in-hall wall (docs/pages.md, "In-hall mode").
 *
 * Subscribe-only: CONNECT (user name, password, clean session), SUBSCRIBE, PUBLISH received at
 * QoS 0/1 (PUBACK for 1), PINGREQ keep-alive (a silent link is dropped), reconnect with
 * back-off (1 s doubling to 15 s). No dependencies.
 */
"use strict";

const LWMqtt = (() => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  function str(s) {
    const b = enc.encode(s);
    return [b.length >> 8, b.length & 0xff, ...b];
  }

  function packet(type, flags, body) {
    const len = [];
    let n = body.length;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      len.push(byte);
    } while (n > 0);
    return new Uint8Array([(type << 4) | flags, ...len, ...body]);
  }

  function connectPacket(opts) {
    let flags = 0x02; // clean session
    const payload = [...str(opts.clientId || "")];
    if (opts.username != null) {
      flags |= 0x80;
      payload.push(...str(opts.username));
      if (opts.password != null) {
        flags |= 0x40;
        payload.push(...str(opts.password));
      }
    }
    const ka = opts.keepalive;
    return packet(1, 0, [...str("MQTT"), 4, flags, ka >> 8, ka & 0xff, ...payload]);
  }

  function subscribePacket(id, filters) {
    const body = [id >> 8, id & 0xff];
    for (const f of filters) body.push(...str(f), 1); // QoS 1
    return packet(8, 0x02, body);
  }

  /** Split complete packets off `buf`: [[type, flags, body], ...] and the rest. */
  function split(buf) {
    const out = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      let len = 0;
      let mult = 1;
      let i = at + 1;
      let done = false;
      while (i < buf.length && i < at + 5) {
        const b = buf[i++];
        len += (b & 0x7f) * mult;
        mult *= 128;
        if (!(b & 0x80)) {
          done = true;
          break;
        }
      }
      if (!done || buf.length < i + len) break;
      out.push([buf[at] >> 4, buf[at] & 0x0f, buf.subarray(i, i + len)]);
      at = i + len;
    }
    return [out, buf.slice(at)];
  }

  /**
   * Connect to `url` (ws:// or wss://) and keep connected until the returned stop() is called.
   * opts: username, password, clientId, keepalive (s, default 30), filters (topic filters),
   * onMessage(topic, text, retained), onState("open" | "reconnecting" | "denied", detail).
   */
  function connect(url, opts) {
    const keepalive = opts.keepalive || 30;
    let stopped = false;
    let ws = null;
    let ping = null;
    let delay = 1000;

    function run() {
      if (stopped) return;
      let buf = new Uint8Array(0);
      let heard = Date.now();
      try {
        ws = new WebSocket(url, ["mqtt"]);
      } catch (_e) {
        retry();
        return;
      }
      ws.binaryType = "arraybuffer";
      const send = (bytes) => ws.readyState === WebSocket.OPEN && ws.send(bytes);
      ws.onopen = () => send(connectPacket({ ...opts, keepalive }));
      ws.onmessage = (ev) => {
        heard = Date.now();
        const chunk = new Uint8Array(ev.data);
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        const [packets, rest] = split(joined);
        buf = rest;
        for (const [type, flags, body] of packets) {
          if (type === 2) {
            // CONNACK: body[1] is the return code (4 bad user name or password, 5 not authorised)
            if (body[1] !== 0) {
              stopped = body[1] === 4 || body[1] === 5;
              if (stopped) opts.onState("denied", { code: body[1] });
              ws.close();
              return;
            }
            delay = 1000;
            send(subscribePacket(1, opts.filters));
            ping = setInterval(() => {
              // Nothing back (not even PINGRESP) for 1.5 keep-alives: a dead link that never closed.
              if (Date.now() - heard > keepalive * 1500) ws.close();
              else send(new Uint8Array([0xc0, 0])); // PINGREQ
            }, (keepalive * 1000) / 2);
            opts.onState("open");
          } else if (type === 3) {
            const qos = (flags >> 1) & 3;
            const tlen = (body[0] << 8) | body[1];
            const topic = dec.decode(body.subarray(2, 2 + tlen));
            let at = 2 + tlen;
            if (qos > 0) {
              send(new Uint8Array([0x40, 2, body[at], body[at + 1]])); // PUBACK
              at += 2;
            }
            opts.onMessage(topic, dec.decode(body.subarray(at)), (flags & 1) === 1);
          }
          // SUBACK (9) and PINGRESP (13) need nothing.
        }
      };
      ws.onclose = () => {
        clearInterval(ping);
        if (stopped) return;
        opts.onState("reconnecting");
        retry();
      };
      ws.onerror = () => {}; // onclose follows
    }

    function retry() {
      setTimeout(run, delay);
      delay = Math.min(delay * 2, 15000);
    }

    run();
    return () => {
      stopped = true;
      clearInterval(ping);
      if (ws) ws.close();
    };
  }

  return { connect };
})();
