'use strict';
// src/rpc.js: the framing parser under every chunking, and the client against a live daemon.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { FrameParser, FramingError, encodeFrame, RpcClient, RpcError, defaultSocketPath } = require('../src/rpc');
const { daemonMissing, startDaemon, waitFor } = require('./helpers');

const MESSAGES = [
  { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} },
  { jsonrpc: '2.0', method: 'topology/changed', params: { label: 'ünïcødé → 🛰', n: [1, 2, 3] } },
  { jsonrpc: '2.0', id: 'x', result: null },
  { jsonrpc: '2.0', id: 2, result: { text: 'a'.repeat(5000) } },
];

function feed(parser, bytes, sizes) {
  const out = [];
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const n = sizes[k++ % sizes.length];
    out.push(...parser.push(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

test('framing: byte-by-byte chunks give every message, including split UTF-8 sequences', () => {
  const bytes = Buffer.concat(MESSAGES.map(encodeFrame));
  assert.deepEqual(feed(new FrameParser(), bytes, [1]), MESSAGES);
});

test('framing: all messages in one chunk, and random chunk sizes', () => {
  const bytes = Buffer.concat(MESSAGES.map(encodeFrame));
  assert.deepEqual(new FrameParser().push(bytes), MESSAGES);
  let seed = 7;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
  for (let round = 0; round < 200; round++) {
    const sizes = Array.from({ length: 16 }, () => 1 + (rand() % 40));
    assert.deepEqual(feed(new FrameParser(), bytes, sizes), MESSAGES, `sizes ${sizes}`);
  }
});

test('framing: header variants (case, extra headers, bare LF, blank lines between messages)', () => {
  const body = '{"jsonrpc":"2.0","id":3,"result":"é"}';
  const len = Buffer.byteLength(body);
  const raw = Buffer.from(
    `\r\ncontent-length: ${len}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${body}` +
    `\r\n\r\nCONTENT-LENGTH:${len}\n\n${body}` +
    `Content-Length: ${len}\r\nContent-Length: ${len}\r\n\r\n${body}`);
  const want = [JSON.parse(body), JSON.parse(body), JSON.parse(body)];
  assert.deepEqual(new FrameParser().push(raw), want);
  assert.deepEqual(feed(new FrameParser(), raw, [1]), want);
});

test('framing: errors', () => {
  assert.throws(() => new FrameParser().push(Buffer.from('Content-Type: x\r\n\r\n{}')), FramingError);
  assert.throws(() => new FrameParser().push(Buffer.from('Content-Length: -1\r\n\r\n{}')), FramingError);
  assert.throws(() => new FrameParser().push(Buffer.from('Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}')), FramingError);
  assert.throws(() => new FrameParser().push(Buffer.from('no colon here\r\n\r\n')), FramingError);
  assert.throws(() => new FrameParser().push(Buffer.alloc(9000, 0x41)), FramingError);
  assert.throws(() => new FrameParser({ maxMessageBytes: 10 }).push(Buffer.from('Content-Length: 11\r\n\r\n')), FramingError);
});

test('default socket path follows SPEC section 1', () => {
  assert.equal(defaultSocketPath({ PERISCOPE_SOCKET: '/x.sock', XDG_RUNTIME_DIR: '/run/user/1' }, 0), '/x.sock');
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1' }, 0), '/run/periscope/periscope.sock');
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1' }, 1000), '/run/user/1/periscope.sock');
  assert.match(defaultSocketPath({}, 1000), /periscope-1000\/periscope\.sock$/);
});

test('live daemon: framing of real replies fed byte by byte; client requests, errors, reconnect', { skip: daemonMissing() }, async (t) => {
  let daemon = await startDaemon({ collectors: false });
  t.after(() => daemon.stop());

  // Raw socket: the daemon's real bytes, fed to the parser one at a time.
  const raw = net.createConnection(daemon.socket);
  const parser = new FrameParser();
  const got = [];
  raw.on('data', (chunk) => { for (const b of chunk) got.push(...parser.push(Buffer.from([b]))); });
  raw.write(Buffer.concat([
    encodeFrame({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { clientInfo: { name: 'bytewise' } } }),
    encodeFrame({ jsonrpc: '2.0', id: 2, method: 'daemon/status' }),
    encodeFrame({ jsonrpc: '2.0', id: 3, method: 'daemon/ping' }),
  ]));
  await waitFor('3 replies', () => got.length >= 3);
  raw.destroy();
  const byId = new Map(got.map((m) => [m.id, m]));
  assert.equal(byId.get(1).result.protocolVersion.split('.')[0], '1');
  assert.equal(typeof byId.get(2).result.pid, 'number');
  assert.deepEqual(byId.get(3).result, { pong: true });

  // The client: initialize, requests with promises, error codes, notifications, reconnect.
  const client = new RpcClient({ socketPath: daemon.socket, minDelayMs: 100, maxDelayMs: 300 });
  t.after(() => client.close());
  const init = await client.start();
  assert.equal(init.serverInfo.name, 'periscoped');
  assert.ok(init.capabilities.methods.includes('daemon/status'));
  const [status, ping] = await Promise.all([client.request('daemon/status'), client.request('daemon/ping', { delayMs: 20 })]);
  assert.equal(status.clients.byTransport.unix >= 1, true);
  assert.deepEqual(ping, { pong: true });
  await assert.rejects(client.request('no/such/method'), (e) => e instanceof RpcError && e.code === -32601);
  await assert.rejects(client.request('daemon/ping', { delayMs: 'soon' }), (e) => e.code === -32602);

  const progress = [];
  client.on('notification:$/progress', (p) => progress.push(p.value.kind));
  await client.request('daemon/ping', { delayMs: 30, workDoneToken: 'tok' });
  await waitFor('progress end', () => progress.includes('end'));
  assert.deepEqual(progress, ['begin', 'end']);

  // Restart the daemon on the same socket: the client reconnects and initializes again.
  const socket = daemon.socket;
  let reconnected = 0;
  client.on('connected', () => { reconnected++; });
  const disconnected = new Promise((r) => client.once('disconnected', r));
  await daemon.stop();
  await disconnected;
  assert.equal(client.connected, false);
  await assert.rejects(client.request('daemon/ping'), /not connected/);
  daemon = await startDaemon({ collectors: false, socket });
  await waitFor('reconnect', () => reconnected > 0, 10000);
  assert.deepEqual(await client.request('daemon/ping'), { pong: true });
  await client.close();
});
