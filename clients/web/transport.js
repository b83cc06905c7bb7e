// How the map page reaches the daemon. The page is a JSON-RPC client of periscoped; its host carries
// the messages:
//   * in a browser served by `periscope ui`: requests as `POST /rpc`, notifications as Server-Sent
//     Events from `GET /events` (one daemon connection per page; its first event, `hello`, names it);
//   * inside VS Code (acquireVsCodeApi) or the test harness (window.periscopeHarness): window
//     messages — the page sends {type:'ready'} and {type:'rpc', id, method, params}; the host sends
//     {type:'config', scope}, {type:'connection', connected, status}, {type:'rpcResult', id, result|error}
//     and {type:'rpcNotification', method, params}.
// window.PeriscopeTransport.create() returns {request(method, params) → Promise, on(event, fn)} with
// events 'connection' ({connected, status}), 'notification' (method, params) and 'config' (config).
(function () {
  'use strict';

  class Emitter {
    constructor() { this.handlers = {}; }
    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); }
    emit(name, ...args) { for (const fn of this.handlers[name] || []) fn(...args); }
  }

  function rpcError(error) {
    const e = new Error(error && error.message ? error.message : String(error));
    e.code = error && error.code;
    return e;
  }

  /** Browser ↔ `periscope ui`: SSE for notifications, POST for requests. */
  class HttpTransport extends Emitter {
    constructor() {
      super();
      this.channel = null;
      this.open();
    }

    open() {
      const es = new EventSource('events');
      this.source = es;
      es.addEventListener('hello', (ev) => {
        const hello = JSON.parse(ev.data);
        this.channel = hello.channel;
        this.emit('connection', { connected: true, status: 'live', serverInfo: hello.serverInfo });
      });
      es.addEventListener('failure', (ev) => {
        this.channel = null;
        this.emit('connection', { connected: false, status: JSON.parse(ev.data).message });
      });
      es.onmessage = (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch (_) { return; }
        if (m && m.method) this.emit('notification', m.method, m.params);
      };
      es.onerror = () => {
        if (this.channel) this.emit('connection', { connected: false, status: 'lost the connection to periscope ui (retrying)' });
        this.channel = null;
      };
    }

    async request(method, params) {
      if (!this.channel) throw rpcError({ code: -32099, message: 'not connected' });
      const response = await fetch('rpc', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
        body: JSON.stringify({ channel: this.channel, method, params }),
      });
      let body;
      try { body = await response.json(); } catch (_) { throw rpcError({ code: -32099, message: `HTTP ${response.status}` }); }
      if (body.error) throw rpcError(body.error);
      return body.result;
    }
  }

  /** VS Code webview or the harness: window messages to and from the host. */
  class MessageTransport extends Emitter {
    constructor(post) {
      super();
      this.post = post;
      this.nextId = 1;
      this.pending = new Map();
      window.addEventListener('message', (event) => {
        const m = event.data;
        if (!m || typeof m !== 'object') return;
        if (m.type === 'rpcResult') {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.error) p.reject(rpcError(m.error)); else p.resolve(m.result);
        } else if (m.type === 'rpcNotification') {
          this.emit('notification', m.method, m.params);
        } else if (m.type === 'connection') {
          if (!m.connected) {
            for (const p of this.pending.values()) p.reject(rpcError({ code: -32099, message: m.status }));
            this.pending.clear();
          }
          this.emit('connection', m);
        } else if (m.type === 'config') {
          this.emit('config', m);
        } else if (m.type === 'select') {
          this.emit('select', m.id);
        }
      });
      setTimeout(() => this.post({ type: 'ready' }), 0);
    }

    /** A message for the host itself (view or scope picked in the page), not for the daemon. */
    notifyHost(message) { this.post(message); }

    request(method, params) {
      return new Promise((resolve, reject) => {
        const id = this.nextId++;
        this.pending.set(id, { resolve, reject });
        this.post({ type: 'rpc', id, method, params });
      });
    }
  }

  function create() {
    if (typeof acquireVsCodeApi === 'function') {
      const api = acquireVsCodeApi();
      const t = new MessageTransport((m) => api.postMessage(m));
      t.state = api;
      return t;
    }
    if (window.periscopeHarness) return new MessageTransport((m) => window.periscopeHarness.postMessage(m));
    return new HttpTransport();
  }

  window.PeriscopeTransport = { create, HttpTransport, MessageTransport };
}());
