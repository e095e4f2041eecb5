// bench/signal-node.js — the peer bench/signal.sh measures natkit signal
// against: a Node `ws` relay of the same protocol shape (join → joined and
// peer-joined, offer/answer/candidate/bye relayed with "from", ping →
// pong), with a 20 s ws-level heartbeat as natkit has. It is what a team
// would write in an afternoon; it keeps no resume grace and no queues.
//
//   node bench/signal-node.js PORT      (needs `npm install ws`, see signal.sh)
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8090);
const rooms = new Map(); // room -> Map(peer -> ws)
let connections = 0;
let nextId = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', connections, rooms: rooms.size }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 64 << 10 });

function send(ws, m) {
  ws.send(JSON.stringify(m));
}

wss.on('connection', (ws) => {
  connections++;
  ws.isAlive = true;
  ws.on('pong', () => { ws.isAlive = true; });
  ws.on('message', (data, isBinary) => {
    ws.isAlive = true;
    if (isBinary) {
      send(ws, { type: 'error', code: 'bad_message', message: 'binary frame' });
      return;
    }
    let m;
    try {
      m = JSON.parse(data);
    } catch (e) {
      send(ws, { type: 'error', code: 'bad_message', message: String(e) });
      return;
    }
    switch (m.type) {
      case 'ping':
        send(ws, { type: 'pong' });
        return;
      case 'join': {
        if (ws.room) {
          send(ws, { type: 'error', code: 'bad_message', ref: 'join', message: 'already in a room' });
          return;
        }
        let r = rooms.get(m.room);
        if (!r) { r = new Map(); rooms.set(m.room, r); }
        if (r.size >= 2) {
          send(ws, { type: 'error', code: 'room_full', ref: 'join', message: 'room is full' });
          return;
        }
        const peer = m.peer || 'p' + (nextId++).toString(36);
        if (r.has(peer)) {
          send(ws, { type: 'error', code: 'peer_taken', ref: 'join', message: 'peer id in use' });
          return;
        }
        const others = [...r.keys()];
        r.set(peer, ws);
        ws.room = m.room;
        ws.peer = peer;
        send(ws, { type: 'joined', room: m.room, peer, peers: others });
        for (const o of others) send(r.get(o), { type: 'peer-joined', peer });
        return;
      }
      default: {
        const r = ws.room && rooms.get(ws.room);
        if (!r) {
          send(ws, { type: 'error', code: 'not_in_room', ref: m.type, message: 'join a room first' });
          return;
        }
        const to = m.to;
        delete m.to;
        m.from = ws.peer;
        const out = JSON.stringify(m);
        if (to) {
          const t = r.get(to);
          if (t) t.send(out);
          else send(ws, { type: 'error', code: 'unknown_peer', ref: m.type, message: 'no such peer' });
        } else {
          for (const [p, t] of r) if (p !== ws.peer) t.send(out);
        }
      }
    }
  });
  ws.on('close', () => {
    connections--;
    const r = ws.room && rooms.get(ws.room);
    if (!r) return;
    r.delete(ws.peer);
    if (r.size === 0) rooms.delete(ws.room);
    else for (const t of r.values()) send(t, { type: 'peer-left', peer: ws.peer });
  });
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.isAlive) { ws.terminate(); continue; }
    ws.isAlive = false;
    ws.ping();
  }
}, 20000);

process.on('SIGINT', () => { clearInterval(heartbeat); process.exit(0); });
process.on('SIGTERM', () => { clearInterval(heartbeat); process.exit(0); });
server.listen(port, '127.0.0.1');
