'use strict';
// JSON-RPC 2.0 client for periscoped over a Unix socket, with the LSP `Content-Length` framing
// (protocol/SPEC.md sections 2, 4, 5). Plain Node: `net`, `events`, `os`, `path` only.

const net = require('net');
const os = require('os');
const path = require('path');
const { EventEmitter } = require('events');

const MAX_HEADER_BYTES = 8192;

/** The socket path rule of SPEC.md section 1 (without the `--socket` flag, which is the caller's). */
function defaultSocketPath(env = process.env, uid = typeof process.getuid === 'function' ? process.getuid() : -1) {
  if (env.PERISCOPE_SOCKET) return env.PERISCOPE_SOCKET;
  if (uid === 0) return '/run/periscope/periscope.sock';
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'periscope.sock');
  return path.join(os.tmpdir(), `periscope-${uid}`, 'periscope.sock');
}

/** One framed message: `Content-Length: N\r\n\r\n` + UTF-8 JSON body. */
function encodeFrame(message) {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

class FramingError extends Error {}

/**
 * Incremental Content-Length frame parser: feed it chunks of any size (split anywhere, several
 * messages per chunk); it returns the complete bodies parsed as JSON. Blank lines between messages
 * are skipped, header names are case-insensitive, bare LF line ends are tolerated, unknown headers
 * are ignored. A framing error throws FramingError (the stream is then unusable).
 */
class FrameParser {
  constructor({ maxMessageBytes = 64 * 1024 * 1024 } = {}) {
    this.chunks = [];
    this.buffered = 0;
    this.bodyLength = -1; // -1: reading headers
    this.maxMessageBytes = maxMessageBytes;
  }

  _take(n) {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return head;
  }

  _peekAll() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] || Buffer.alloc(0);
  }

  /** Feeds bytes; returns the messages completed by them (possibly none). */
  push(chunk) {
    if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk);
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out = [];
    for (;;) {
      if (this.bodyLength < 0) {
        const buf = this._peekAll();
        // Skip blank CR/LF bytes between messages.
        let start = 0;
        while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
        if (start) this._take(start);
        const b = this._peekAll();
        const end = findHeaderEnd(b);
        if (end === null) {
          if (b.length > MAX_HEADER_BYTES) throw new FramingError('header block longer than 8192 bytes');
          return out;
        }
        const header = this._take(end.bodyStart).subarray(0, end.headerEnd).toString('utf8');
        this.bodyLength = parseContentLength(header);
        if (this.bodyLength > this.maxMessageBytes) throw new FramingError(`message of ${this.bodyLength} bytes is too large`);
      }
      if (this.buffered < this.bodyLength) return out;
      const body = this._take(this.bodyLength);
      this.bodyLength = -1;
      out.push(JSON.parse(body.toString('utf8')));
    }
  }
}

/** End of the header block: the first empty line (CRLF CRLF, or LF LF / mixed). */
function findHeaderEnd(buf) {
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    // buf[i] ends a line; is the next line empty?
    if (buf[i + 1] === 0x0a) return { headerEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headerEnd: i, bodyStart: i + 3 };
    if (i + 2 >= buf.length) return null; // not enough bytes to decide yet
  }
  return null;
}

function parseContentLength(header) {
  let length = null;
  for (const raw of header.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new FramingError(`header line without ':' (${JSON.stringify(line)})`);
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-length') continue;
    const value = line.slice(colon + 1).trim();
    if (!/^\d{1,18}$/.test(value)) throw new FramingError(`invalid Content-Length ${JSON.stringify(value)}`);
    const n = Number(value);
    if (length !== null && length !== n) throw new FramingError('conflicting Content-Length headers');
    length = n;
  }
  if (length === null) throw new FramingError('header block without Content-Length');
  return length;
}

class RpcError extends Error {
  constructor(error, method) {
    super(`${method}: ${error && error.message} (${error && error.code})`);
    this.code = error && error.code;
    this.data = error && error.data;
    this.method = method;
  }
}

/**
 * A client of one daemon. Events:
 *   'connected' (initializeResult)   after initialize succeeded (also after each reconnect)
 *   'disconnected' (reason)          the connection ended; pending requests were rejected
 *   'notification' (method, params)  and 'notification:METHOD' (params)
 *   'error' is never emitted (connection problems are 'disconnected'), so no listener is required.
 * With `reconnect: true` the client retries with backoff (`minDelayMs` … `maxDelayMs`) until close().
 */
