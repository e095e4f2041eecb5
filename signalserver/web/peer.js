// Automated call peer: natkit's chromium driver (probe/browser) steers one
// RTCPeerConnection through window.natkitPeer. It speaks signaling v1 to
// this server, natkit's binary probe format on the data channel (so it
// calls pion peers as well as other browsers), and keeps its own
// timestamps (epoch ms, performance.timeOrigin + performance.now()).
'use strict';

(() => {
  const { log, wsURL, parseCandidate } = natkit;
  const now = () => performance.timeOrigin + performance.now();
  const PING = 0x50, ECHO = 0x45, HEADER = 13; // 'P', 'E', type + seq + time

  const S = {
    loaded: now(), role: '', me: '', peer: '', signaling: 'idle', ice: 'new', connection: 'new',
    dcOpen: false, hungUp: false, remoteBye: false, errors: [], events: [], times: {},
    local: [], remote: [], relayErrors: [], iceServers: [],
  };
  let ws, pc, dc, cfg, pending = [], seq = 0;
  const inflight = new Map();
  let probes = { sent: 0, received: 0, rtts: [] };
  let joined, peerFound, pcMade;
  const joinedP = new Promise((r) => { joined = r; });
  const peerP = new Promise((r) => { peerFound = r; });
  // An offer can arrive while the ICE servers are still being fetched.
  const pcP = new Promise((r) => { pcMade = r; });

  function ev(kind, detail, extra) {
    S.events.push(Object.assign({ at: now(), kind, detail: detail || '' }, extra || {}));
    log(kind + ' ' + (detail || ''));
  }
  function mark(name) { if (S.times[name] == null) S.times[name] = now(); }
  function error(text) { S.errors.push(text); ev('error', text); }

  function send(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(msg));
    if (msg.type !== 'ping' && msg.type !== 'join') ev('signal-send', msg.type, { signal: msg.type });
  }

  // start joins the room and begins the call: the offerer offers once the
  // other peer is there. It resolves once joined; the rest runs on.
  async function start(c) {
    cfg = c;
    S.role = c.role;
    S.callStart = now();
    ev('start', 'role ' + c.role + ', policy ' + (c.policy || 'all'));
    ws = new WebSocket(wsURL());
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => send({ type: 'join', room: c.room });
    ws.onerror = () => error('signaling WebSocket error');
    ws.onclose = () => { S.signaling = 'closed'; };
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { error('server sent a non-JSON frame'); return; }
      onSignal(m).catch((err) => error(String(err.message || err)));
    };
    await joinedP;
    if (c.iceServers) {
      S.iceServers = c.iceServers;
    } else {
      try {
        S.iceServers = await natkit.fetchICEServers('/v1/ice-servers?user=' + encodeURIComponent(S.me));
      } catch (e) {
        error('no ICE servers from the token endpoint: ' + e.message);
      }
    }
    makePC();
    pcMade();
    if (c.role === 'offer') {
      peerP.then(() => offer(false)).catch((err) => error('offer: ' + (err.message || err)));
    }
    return S.me;
  }

  async function onSignal(m) {
    switch (m.type) {
      case 'joined':
        S.signaling = 'joined';
        S.me = m.peer;
        ev('joined', 'room ' + m.room + ' as ' + m.peer + ', ' + (m.peers || []).length + ' other peer(s)');
        if (m.peers && m.peers.length) { S.peer = m.peers[0]; peerFound(); }
        joined();
        break;
      case 'peer-joined':
        ev('peer-joined', m.peer);
        if (!S.peer) { S.peer = m.peer; peerFound(); }
        break;
      case 'peer-left':
        ev('peer-left', m.peer);
        break;
      case 'offer':
        ev('signal-recv', 'offer', { signal: 'offer' });
        await pcP;
        S.peer = m.from;
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        await flush();
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: 'answer', to: S.peer, sdp: pc.localDescription.sdp });
        break;
      case 'answer':
        ev('signal-recv', 'answer', { signal: 'answer' });
        await pcP;
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        await flush();
        break;
      case 'candidate':
        if (!m.candidate || !m.candidate.candidate) break;
        S.remote.push(parseCandidate(m.candidate.candidate));
        if (pc && pc.remoteDescription) await pc.addIceCandidate(m.candidate);
        else pending.push(m.candidate);
        break;
      case 'bye':
        ev('signal-recv', 'bye', { signal: 'bye' });
        S.remoteBye = true;
        break;
      case 'error':
        error('signaling ' + m.code + ': ' + m.message);
        break;
    }
  }

  async function flush() {
    const list = pending;
    pending = [];
    for (const c of list) await pc.addIceCandidate(c);
  }

  function makePC() {
    const policy = cfg.policy === 'relay' ? 'relay' : 'all';
    pc = new RTCPeerConnection({ iceServers: S.iceServers, iceTransportPolicy: policy });
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      const c = parseCandidate(e.candidate.candidate);
      c.relayProtocol = e.candidate.relayProtocol || '';
      c.url = e.candidate.url || '';
      S.local.push(c);
      mark('firstCandidate');
      if (c.type === 'srflx') mark('firstSrflx');
      if (c.type === 'relay') mark('firstRelay');
      ev('candidate', c.type + ' ' + c.protocol + ' ' + c.address + ':' + c.port, { candidateType: c.type });
      send({ type: 'candidate', to: S.peer, candidate: e.candidate.toJSON() });
    };
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'gathering') ev('gathering-start', '');
      if (pc.iceGatheringState === 'complete') ev('gathering-complete', S.local.length + ' candidate(s)');
    };
    pc.onicecandidateerror = (e) => {
      S.relayErrors.push({ url: e.url || '', code: e.errorCode, text: e.errorText || '' });
      ev('turn-error', e.errorCode + ' ' + (e.errorText || '') + ' ' + (e.url || ''));
    };
    pc.oniceconnectionstatechange = () => {
      S.ice = pc.iceConnectionState;
      if (S.ice === 'connected' || S.ice === 'completed') mark('iceConnected');
      ev('ice-state', '', { state: S.ice });
    };
    pc.onconnectionstatechange = () => {
      S.connection = pc.connectionState;
      if (S.connection === 'connected') mark('connected');
      ev('pc-state', '', { state: S.connection });
    };
    pc.ondatachannel = (e) => attach(e.channel);
  }

  async function offer(restart) {
    if (!restart) {
      attach(pc.createDataChannel('natkit', { ordered: false, maxRetransmits: 0 }));
    }
    await pc.setLocalDescription(await pc.createOffer(restart ? { iceRestart: true } : {}));
    send({ type: 'offer', to: S.peer, sdp: pc.localDescription.sdp });
  }

  function attach(ch) {
    dc = ch;
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => { S.dcOpen = true; mark('dcOpen'); ev('datachannel-open', 'channel ' + dc.label); };
    dc.onclose = () => { S.dcOpen = false; };
    dc.onmessage = (e) => {
      if (S.times.firstMessage == null) {
        mark('firstMessage');
        ev('first-message', (e.data.byteLength != null ? e.data.byteLength : e.data.length) + ' bytes');
      }
      if (!(e.data instanceof ArrayBuffer) || e.data.byteLength < HEADER) return;
      const b = new Uint8Array(e.data);
      if (b[0] === PING) {
        const echo = b.slice();
        echo[0] = ECHO;
        try { dc.send(echo); } catch (_) { /* closing */ }
      } else if (b[0] === ECHO) {
        const s = new DataView(e.data).getUint32(1);
        const at = inflight.get(s);
        if (at != null) {
          inflight.delete(s);
          probes.received++;
          probes.rtts.push(now() - at);
        }
      }
    };
  }

  // probe sends count pings of size bytes, interval ms apart, and waits up
  // to grace ms for the last echoes.
  async function probe(count, size, interval, grace) {
    if (!dc || dc.readyState !== 'open') throw new Error('the data channel is not open');
    const first = probes.sent;
    const mine = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, interval));
      const buf = new Uint8Array(Math.max(size, HEADER));
      const v = new DataView(buf.buffer);
      seq++;
      buf[0] = PING;
      v.setUint32(1, seq);
      v.setBigUint64(5, BigInt(Math.round(performance.now() * 1e6)));
      inflight.set(seq, now());
      mine.push(seq);
      try { dc.send(buf); probes.sent++; } catch (e) { error('send probe: ' + e.message); }
    }
    const end = now() + grace;
    while (mine.some((s) => inflight.has(s)) && now() < end) await new Promise((r) => setTimeout(r, 10));
    for (const s of mine) inflight.delete(s);
    return { sent: probes.sent - first };
  }

  async function restart() {
    ev('ice-restart', 'restarting ICE');
    await offer(true);
  }

  function hangup() {
    send({ type: 'bye', to: S.peer });
    S.hungUp = true;
    ev('hangup', '');
    if (dc) { try { dc.close(); } catch (_) { /* closed */ } }
    if (pc) pc.close();
    if (ws) ws.close(1000, 'hang up');
  }

  // stats reads the selected pair and its RTT from getStats().
  async function stats() {
    if (!pc || pc.signalingState === 'closed') return S.pair || null;
    const report = await pc.getStats();
    let pairId;
    report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
    let pair = pairId && report.get(pairId);
    if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    if (!pair) return S.pair || null;
    const cand = (c) => ({
      type: c.candidateType, protocol: c.protocol, address: (c.address || c.ip) + ':' + c.port,
      relayProtocol: c.relayProtocol || '', url: c.url || '',
    });
    S.pair = {
      local: cand(report.get(pair.localCandidateId) || {}), remote: cand(report.get(pair.remoteCandidateId) || {}),
      rtt: pair.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
    };
    return S.pair;
  }

  function state() {
    return { ice: S.ice, connection: S.connection, dcOpen: S.dcOpen, remoteBye: S.remoteBye, signaling: S.signaling, errors: S.errors.length };
  }

  async function snapshot() {
    const pair = await stats().catch(() => S.pair || null);
    return {
      loaded: S.loaded, callStart: S.callStart, role: S.role, me: S.me, peer: S.peer, ice: S.ice, connection: S.connection,
      dcOpen: S.dcOpen, remoteBye: S.remoteBye, times: S.times, events: S.events, errors: S.errors,
      local: S.local, remote: S.remote, relayErrors: S.relayErrors, pair,
      probes: { sent: probes.sent, received: probes.received, rtts: probes.rtts },
    };
  }

  window.natkitPeer = { ready: true, start, probe, restart, hangup, state, snapshot };
})();
