#!/usr/bin/env node
'use strict';
// Test harness: serves the map page (clients/web/index.html, as /media/map.html) outside VS Code,
// bridged to a live daemon the way the extension bridges it: the page's JSON-RPC requests go over the
// session's connection (src/session.js → src/rpc.js), its notifications come back by polling.
//
//   node test/harness/server.js [--socket PATH] [--port N] [--folder DIR]... [--view NAME] [--no-scope]
//
// Prints `LISTENING <port>` when ready; open http://127.0.0.1:<port>/ in a browser.
// Routes: GET /media/map.html (the page + harness client), GET /media/*.js|css (clients/web), GET /model
// (the session's model as JSON), POST /action (a page→host message; answers the replies as a JSON array),
// GET /poll?seq=N ({seq, messages}: host→page messages queued after N). No dependencies.

const http = require('http');
const fs = require('fs');
const path = require('path');
const { PeriscopeSession } = require('../../src/session');
const { defaultSocketPath } = require('../../src/rpc');

const ROOT = path.resolve(__dirname, '..', '..');
const WEB = path.resolve(ROOT, '..', 'web');

function parseArgs(argv) {
  const args = { socket: defaultSocketPath(), port: 0, folders: [], view: 'processes', scope: true, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--socket') args.socket = argv[++i];
    else if (a === '--port') args.port = Number(argv[++i]);
    else if (a === '--folder') args.folders.push(path.resolve(argv[++i]));
    else if (a === '--view') args.view = argv[++i];
    else if (a === '--no-scope') args.scope = false;
    else if (a === '--host') args.host = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.folders.length) args.folders.push(process.cwd());
  return args;
}

const CLIENT = `
(function () {
  'use strict';
  var seq = -1;
  function deliver(messages) { (messages || []).forEach(function (m) { window.postMessage(m, '*'); }); }
  window.periscopeHarness = {
    postMessage: function (message) {
      fetch('/action', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(message) })
        .then(function (r) { return r.json(); }).then(deliver).catch(function () {});
    }
  };
  function poll() {
    fetch('/poll?seq=' + seq).then(function (r) { return r.json(); })
      .then(function (j) { seq = j.seq; deliver(j.messages); })
      .catch(function () {})
      .then(function () { setTimeout(poll, 200); });
  }
  setTimeout(poll, 0);
}());
`;

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

function createHarness(options) {
  const session = new PeriscopeSession({
    socketPath: options.socket, view: options.view, scope: options.scope, folders: options.folders,
    clientInfo: { name: 'periscope-vscode-harness', version: '0.1.0' },
  });
  // Host→page messages (notifications, connection changes) wait here for the page's next poll.
  let seq = 0;
  let queue = [];
  const enqueue = (message) => {
    queue.push({ seq: ++seq, message });
    if (queue.length > 5000) queue = queue.slice(-5000);
  };
  session.rpc.on('notification', (method, params) => {
    if (params && params.subscription && params.subscription === session.state.subscription) return;
    enqueue({ type: 'rpcNotification', method, params });
  });
  const connection = () => ({ type: 'connection', connected: session.rpc.connected, status: session.status });
  session.rpc.on('connected', () => enqueue(connection()));
  session.rpc.on('disconnected', () => enqueue(connection()));

  async function handle(message) {
    switch (message && message.type) {
      case 'ready':
        return [{ type: 'config', view: session.view, scope: { enabled: session.scopeEnabled, folders: session.folders.slice() } }, connection()];
      case 'rpc': {
        const reply = { type: 'rpcResult', id: message.id };
        try {
          reply.result = await session.rpc.request(String(message.method), message.params);
        } catch (err) {
          reply.error = { code: err.code !== undefined ? err.code : -32099, message: err.message };
        }
        return [reply];
      }
      case 'pickView': await session.setView(message.view); return [];
      case 'toggleScope': session.toggleScope(); return [];
      default: return [];
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://harness');
    const json = (status, value) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'POST' && url.pathname === '/action') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        let message;
        try { message = JSON.parse(body); } catch (e) { return json(400, { error: 'invalid JSON' }); }
        handle(message).then((replies) => json(200, replies), (err) => json(500, { error: err.message }));
      });
      return;
    }
    if (url.pathname === '/poll') {
      const since = Number(url.searchParams.get('seq'));
      return json(200, { seq, messages: queue.filter((q) => q.seq > since).map((q) => q.message) });
    }
    if (url.pathname === '/model') return json(200, session.model());
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(302, { Location: '/media/map.html' });
      return res.end();
    }
    if (url.pathname === '/harness/client.js') {
      res.writeHead(200, { 'Content-Type': TYPES['.js'] });
      return res.end(CLIENT);
    }
    // Static files: the shared page's (clients/web) under /media/, plain names only.
    const m = /^\/media\/([a-z]+\.(?:html|js|css|svg|png))$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404);
      return res.end('not found');
    }
    const name = m[1] === 'map.html' ? 'index.html' : m[1];
    const file = fs.existsSync(path.join(WEB, name)) ? path.join(WEB, name) : path.join(ROOT, 'media', name);
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404); return res.end('not found'); }
      if (name === 'index.html') {
        data = Buffer.from(String(data).replace('<script src="state.js">', '<script src="/harness/client.js"></script>\n<script src="state.js">'));
      }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(data);
    });
  });
  return { session, server };
}

// `node --test test/` also runs every .js file under test/, this one included: serve only when run
// directly, not as a test file.
if (require.main === module && !process.env.NODE_TEST_CONTEXT) {
  const args = parseArgs(process.argv.slice(2));
  const { session, server } = createHarness(args);
  session.start();
  server.listen(args.port, args.host, () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
  const stop = () => { server.close(); session.close().finally(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { createHarness, parseArgs };
