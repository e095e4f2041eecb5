// Two-peer call page: joins a room on this server, the newcomer offers,
// candidates trickle through the server, and the page shows the selected
// candidate pair and RTT from getStats.
'use strict';

(() => {
  const { $, log, wsURL } = natkit;
  const state = { signaling: 'idle', ice: '', connection: '', me: '', peer: '', pair: null, rtt: null, dcOpen: false, dcSent: 0, dcReceived: 0, dcRTT: null, errors: [], relayErrors: [], remoteCandidates: [], cause: '' };
  window.natkitCall = state;

  const params = new URLSearchParams(location.search);
  $('#room').value = params.get('room') || Math.random().toString(36).slice(2, 8);
  if (params.get('token')) $('#token').value = params.get('token');
  if (params.get('relay') === '1') $('#relayOnly').checked = true;
  if (params.get('media') === '0') $('#media').checked = false;
  const shareLink = () => {
    const u = new URL(location.href);
    u.searchParams.set('room', $('#room').value);
    u.searchParams.set('relay', $('#relayOnly').checked ? '1' : '0');
    $('#share').href = u.toString();
  };
  shareLink();
  $('#room').addEventListener('input', shareLink);
  $('#relayOnly').addEventListener('change', shareLink);

  let ws, pc, dc, iceServers = [], pendingCandidates = [], statsTimer, pingTimer, localStream;

  $('#join').addEventListener('click', join);
  $('#hangup').addEventListener('click', hangup);
  if (params.get('auto') === '1') join();

  function show(id, text, cls) {
    const e = $('#' + id);
    e.textContent = text;
    e.className = cls || '';
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function error(text) {
    state.errors.push(text);
    log('error: ' + text);
  }

  function join() {
    $('#join').disabled = true;
    $('#hangup').disabled = false;
    state.signaling = 'connecting';
    show('sigState', 'connecting to ' + wsURL());
    ws = new WebSocket(wsURL());
    ws.onopen = () => {
      const msg = { type: 'join', room: $('#room').value.trim() };
      if ($('#token').value.trim()) msg.token = $('#token').value.trim();
      send(msg);
      pingTimer = setInterval(() => send({ type: 'ping' }), 20000);
    };
    ws.onclose = (e) => {
      state.signaling = 'closed';
      show('sigState', 'closed' + (e.reason ? ': ' + e.reason : '') + ' (' + e.code + ')', e.code === 1000 ? '' : 'warn');
      clearInterval(pingTimer);
    };
    ws.onerror = () => error('signaling WebSocket error');
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { error('server sent a non-JSON frame'); return; }
      onSignal(m).catch((err) => error(String(err.message || err)));
    };
  }

  async function onSignal(m) {
    if (m.type !== 'pong') log('← ' + m.type + (m.from ? ' from ' + m.from : '') + (m.peer ? ' ' + m.peer : '') + (m.code ? ' ' + m.code + ': ' + m.message : ''));
    switch (m.type) {
      case 'joined':
        state.signaling = 'joined';
        state.me = m.peer;
        iceServers = m.iceServers || [];
        if (!iceServers.length) {
          try { iceServers = await natkit.fetchICEServers('/v1/ice-servers?user=' + encodeURIComponent(m.peer)); } catch (e) { log('no ICE servers from the token endpoint: ' + e.message + '; host candidates only'); }
        }
        show('iceServers', iceServers.map((s) => natkit.toArray(s.urls).join(' ')).join(', ') || 'none');
        show('sigState', 'joined room "' + m.room + '" as ' + m.peer, 'ok');
        updatePeers();
        if (m.peers && m.peers.length) {
          state.peer = m.peers[0];
          updatePeers();
          await call();
        }
        break;
      case 'peer-joined':
        if (!state.peer) { state.peer = m.peer; updatePeers(); }
        break;
      case 'peer-left':
        if (m.peer === state.peer) { log('peer left'); closePC(); state.peer = ''; updatePeers(); }
        break;
      case 'offer':
        state.peer = m.from;
        updatePeers();
        await makePC();
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        await flushCandidates();
        await addMedia();
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: 'answer', to: m.from, sdp: pc.localDescription.sdp });
        break;
      case 'answer':
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        await flushCandidates();
        break;
      case 'candidate':
        if (m.candidate && m.candidate.candidate) state.remoteCandidates.push(natkit.parseCandidate(m.candidate.candidate));
        if (pc && pc.remoteDescription) await pc.addIceCandidate(m.candidate);
        else pendingCandidates.push(m.candidate);
        break;
      case 'bye':
        closePC();
        break;
      case 'error':
        error(m.code + ': ' + m.message);
        break;
    }
  }

  function updatePeers() { show('peers', (state.me || '–') + ' / ' + (state.peer || 'waiting for a peer')); }

  async function flushCandidates() {
    const list = pendingCandidates;
    pendingCandidates = [];
    for (const c of list) await pc.addIceCandidate(c);
  }

  async function makePC() {
    closePC();
    const policy = $('#relayOnly').checked ? 'relay' : 'all';
    log('RTCPeerConnection with ' + iceServers.length + ' ICE server(s), policy ' + policy);
    pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: policy });
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) send({ type: 'candidate', to: state.peer, candidate: e.candidate.toJSON() });
    };
    pc.onicecandidateerror = (e) => {
      state.relayErrors.push({ url: e.url || '', code: e.errorCode, text: e.errorText || '' });
      log('icecandidateerror ' + e.errorCode + ' ' + e.errorText + ' ' + (e.url || ''));
    };
    pc.oniceconnectionstatechange = () => {
      state.ice = pc.iceConnectionState;
      show('iceState', pc.iceConnectionState, natkit.stateClass(pc.iceConnectionState));
      if (pc.iceConnectionState === 'failed') explainFailure().catch((e) => log('no cause: ' + e.message));
    };
    pc.onconnectionstatechange = () => {
      state.connection = pc.connectionState;
      show('pcState', pc.connectionState, natkit.stateClass(pc.connectionState));
      // Chrome may leave ICE "disconnected" while the connection fails.
      if (pc.connectionState === 'failed') explainFailure().catch((e) => log('no cause: ' + e.message));
    };
    pc.ontrack = (e) => { $('#remoteVideo').srcObject = e.streams[0] || new MediaStream([e.track]); };
    pc.ondatachannel = (e) => setupDC(e.channel);
    statsTimer = setInterval(stats, 1000);
  }

  async function addMedia() {
    if (!$('#media').checked) return;
    try {
      if (!localStream) localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      $('#localVideo').srcObject = localStream;
      for (const t of localStream.getTracks()) pc.addTrack(t, localStream);
    } catch (e) {
      log('getUserMedia failed (' + e.name + '): data channel only');
    }
  }

  async function call() {
    await makePC();
    setupDC(pc.createDataChannel('natkit'));
    await addMedia();
    await pc.setLocalDescription(await pc.createOffer());
    send({ type: 'offer', to: state.peer, sdp: pc.localDescription.sdp });
  }

  function setupDC(ch) {
    dc = ch;
    dc.onopen = () => {
      state.dcOpen = true;
      show('dc', 'open');
      const tick = () => {
        if (!dc || dc.readyState !== 'open') return;
        dc.send(JSON.stringify({ ping: performance.now() }));
        state.dcSent++;
        setTimeout(tick, 500);
      };
      tick();
    };
    dc.onclose = () => { state.dcOpen = false; show('dc', 'closed'); };
    dc.onmessage = (e) => {
      state.dcReceived++;
      const m = JSON.parse(e.data);
      if (m.ping != null) dc.send(JSON.stringify({ pong: m.ping }));
      if (m.pong != null) state.dcRTT = performance.now() - m.pong;
      show('dc', 'open: ' + state.dcSent + ' sent, ' + state.dcReceived + ' received' + (state.dcRTT != null ? ', round trip ' + state.dcRTT.toFixed(1) + ' ms' : ''), 'ok');
    };
  }

  async function stats() {
    if (!pc) return;
    const report = await pc.getStats();
    let pairId;
    report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
    let pair = pairId && report.get(pairId);
    if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    if (!pair) return;
    const l = report.get(pair.localCandidateId) || {};
    const r = report.get(pair.remoteCandidateId) || {};
    state.pair = {
      localType: l.candidateType, remoteType: r.candidateType, protocol: l.protocol,
      localAddress: (l.address || l.ip) + ':' + l.port, remoteAddress: (r.address || r.ip) + ':' + r.port,
      relayProtocol: l.relayProtocol || '', relayed: l.candidateType === 'relay' || r.candidateType === 'relay',
    };
    state.rtt = pair.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null;
    show('localCand', l.candidateType + ' ' + l.protocol + ' ' + state.pair.localAddress + (l.relayProtocol ? ' (relay over ' + l.relayProtocol + ')' : ''));
    show('remoteCand', r.candidateType + ' ' + r.protocol + ' ' + state.pair.remoteAddress);
    show('path', state.pair.relayed ? 'relayed through TURN' : 'direct (not relayed)', state.pair.relayed ? 'warn' : 'ok');
    show('rtt', state.rtt != null ? state.rtt.toFixed(1) + ' ms' : '–');
  }

  // explainFailure says why the call failed, as natkit call does: a relay's
  // error response (icecandidateerror), or, when no pair succeeded on a
  // relay-only call and the peer's relay address is loopback or private,
  // the relay's default peer policy: Chromium answers a 403 to
  // CreatePermission by pruning the pair, with no icecandidateerror.
  async function explainFailure() {
    if (state.cause) return;
    const refused = state.relayErrors.find((e) => e.code === 403);
    const loopbackHint = ': its peer policy denies it; for a relay on loopback use natkit relay --allow-peer 127.0.0.0/8';
    if (refused) {
      setCause('the relay refused the peer address (403 Forbidden' + (refused.text ? ': ' + refused.text : '') + ')' + loopbackHint);
      return;
    }
    let succeeded = false;
    const remote = state.remoteCandidates.slice();
    if (pc) {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.state === 'succeeded') succeeded = true;
        if (s.type === 'remote-candidate') remote.push({ type: s.candidateType, address: s.address || s.ip, port: s.port });
      });
    }
    const localRelay = $('#relayOnly').checked;
    const internal = remote.find((c) => c.type === 'relay' && /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/.test(c.address || ''));
    if (!succeeded && internal && localRelay) {
      setCause('relayed checks failed: the peer\'s relay address ' + internal.address + ':' + internal.port +
        ' is loopback or private, and a relay refuses such peers by default (403 Forbidden to CreatePermission)' + loopbackHint);
      return;
    }
    const other = state.relayErrors.find((e) => e.code >= 300 && e.code < 700);
    setCause(other
      ? 'ICE failed; the ICE server ' + other.url + ' answered ' + other.code + ' ' + other.text
      : 'ICE checks failed on every candidate pair' + (localRelay ? ', relayed ones included: check that the relay can reach the other peer\'s relay address' : ''));
  }

  function setCause(text) {
    state.cause = text;
    show('cause', text, 'bad');
    log('cause: ' + text);
  }

  function closePC() {
    clearInterval(statsTimer);
    if (dc) { try { dc.close(); } catch (_) { /* closed */ } dc = null; }
    if (pc) { pc.close(); pc = null; }
    pendingCandidates = [];
  }

  function hangup() {
    send({ type: 'bye' });
    closePC();
    if (ws) ws.close(1000, 'hang up');
    if (localStream) { for (const t of localStream.getTracks()) t.stop(); localStream = null; }
    $('#join').disabled = false;
    $('#hangup').disabled = true;
  }
})();
