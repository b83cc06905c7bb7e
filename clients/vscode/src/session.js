'use strict';
// The extension's model, independent of VS Code: one daemon connection (rpc.js), one subscription to the
// current view, the TopologyState it keeps current, and the workspace scope — what the Explorer tree and
// the status bar show. The map page (clients/web) is a JSON-RPC client of its own on the same connection
// (extension.js forwards its requests and notifications). model():
//
//   {type: 'model', view, views: [{name, description}], scope: {enabled, folders, seeds},
//    connected, status, revision, nodes: [node], edges: [edge], totalNodes, totalEdges}

const { EventEmitter } = require('events');
const { RpcClient } = require('./rpc');
const { TopologyState, workspaceScope } = require('./state');

const FALLBACK_VIEWS = [
  { name: 'processes', description: 'One node per process with connections' },
  { name: 'processes-by-name', description: 'Processes grouped by executable name' },
  { name: 'hosts', description: 'Hosts, remote peers and the Internet' },
];

class PeriscopeSession extends EventEmitter {
  /**
   * options: socketPath, view ('processes'), scope (true), folders ([] — workspace folder paths),
   * minInterval (ms between notifications, 250), clientInfo, rpcOptions.
   * Events: 'model' (message), 'status' (text), 'changed' () after every state change.
   */
  constructor(options = {}) {
    super();
    this.view = options.view || 'processes';
    this.scopeEnabled = options.scope !== undefined ? !!options.scope : true;
    this.folders = options.folders || [];
    this.minInterval = options.minInterval !== undefined ? options.minInterval : 250;
    this.views = FALLBACK_VIEWS;
    this.state = new TopologyState();
    this.status = 'connecting';
    this.notifications = 0;
    this.rpc = new RpcClient(Object.assign({
      socketPath: options.socketPath,
      clientInfo: options.clientInfo || { name: 'periscope-vscode', version: '0.1.0' },
    }, options.rpcOptions || {}));
    this.rpc.on('connected', () => { this._onConnected(); });
    this.rpc.on('disconnected', (reason) => {
      this.state.clear();
      this._setStatus(`disconnected: ${reason} (retrying)`);
    });
    this.rpc.on('notification:topology/changed', (params) => this._onChanged(params));
    this._subscribing = null;
  }

  /** Connects (retrying in the background if the daemon is not there yet). */
  start() {
    return this.rpc.start().catch((err) => {
      this._setStatus(`${err.message} (retrying)`);
    });
  }

  async _onConnected() {
    try {
      const listing = await this.rpc.request('topology/views', {});
      if (listing && Array.isArray(listing.views) && listing.views.length) {
        this.views = listing.views.map((v) => ({ name: v.name, description: v.description }));
      }
    } catch (_) { /* older daemon: keep the fallback list */ }
    await this.subscribe();
  }

  /** (Re)subscribes to the current view; the snapshot replaces the state. */
  async subscribe() {
    if (!this.rpc.connected) return;
    const run = (async () => {
      const old = this.state.subscription;
      this.state.clear();
      if (old) this.rpc.request('topology/unsubscribe', { subscription: old }).catch(() => {});
      this._setStatus(`subscribing to ${this.view}`, false);
      try {
        const snapshot = await this.rpc.request('topology/subscribe', { view: this.view, minInterval: this.minInterval });
        this.state.loadSnapshot(snapshot);
        this._setStatus('live');
      } catch (err) {
        this._setStatus(`topology/subscribe failed: ${err.message}`);
      }
    })();
    this._subscribing = run;
    await run;
    if (this._subscribing === run) this._subscribing = null;
  }

  _onChanged(params) {
    if (!this.state.subscription || params.subscription !== this.state.subscription) return;
    const result = this.state.applyChange(params);
    if (!result.applied && result.reason === 'gap') {
      this.subscribe();
      return;
    }
    if (result.applied) {
      this.notifications++;
      this._emitModel();
    }
  }

  _setStatus(text, emit = true) {
    this.status = text;
    this.emit('status', text);
    if (emit) this._emitModel();
  }

  _emitModel() {
    this.emit('changed');
    this.emit('model', this.model());
  }

  /** What is shown: every node and edge, or the workspace-scoped part when the scope is on. */
  visible() {
    const nodes = this.state.nodeList();
    const edges = this.state.edgeList();
    if (!this.scopeEnabled) return { nodes, edges, seeds: [] };
    const scoped = workspaceScope(nodes, edges, this.folders);
    return { nodes: scoped.nodes, edges: scoped.edges, seeds: Array.from(scoped.seeds).sort() };
  }

  model() {
    const { nodes, edges, seeds } = this.visible();
    return {
      type: 'model',
      view: this.view,
      views: this.views,
      scope: { enabled: this.scopeEnabled, folders: this.folders.slice(), seeds },
      connected: this.rpc.connected,
      status: this.status,
      revision: this.state.revision,
      nodes,
      edges,
      totalNodes: this.state.nodes.size,
      totalEdges: this.state.edges.size,
    };
  }

  async setView(view) {
    if (!view || view === this.view) return;
    this.view = view;
    await this.subscribe();
    this._emitModel();
  }

  setScope(enabled) {
    this.scopeEnabled = !!enabled;
    this._emitModel();
  }

  toggleScope() { this.setScope(!this.scopeEnabled); }

  setFolders(folders) {
    this.folders = folders.slice();
    this._emitModel();
  }

  /** node/get for the current view: {type: 'details', id, details} or {…, error}. */
  async details(id) {
    try {
      const details = await this.rpc.request('node/get', { view: this.view, id });
      return { type: 'details', id, details };
    } catch (err) {
      return { type: 'details', id, error: err.message };
    }
  }

  async close() {
    this.removeAllListeners('model');
    await this.rpc.close();
  }
}

module.exports = { PeriscopeSession, FALLBACK_VIEWS };
