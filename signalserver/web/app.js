// natkit signal pages: shared helpers. No dependencies, no build step.
'use strict';

const natkit = (() => {
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
    return e;
  }

  function log(...args) {
    const box = $('#log');
    const line = new Date().toISOString().slice(11, 23) + '  ' + args.map((a) => typeof a === 'string' ? a : JSON.stringify(a)).join(' ');
    if (box) { box.textContent += line + '\n'; box.scrollTop = box.scrollHeight; }
    console.log(line);
  }

  // stateClass colours an ICE or connection state: only connected and
  // completed are good; "disconnected" (which contains "connected") and
  // checking are a warning, failed is bad.
  function stateClass(state) {
    switch (state) {
      case 'connected': case 'completed': return 'ok';
      case 'disconnected': return 'warn';
      case 'failed': return 'bad';
      case 'closed': return 'muted';
    }
    return '';
  }

  // toArray accepts a string or an array (the two shapes of "urls").
  const toArray = (v) => (Array.isArray(v) ? v : (v == null ? [] : [v]));

  // parseICEInput turns what a user typed into RTCIceServer[]: the forms
  // natkit's iceconfig accepts — an RTCConfiguration, an array of
  // RTCIceServer, a provider response with ice_servers, a TURN REST
  // response {username, password, uris}, or URLs one per line with the
  // username and credential fields.
  function parseICEInput(text, username, credential) {
    text = (text || '').trim();
    if (!text) throw new Error('no ICE servers given');
    if (text[0] === '{' || text[0] === '[') {
      let v;
      try { v = JSON.parse(text); } catch (e) { throw new Error('ICE servers JSON: ' + e.message); }
      if (Array.isArray(v)) return v.map(normServer);
      if (v.iceServers) return toArray(v.iceServers).map(normServer);
      if (v.ice_servers) return toArray(v.ice_servers).map(normServer);
      if (v.uris) return [{ urls: toArray(v.uris), username: v.username, credential: v.password }];
      if (v.urls || v.url) return [normServer(v)];
      throw new Error('ICE servers JSON: want iceServers, ice_servers, uris or urls');
    }
    const urls = text.split(/[\s,]+/).filter(Boolean);
    for (const u of urls) {
      if (!/^(stuns?|turns?):/.test(u)) throw new Error('ICE server URL "' + u + '": want stun:, turn: or turns:');
    }
    return urls.map((u) => (u.startsWith('turn') ? { urls: [u], username, credential } : { urls: [u] }));
  }

  function normServer(s, i) {
    const urls = toArray(s.urls || s.url);
    if (!urls.length) throw new Error('ICE server ' + (i + 1) + ': missing "urls"');
    const out = { urls };
    if (s.username != null) out.username = s.username;
    if (s.credential != null) out.credential = s.credential;
    return out;
  }

  async function fetchICEServers(url) {
    const resp = await fetch(url, { cache: 'no-store' });
    const body = await resp.text();
    if (!resp.ok) {
      let msg = body;
      try { msg = JSON.parse(body).error || body; } catch (_) { /* plain text */ }
      throw new Error('token endpoint ' + url + ': HTTP ' + resp.status + ': ' + msg);
    }
    return parseICEInput(body);
  }

  // parseCandidate splits an a=candidate line (RFC 8839).
  function parseCandidate(line) {
    const f = line.replace(/^a=/, '').replace(/^candidate:/, '').split(' ');
    const c = { foundation: f[0], component: +f[1], protocol: (f[2] || '').toLowerCase(), priority: +f[3], address: f[4], port: +f[5], type: f[7] };
    for (let i = 8; i + 1 < f.length; i += 2) {
      if (f[i] === 'raddr') c.relatedAddress = f[i + 1];
      if (f[i] === 'rport') c.relatedPort = +f[i + 1];
      if (f[i] === 'tcptype') c.tcpType = f[i + 1];
    }
    return c;
  }

  // wsURL is the signaling URL of this page's server.
  function wsURL() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  return { $, el, log, parseICEInput, fetchICEServers, parseCandidate, wsURL, toArray, stateClass };
})();
