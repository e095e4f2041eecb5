// Candidate-gathering page: one gather per ICE server URL for its verdict
// (in the words of `natkit gather`), and one through all of them together
// for the candidate table, as a browser would use the configuration.
'use strict';

(() => {
  const { $, el, log, parseICEInput, fetchICEServers, parseCandidate } = natkit;
  const state = { state: 'idle', candidates: [], verdicts: [], error: '' };
  window.natkitGather = state;
  const rows = new WeakMap(); // candidate → its table row

  const params = new URLSearchParams(location.search);
  if (params.get('servers')) {
    document.querySelector('input[value=typed]').checked = true;
    $('#typed').value = params.get('servers');
  }
  if (params.get('username')) $('#username').value = params.get('username');
  if (params.get('credential')) $('#credential').value = params.get('credential');
  if (params.get('token')) $('#tokenURL').value = params.get('token');
  if (params.get('relay') === '1') $('#relayOnly').checked = true;
  if (params.get('timeout')) $('#timeout').value = params.get('timeout');

  $('#gather').addEventListener('click', () => run().catch((e) => fail(e)));
  if (params.get('auto') === '1') run().catch((e) => fail(e));

  function fail(e) {
    state.state = 'error';
    state.error = String(e.message || e);
    log('error: ' + state.error);
    $('#summary').textContent = state.error;
    $('#summary').className = 'bad';
    $('#gather').disabled = false;
  }

  async function servers() {
    if (document.querySelector('input[name=source]:checked').value === 'token') {
      const url = $('#tokenURL').value.trim();
      log('fetching ICE servers from ' + url);
      return fetchICEServers(url);
    }
    return parseICEInput($('#typed').value, $('#username').value, $('#credential').value);
  }

  async function run() {
    $('#gather').disabled = true;
    state.state = 'gathering';
    state.candidates = [];
    state.verdicts = [];
    $('#verdicts tbody').replaceChildren();
    $('#candidates tbody').replaceChildren();
    $('#summary').textContent = 'gathering…';
    $('#summary').className = 'muted';
    const list = await servers();
    const timeout = Math.max(1, +$('#timeout').value || 10) * 1000;
    const policy = $('#relayOnly').checked ? 'relay' : 'all';
    const single = [];
    for (const s of list) for (const u of natkit.toArray(s.urls)) single.push({ ...s, urls: [u] });
    log('gathering through ' + single.length + ' URL(s), policy ' + policy);

    const combined = gather(list, policy, timeout, (c) => addCandidate(c));
    const perServer = single.map((s) => gather([s], policy, timeout, null).then((g) => verdict(s, g, timeout)));
    const verdicts = await Promise.all(perServer);
    for (const v of verdicts) addVerdict(v);
    const all = await combined;
    const count = {};
    for (const c of all.candidates) count[c.type] = (count[c.type] || 0) + 1;
    $('#summary').textContent = Object.entries(count).map(([k, v]) => v + ' ' + k).join(', ') + ' in ' + (all.ms / 1000).toFixed(1) + ' s' + (all.complete ? '' : ' (timed out before gathering completed)');
    state.state = 'done';
    $('#gather').disabled = false;
    log('done');
  }

  // gather runs one RTCPeerConnection until gathering completes or timeout.
  function gather(iceServers, policy, timeout, onCandidate) {
    return new Promise((resolve) => {
      const start = performance.now();
      const out = { candidates: [], errors: [], complete: false, ms: 0 };
      let pc;
      try {
        pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: policy });
      } catch (e) {
        out.errors.push({ errorCode: 0, errorText: String(e.message || e) });
        resolve(out);
        return;
      }
      let done = false;
      const finish = (complete) => {
        if (done) return;
        done = true;
        out.complete = complete;
        out.ms = performance.now() - start;
        fillRelayProtocols(pc, out.candidates).finally(() => { pc.close(); resolve(out); });
      };
      pc.onicecandidate = (e) => {
        if (!e.candidate) { finish(true); return; }
        if (!e.candidate.candidate) return;
        const c = parseCandidate(e.candidate.candidate);
        c.at = performance.now() - start;
        c.url = e.candidate.url || e.url || '';
        c.relayProtocol = e.candidate.relayProtocol || '';
        out.candidates.push(c);
        if (onCandidate) onCandidate(c);
      };
      pc.onicecandidateerror = (e) => {
        out.errors.push({ url: e.url, errorCode: e.errorCode, errorText: e.errorText, address: e.address, port: e.port });
        log('icecandidateerror', { url: e.url, errorCode: e.errorCode, errorText: e.errorText });
      };
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') finish(true); };
      pc.createDataChannel('natkit-gather');
      pc.createOffer().then((o) => pc.setLocalDescription(o)).catch((e) => {
        out.errors.push({ errorCode: 0, errorText: String(e.message || e) });
        finish(false);
      });
      setTimeout(() => finish(false), timeout);
    });
  }

  // fillRelayProtocols gives each relay candidate the protocol between the
  // browser and the TURN server (udp, tcp or tls): RTCIceCandidate's
  // relayProtocol is empty in most browsers, the local-candidate stats have
  // it; the candidate's server URL is the fallback.
  async function fillRelayProtocols(pc, candidates) {
    const byAddr = {};
    try {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'local-candidate' && s.relayProtocol) byAddr[(s.address || s.ip) + ':' + s.port] = s.relayProtocol;
      });
    } catch (e) { log('getStats: ' + e.message); }
    for (const c of candidates) {
      if (c.type !== 'relay' || c.relayProtocol) continue;
      c.relayProtocol = byAddr[c.address + ':' + c.port] || relayProtocolOfURL(c.url);
      const row = rows.get(c);
      if (row) row.querySelector('.relay-protocol').textContent = c.relayProtocol;
    }
  }

  function relayProtocolOfURL(url) {
    if (!url) return '';
    if (/^turns:/.test(url)) return 'tls';
    return /transport=tcp/.test(url) ? 'tcp' : 'udp';
  }

  function hostOf(url) {
    const m = /^[a-z]+:([^?]+)/.exec(url);
    return m ? m[1] : url;
  }

  // verdict gives one server URL its verdict, in natkit gather's words.
  function verdict(server, g, timeout) {
    const url = server.urls[0];
    const isTURN = /^turns?:/.test(url);
    const transport = /^turns:/.test(url) ? 'TLS' : (/transport=tcp/.test(url) ? 'TCP' : 'UDP');
    const secs = (timeout / 1000).toFixed(0) + 's';
    const want = isTURN ? 'relay' : 'srflx';
    const got = g.candidates.find((c) => c.type === want);
    const err = g.errors.find((e) => e.errorCode >= 300 && e.errorCode < 700) || g.errors.find((e) => e.errorCode === 0);
    const v = { url, ok: false, cause: '', diagnosis: '', candidates: g.candidates.length };
    if (got) {
      v.ok = true;
      v.cause = isTURN ? 'turn-ok' : 'stun-ok';
      v.diagnosis = isTURN
        ? 'TURN OK: relay address ' + got.address + ':' + got.port + ' (' + (got.relayProtocol || transport.toLowerCase()) + ' to the server)'
        : 'STUN OK: public address ' + got.address + ':' + got.port;
      return v;
    }
    if (err && err.errorCode) {
      const head = err.errorCode + ' ' + (err.errorText || '').replace(/\.$/, '');
      const user = server.username || '';
      switch (err.errorCode) {
        case 401: {
          v.cause = '401-unauthorized';
          const m = /^(\d+):/.exec(user);
          if (m && +m[1] * 1000 < Date.now()) {
            v.cause = 'rest-username-expired';
            v.diagnosis = 'REST username already expired at ' + new Date(+m[1] * 1000).toISOString() + '; fetch fresh credentials from the token endpoint';
          } else if (m) {
            v.diagnosis = head + ': wrong username or password: the server rejected the REST credentials for "' + user + '"; the shared secret differs from the server\'s (static-auth-secret), or the server\'s clock disagrees';
          } else {
            v.diagnosis = head + ': wrong username or password: the server rejected user "' + user + '"; check the username and credential';
          }
          return v;
        }
        case 403:
          v.cause = '403-forbidden';
          v.diagnosis = head + ': the server refuses this client or user (blocked address, disabled user, or policy); ask the TURN operator';
          return v;
        case 486:
          v.cause = '486-allocation-quota-reached';
          v.diagnosis = head + ': this user has too many allocations; close some or raise the quota';
          return v;
        case 508:
          v.cause = '508-insufficient-capacity';
          v.diagnosis = head + ': the server has no capacity for another allocation; try later or another server';
          return v;
        default:
          v.cause = 'error-response';
          v.diagnosis = (isTURN ? 'TURN' : 'STUN') + ' error: ' + hostOf(url) + ' answered ' + head;
          return v;
      }
    }
    v.cause = 'no-answer';
    v.diagnosis = (isTURN ? 'TURN no answer: no relay candidate within ' : 'STUN no answer: no server-reflexive candidate within ') + secs + '; ' + transport + ' to ' + hostOf(url) + ' is blocked or nothing listens there';
    if (!isTURN && g.candidates.some((c) => c.type === 'host' && !/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|127\.|[0-9a-f]+-[0-9a-f-]+\.local)/.test(c.address))) {
      v.diagnosis += ' (or this host has a public address, so its server-reflexive address equals a host candidate)';
    }
    return v;
  }

  function addVerdict(v) {
    state.verdicts.push(v);
    $('#verdicts tbody').append(el('tr', { 'data-url': v.url, 'data-cause': v.cause },
      el('td', {}, el('code', {}, v.url)),
      el('td', { class: v.ok ? 'ok' : 'bad' }, v.ok ? 'OK' : 'FAIL (' + v.cause + ')'),
      el('td', {}, v.diagnosis)));
  }

  function addCandidate(c) {
    state.candidates.push(c);
    const row = el('tr', { 'data-type': c.type },
      el('td', {}, (c.at / 1000).toFixed(3)), el('td', {}, c.component), el('td', {}, c.type), el('td', {}, c.foundation),
      el('td', {}, c.protocol + (c.tcpType ? ' ' + c.tcpType : '')), el('td', {}, c.address), el('td', {}, c.port), el('td', {}, c.priority),
      el('td', {}, c.relatedAddress ? c.relatedAddress + ':' + c.relatedPort : ''), el('td', { class: 'relay-protocol' }, c.relayProtocol), el('td', {}, c.url));
    rows.set(c, row);
    $('#candidates tbody').append(row);
  }
})();
