'use strict';
// src/extension.js under a minimal stand-in for the `vscode` module (VS Code itself cannot run
// here): activation, commands, the webview HTML (CSP, nonce, resource URIs), the page↔extension
// messages, the tree and the status bar — against a live daemon.
const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('module');
const path = require('path');
const { daemonMissing, startDaemon, waitFor } = require('./helpers');

function fakeVscode(settings) {
  const registered = new Map();
  const posted = [];
  const panels = [];
  let onMessage = null;
  const emitter = () => { const ls = []; return { event: (l) => { ls.push(l); return { dispose() {} }; }, fire: (v) => ls.forEach((l) => l(v)) }; };
  const uri = (p) => ({ fsPath: p, scheme: 'file', toString: () => 'vscode-resource:' + p });
  const api = {
    posted, panels, registered,
    Uri: { joinPath: (base, ...parts) => uri(path.join(base.fsPath, ...parts)), file: uri },
    ViewColumn: { Beside: -2 },
    StatusBarAlignment: { Left: 1 },
    TreeItemCollapsibleState: { None: 0, Collapsed: 1 },
    TreeItem: class { constructor(label, state) { this.label = label; this.collapsibleState = state; } },
    ThemeIcon: class { constructor(id) { this.id = id; } },
    EventEmitter: class { constructor() { const e = emitter(); this.event = e.event; this.fire = e.fire; } dispose() {} },
    commands: { registerCommand: (name, fn) => { registered.set(name, fn); return { dispose() {} }; } },
    workspace: {
      workspaceFolders: [{ uri: uri('/tmp/some-workspace') }],
      getConfiguration: () => ({ get: (k, d) => (k in settings ? settings[k] : d) }),
      onDidChangeWorkspaceFolders: () => ({ dispose() {} }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    window: {
      createOutputChannel: () => ({ appendLine() {}, dispose() {} }),
      createTreeView: (id, opts) => { api.treeProvider = opts.treeDataProvider; return { dispose() {} }; },
      createStatusBarItem: () => (api.status = { show() {}, dispose() {} }),
      registerWebviewPanelSerializer: () => ({ dispose() {} }),
      showQuickPick: async (items) => items.find((i) => i.label === 'processes-by-name'),
      createWebviewPanel: (viewType, title) => {
        const panel = {
          viewType, title, webview: {
            cspSource: 'vscode-resource:', options: {}, html: '',
            asWebviewUri: (u) => ({ toString: () => 'https://webview' + u.fsPath }),
            postMessage: (m) => { posted.push(m); return Promise.resolve(true); },
            onDidReceiveMessage: (fn) => { onMessage = fn; return { dispose() {} }; },
          },
          reveal() {}, onDidDispose: () => ({ dispose() {} }), dispose() {},
        };
        panels.push(panel);
        return panel;
      },
    },
    fromPage: (m) => onMessage(m),
  };
  return api;
}

test('extension: activate, open the map, page messages, commands, tree, status bar', { skip: daemonMissing(), timeout: 20000 }, async (t) => {
  const daemon = await startDaemon({ collectors: true }); // without collectors there are no topology/* methods
  t.after(() => daemon.stop());
  const vscode = fakeVscode({ socketPath: daemon.socket, workspaceScope: false });
  const load = Module._load;
  Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
  t.after(() => { Module._load = load; });
  const ext = require('../src/extension');
  const root = path.resolve(__dirname, '..');
  const context = { subscriptions: [], extensionUri: vscode.Uri.file(root), extensionPath: root };
  const api = ext.activate(context);
  t.after(() => ext.deactivate());

  for (const c of ['periscope.openMap', 'periscope.refresh', 'periscope.toggleScope', 'periscope.pickView']) {
    assert.ok(vscode.registered.has(c), c);
  }
  const pkg = require('../package.json');
  assert.deepEqual(pkg.contributes.commands.map((c) => c.command).filter((c) => vscode.registered.has(c)).length, pkg.contributes.commands.length);

  await waitFor('live subscription', () => api.session().status === 'live', 10000);
  assert.match(vscode.status.text, /type-hierarchy/);

  vscode.registered.get('periscope.openMap')();
  const panel = vscode.panels[0];
  const html = panel.webview.html;
  assert.match(html, /Content-Security-Policy/);
  assert.match(html, /script-src 'nonce-[^']+'/);
  // The page is the shared one (clients/web, also served by `periscope ui`), every script with the nonce.
  for (const file of ['state.js', 'layout.js', 'transport.js', 'details.js', 'map.js']) {
    assert.match(html, new RegExp(`<script nonce="[^"]+" src="https://webview[^"]*/clients/web/${file.replace('.', '\\.')}">`));
  }
  assert.match(html, /href="https:\/\/webview[^"]*\/clients\/web\/map\.css"/);
  assert.doesNotMatch(html, /<script src=/, 'no script without the nonce');

  await vscode.fromPage({ type: 'ready' });
  const config = vscode.posted.filter((m) => m.type === 'config').pop();
  assert.equal(config.view, 'processes');
  assert.equal(config.scope.enabled, false);
  assert.deepEqual(vscode.posted.filter((m) => m.type === 'connection').pop().connected, true);

  // The page's requests go to the daemon on the extension's connection; errors keep their code.
  await vscode.fromPage({ type: 'rpc', id: 7, method: 'topology/views', params: {} });
  const views = vscode.posted.filter((m) => m.type === 'rpcResult' && m.id === 7).pop();
  assert.ok(views.result.views.some((v) => v.name === 'hosts'));
  await vscode.fromPage({ type: 'rpc', id: 8, method: 'node/get', params: { view: 'processes', id: 'no-such-node' } });
  const details = vscode.posted.filter((m) => m.type === 'rpcResult' && m.id === 8).pop();
  assert.equal(details.error.code, -32004);
  // The page's own subscription's notifications reach it.
  await vscode.fromPage({ type: 'rpc', id: 9, method: 'topology/subscribe', params: { view: 'hosts', minInterval: 0 } });
  const sub = vscode.posted.filter((m) => m.type === 'rpcResult' && m.id === 9).pop().result.subscription;
  await waitFor('a notification of the page\'s subscription', () => vscode.posted.some((m) => m.type === 'rpcNotification' &&
    m.method === 'topology/changed' && m.params.subscription === sub), 10000);
  assert.ok(!vscode.posted.some((m) => m.type === 'rpcNotification' && m.params.subscription === api.session().state.subscription),
    'the tree\'s own subscription is not forwarded');

  await vscode.registered.get('periscope.pickView')();
  assert.equal(api.session().view, 'processes-by-name');
  vscode.registered.get('periscope.toggleScope')();
  assert.equal(api.session().model().scope.enabled, true);
  assert.deepEqual(api.session().model().scope.folders, ['/tmp/some-workspace']);
  assert.ok(Array.isArray(vscode.treeProvider.getChildren()));
  await vscode.registered.get('periscope.refresh')();
  assert.equal(api.session().status, 'live');
});
