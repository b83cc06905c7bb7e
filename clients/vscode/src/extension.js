'use strict';
// Periscope for VS Code: a live map (webview) of the processes and connections around this
// workspace, an Explorer tree of the same nodes for keyboard users, and a status bar item.
// Everything that is not VS Code API lives in session.js / state.js / rpc.js (tested with node --test).

const vscode = require('vscode');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { PeriscopeSession } = require('./session');
const { defaultSocketPath } = require('./rpc');
const { formatRate, l7Label } = require('./state');

/** The shared map page (clients/web, also served by `periscope ui`): next to this extension in the
 * repository (the extension folder may be a symlink into it), or copied into `web/` when packaged. */
function webRoot(extensionPath) {
  const packaged = path.join(extensionPath, 'web');
  if (fs.existsSync(path.join(packaged, 'index.html'))) return packaged;
  return path.join(fs.realpathSync(extensionPath), '..', 'web');
}

const KIND_ICONS = {
  process: 'server-process', 'process-group': 'layers', host: 'vm', internet: 'globe', remote: 'remote', unknown: 'question',
};

class Controller {
  constructor(context) {
    this.context = context;
    this.panel = null;
    this.session = null;
    this.output = vscode.window.createOutputChannel('Periscope');
    this.tree = new NodeTree(this);
    this.treeView = vscode.window.createTreeView('periscope.nodes', { treeDataProvider: this.tree, showCollapseAll: true });
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
    this.status.command = 'periscope.openMap';
    this.status.show();
    context.subscriptions.push(this.output, this.treeView, this.status);
    this.startSession();
  }

  config() { return vscode.workspace.getConfiguration('periscope'); }

  folders() {
    return (vscode.workspace.workspaceFolders || []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  }

  startSession() {
    const old = this.session;
    const config = this.config();
    const socketPath = config.get('socketPath') || defaultSocketPath();
    this.session = new PeriscopeSession({
      socketPath,
      view: old ? old.view : config.get('view', 'processes'),
      scope: old ? old.scopeEnabled : config.get('workspaceScope', true),
      folders: this.folders(),
      clientInfo: { name: 'periscope-vscode', version: this.context.extension ? this.context.extension.packageJSON.version : '0.1.0' },
    });
    this.session.on('model', (model) => this.onModel(model));
    this.session.on('status', (text) => this.output.appendLine(`${new Date().toISOString()} ${text}`));
    // The page is a JSON-RPC client of its own (clients/web/map.js) on this session's connection: forward
    // the daemon's notifications to it, except those of the session's own subscription (the tree's).
    const session = this.session;
    session.rpc.on('notification', (method, params) => {
      if (!this.panel || this.session !== session) return;
      if (params && params.subscription && params.subscription === session.state.subscription) return;
      this.panel.webview.postMessage({ type: 'rpcNotification', method, params });
    });
    session.rpc.on('connected', () => this.postConnection());
    session.rpc.on('disconnected', () => this.postConnection());
    this.output.appendLine(`connecting to ${socketPath}`);
    if (old) old.close();
    this.session.start();
    this.onModel(this.session.model());
  }

  onModel(model) {
    this.tree.refresh();
    const scope = model.scope.enabled ? 'workspace' : 'host';
    if (model.connected) {
      this.status.text = `$(type-hierarchy) ${model.nodes.length} · ${model.edges.length}`;
      this.status.tooltip = `Periscope (${model.view}, ${scope} scope): ${model.nodes.length} nodes, ${model.edges.length} edges — ${model.status}. Click to open the map.`;
    } else {
      this.status.text = '$(debug-disconnect) Periscope';
      this.status.tooltip = `Periscope: ${model.status}`;
    }
    this.treeView.message = model.connected ? undefined : `Not connected: ${model.status}`;
    this.treeView.description = `${model.view} · ${scope}`;
    this.postConfig();
  }

  /** Tells the page the workspace scope and view (when they changed). */
  postConfig(force) {
    if (!this.panel) return;
    const config = { type: 'config', view: this.session.view, scope: { enabled: this.session.scopeEnabled, folders: this.session.folders.slice() } };
    const key = JSON.stringify(config);
    if (!force && key === this.lastConfig) return;
    this.lastConfig = key;
    this.panel.webview.postMessage(config);
  }

  postConnection() {
    if (!this.panel) return;
    this.panel.webview.postMessage({ type: 'connection', connected: this.session.rpc.connected, status: this.session.status });
  }

  /** A message from the page: 'ready', 'rpc' (forwarded to the daemon), 'pickView', 'toggleScope'. */
  async pageMessage(panel, message) {
    switch (message && message.type) {
      case 'ready':
        this.postConfig(true);
        this.postConnection();
        return;
      case 'rpc': {
        const reply = { type: 'rpcResult', id: message.id };
        try {
          reply.result = await this.session.rpc.request(String(message.method), message.params);
        } catch (err) {
          reply.error = { code: err.code !== undefined ? err.code : -32099, message: err.message };
        }
        panel.webview.postMessage(reply);
        return;
      }
      case 'pickView': await this.session.setView(message.view); return;
      case 'toggleScope': this.session.toggleScope(); return;
      default:
    }
  }

  openMap(column) {
    if (this.panel) {
      this.panel.reveal(column);
      return this.panel;
    }
    const panel = vscode.window.createWebviewPanel('periscope.map', 'Periscope Map', column || vscode.ViewColumn.Beside, this.webviewOptions());
    this.attach(panel);
    return panel;
  }

  webviewOptions() {
    const root = this.context.extensionUri;
    return {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'media'), vscode.Uri.file(webRoot(this.context.extensionPath))],
    };
  }

  attach(panel) {
    this.panel = panel;
    panel.webview.options = this.webviewOptions();
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html(panel.webview);
    panel.webview.onDidReceiveMessage((message) => this.pageMessage(panel, message), null, this.context.subscriptions);
    panel.onDidDispose(() => { if (this.panel === panel) this.panel = null; }, null, this.context.subscriptions);
  }

  html(webview) {
    const web = vscode.Uri.file(webRoot(this.context.extensionPath));
    const nonce = crypto.randomBytes(16).toString('base64');
    const uri = (file) => webview.asWebviewUri(vscode.Uri.joinPath(web, file)).toString();
    const csp = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource} data:; ` +
      `style-src ${webview.cspSource} 'unsafe-inline'; script-src 'nonce-${nonce}';">`;
    return fs.readFileSync(path.join(web.fsPath, 'index.html'), 'utf8')
      .replace('<!--CSP-->', csp)
      .replace('href="map.css"', `href="${uri('map.css')}"`)
      .replace(/<script src="([a-z]+\.js)">/g, (_, file) => `<script nonce="${nonce}" src="${uri(file)}">`);
  }

  async pickView() {
    const items = this.session.views.map((v) => ({
      label: v.name, description: v.name === this.session.view ? '(current)' : '', detail: v.description,
    }));
    const choice = await vscode.window.showQuickPick(items, { placeHolder: 'Periscope view' });
    if (choice) await this.session.setView(choice.label);
  }

  showNode(id) {
    const panel = this.openMap();
    panel.webview.postMessage({ type: 'select', id });
  }

  dispose() {
    if (this.session) this.session.close();
    if (this.panel) this.panel.dispose();
  }
}