class RpcClient extends EventEmitter {
  constructor({ socketPath = defaultSocketPath(), clientInfo = { name: 'periscope-js' }, reconnect = true,
    minDelayMs = 250, maxDelayMs = 5000, requestTimeoutMs = 30000, connectTimeoutMs = 5000 } = {}) {
    super();
    this.socketPath = socketPath;
    this.clientInfo = clientInfo;
    this.reconnect = reconnect;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    this.ready = false;
    this.serverInfo = null;
    this.capabilities = null;
    this.delay = minDelayMs;
    this.retryTimer = null;
    this.lastError = null;
  }

  /** Connects and initializes. Resolves with the initialize result; rejects if the first attempt fails
   * (with `reconnect` the client keeps trying in the background anyway). */
  start() {
    if (this._startPromise) return this._startPromise;
    this._startPromise = this._connect();
    return this._startPromise;
  }

  get connected() { return this.ready; }

  _connect() {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('client closed'));
      const socket = net.createConnection(this.socketPath);
      const parser = new FrameParser();
      this.socket = socket;
      let settled = false;
      const timer = setTimeout(() => socket.destroy(new Error(`connect to ${this.socketPath} timed out`)), this.connectTimeoutMs);
      socket.on('connect', () => {
        clearTimeout(timer);
        this._call('initialize', { processId: process.pid, clientInfo: this.clientInfo, capabilities: {} }, socket)
          .then((result) => {
            this.ready = true;
            this.delay = this.minDelayMs;
            this.serverInfo = result.serverInfo;
            this.capabilities = result.capabilities;
            this._send({ jsonrpc: '2.0', method: 'initialized', params: {} }, socket);
            settled = true;
            resolve(result);
            this.emit('connected', result);
          })
          .catch((err) => socket.destroy(err));
      });
      socket.on('data', (chunk) => {
        let messages;
        try {
          messages = parser.push(chunk);
        } catch (err) {
          socket.destroy(err);
          return;
        }
        for (const m of messages) this._dispatch(m);
      });
      socket.on('error', (err) => { this.lastError = err; });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = null;
        const wasReady = this.ready;
        this.ready = false;
        const reason = this.lastError ? this.lastError.message : 'connection closed';
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${p.method}: ${reason}`));
        }
        this.pending.clear();
        if (!settled) {
          settled = true;
          reject(new Error(`cannot reach periscoped at ${this.socketPath}: ${reason}`));
        }
        if (wasReady) this.emit('disconnected', reason);
        this.lastError = null;
        this._scheduleReconnect();
      });
    });
  }

  _scheduleReconnect() {
    if (this.closed || !this.reconnect || this.retryTimer) return;
    const delay = this.delay;
    this.delay = Math.min(this.maxDelayMs, this.delay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this._connect().catch(() => {});
    }, delay);
    if (this.retryTimer.unref) this.retryTimer.unref();
  }

  _dispatch(m) {
    if (m && typeof m === 'object' && !Array.isArray(m) && 'method' in m && !('id' in m)) {
      this.emit('notification', m.method, m.params);
      this.emit('notification:' + m.method, m.params);
      return;
    }
    if (!m || m.id === undefined || m.id === null) {
      if (m && m.error) this.emit('protocolError', m.error);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error) p.reject(new RpcError(m.error, p.method));
    else p.resolve(m.result);
  }

  _send(message, socket = this.socket) {
    if (!socket || socket.destroyed) throw new Error('not connected to periscoped');
    socket.write(encodeFrame(message));
  }

  _call(method, params, socket) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const message = { jsonrpc: '2.0', id, method };
      if (params !== undefined) message.params = params;
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error(`${method}: no answer within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      if (timer.unref) timer.unref();
      this.pending.set(id, { resolve, reject, method, timer });
      try {
        this._send(message, socket);
      } catch (err) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  /** Sends a request; resolves with its result, rejects with RpcError (`.code`) or a connection error. */
  request(method, params) {
    if (!this.ready) return Promise.reject(new Error(`${method}: not connected to periscoped`));
    return this._call(method, params, this.socket);
  }

  notify(method, params) {
    const message = { jsonrpc: '2.0', method };
    if (params !== undefined) message.params = params;
    this._send(message);
  }

  /** Polite close: shutdown + exit when connected, then stop reconnecting. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    if (!socket) return;
    if (this.ready) {
      try {
        await Promise.race([this.request('shutdown'), new Promise((r) => setTimeout(r, 1000))]);
        this.notify('exit');
      } catch (_) { /* closing anyway */ }
    }
    await new Promise((resolve) => {
      if (socket.destroyed) return resolve();
      socket.once('close', resolve);
      socket.end();
      setTimeout(() => { socket.destroy(); }, 1000).unref();
    });
  }
}

module.exports = { RpcClient, RpcError, FrameParser, FramingError, encodeFrame, defaultSocketPath };