/** Explorer tree: nodes of the current view (scope applied), each with its edges as children. */
class NodeTree {
  constructor(controller) {
    this.controller = controller;
    this.emitter = new vscode.EventEmitter();
    this.onDidChangeTreeData = this.emitter.event;
    this.pendingRefresh = null;
  }

  refresh() {
    // Coalesce bursts of notifications into one tree refresh.
    if (this.pendingRefresh) return;
    this.pendingRefresh = setTimeout(() => { this.pendingRefresh = null; this.emitter.fire(); }, 150);
  }

  getChildren(element) {
    const model = this.controller.session.model();
    const labels = new Map(model.nodes.map((n) => [n.id, n.label]));
    if (!element) {
      return model.nodes.slice()
        .sort((a, b) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id))
        .map((n) => ({ type: 'node', node: n, edges: model.edges.filter((e) => e.source === n.id || e.target === n.id) }));
    }
    if (element.type !== 'node') return [];
    return element.edges.map((e) => {
      const outgoing = e.source === element.node.id;
      const peer = outgoing ? e.target : e.source;
      return { type: 'edge', edge: e, outgoing, peer, peerLabel: labels.get(peer) || peer, parent: element.node.id };
    });
  }

  getTreeItem(element) {
    if (element.type === 'node') {
      const n = element.node;
      const item = new vscode.TreeItem(n.label, element.edges.length
        ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
      item.id = 'node:' + n.id;
      const m = n.metrics || {};
      item.description = `${n.labelMinor} · in ${m.connectionsIn || 0} · out ${m.connectionsOut || 0}`;
      item.tooltip = [n.label, n.labelMinor, n.metadata && n.metadata.command, n.metadata && n.metadata.cwd && `cwd ${n.metadata.cwd}`]
        .filter(Boolean).join('\n');
      item.iconPath = new vscode.ThemeIcon(KIND_ICONS[n.kind] || 'circle-outline');
      item.contextValue = n.pseudo ? 'periscopePseudoNode' : 'periscopeNode';
      item.command = { command: 'periscope.showNode', title: 'Show Node Details', arguments: [n.id] };
      return item;
    }
    const e = element.edge;
    const ports = (e.ports || []).map((p) => ':' + p).join(' ');
    const item = new vscode.TreeItem(`${element.outgoing ? '→' : '←'} ${element.peerLabel}`, vscode.TreeItemCollapsibleState.None);
    item.id = `edge:${element.parent}:${e.id}`;
    item.description = [ports, (e.protocols || []).join('/'), e.bytesPerSecond > 0 ? formatRate(e.bytesPerSecond) : '',
      e.connections > 1 ? `${e.connections} connections` : '', e.closed ? 'closed' : '', l7Label(e)].filter(Boolean).join(' · ');
    item.iconPath = new vscode.ThemeIcon(element.outgoing ? 'arrow-right' : 'arrow-left');
    item.tooltip = `${e.source} → ${e.target}`;
    item.command = { command: 'periscope.showNode', title: 'Show Node Details', arguments: [element.peer] };
    return item;
  }
}

let controller = null;

function activate(context) {
  controller = new Controller(context);
  const register = (name, fn) => context.subscriptions.push(vscode.commands.registerCommand(name, fn));
  register('periscope.openMap', () => { controller.openMap(); });
  register('periscope.refresh', () => controller.session.subscribe());
  register('periscope.toggleScope', () => controller.session.toggleScope());
  register('periscope.pickView', () => controller.pickView());
  register('periscope.showNode', (id) => controller.showNode(id));
  context.subscriptions.push(
    vscode.workspace.onDidChangeWorkspaceFolders(() => controller.session.setFolders(controller.folders())),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('periscope.socketPath')) controller.startSession();
    }),
    vscode.window.registerWebviewPanelSerializer('periscope.map', {
      async deserializeWebviewPanel(panel) { controller.attach(panel); },
    }),
    { dispose: () => controller && controller.dispose() },
  );
  return { session: () => controller.session };
}

function deactivate() {
  if (controller) controller.dispose();
  controller = null;
}

module.exports = { activate, deactivate };
