// The Periscope map page: draws the model it is sent as an SVG layered map.
// Inside VS Code the extension sends messages (window 'message' events) and receives ours through
// acquireVsCodeApi().postMessage. Outside VS Code the same messages come from a harness:
// `window.periscopeHarness.postMessage(msg)` receives what we send, and the harness delivers its
// messages with window.postMessage(msg) (see test/harness/). Message shapes: src/session.js.
(function () {
  'use strict';
  const S = window.PeriscopeState;
  const SVG = 'http://www.w3.org/2000/svg';
  const vscode = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : null;
  const $ = (id) => document.getElementById(id);

  const layout = new S.LayeredLayout();
  let model = null;
  let lastLayout = null;
  // Pre-selection: saved webview state, or `#select=<node id>` (harness, screenshots).
  const hashSelect = /(?:^#|&)select=([^&]+)/.exec(location.hash || '');
  let selected = (vscode && vscode.getState() && vscode.getState().selected) || (hashSelect && decodeURIComponent(hashSelect[1])) || null;
  let zoom = null; // null: fit
  let details = null;
  let requestedFor = null;

  function send(message) {
    if (vscode) vscode.postMessage(message);
    else if (window.periscopeHarness && typeof window.periscopeHarness.postMessage === 'function') window.periscopeHarness.postMessage(message);
    else if (window.parent && window.parent !== window) window.parent.postMessage(message, '*');
  }

  function el(name, attrs, parent, ns) {
    const e = ns === false ? document.createElement(name) : document.createElementNS(SVG, name);
    for (const k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(name, text, parent, cls) {
    const e = document.createElement(name);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---- messages -------------------------------------------------------------------------------

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || typeof m !== 'object') return;
    if (m.type === 'model') {
      if (model && model.view !== m.view) { layout.reset(); zoom = null; }
      model = m;
      render();
    } else if (m.type === 'details') {
      if (m.id === selected) { details = m; renderDetails(); }
    } else if (m.type === 'select') {
      select(m.id);
    }
  });

  // ---- toolbar --------------------------------------------------------------------------------

  $('view-picker').addEventListener('change', (e) => send({ type: 'pickView', view: e.target.value }));
  $('scope-toggle').addEventListener('click', () => send({ type: 'toggleScope' }));
  $('refresh').addEventListener('click', () => send({ type: 'refresh' }));
  $('zoom-in').addEventListener('click', () => setZoom(currentZoom() * 1.25));
  $('zoom-out').addEventListener('click', () => setZoom(currentZoom() / 1.25));
  $('zoom-fit').addEventListener('click', () => { zoom = null; sizeSvg(); });
  $('details-close').addEventListener('click', () => select(null));
  $('canvas').addEventListener('wheel', (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    setZoom(currentZoom() * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  window.addEventListener('resize', () => { if (zoom === null) sizeSvg(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') select(null); });

  function renderToolbar() {
    const picker = $('view-picker');
    const names = model.views.map((v) => v.name).join('|');
    if (picker.dataset.names !== names) {
      picker.textContent = '';
      for (const v of model.views) {
        const o = html('option', v.name, picker);
        o.value = v.name;
        o.title = v.description || '';
      }
      picker.dataset.names = names;
    }
    picker.value = model.view;
    const scope = $('scope-toggle');
    scope.setAttribute('aria-pressed', String(!!model.scope.enabled));
    scope.textContent = model.scope.enabled ? 'Workspace' : 'Whole host';
    const counts = `${model.nodes.length} nodes · ${model.edges.length} edges`;
    const scoped = model.scope.enabled ? ` (of ${model.totalNodes} · ${model.totalEdges})` : '';
    $('status').textContent = (model.connected ? '' : '⚠ ') + `${counts}${scoped} · ${model.status}` +
      (model.revision !== null && model.revision !== undefined ? ` · rev ${model.revision}` : '');
    $('status').title = $('status').textContent;
  }

  // ---- map ------------------------------------------------------------------------------------

  function render() {
    renderToolbar();
    const svg = $('map');
    const result = layout.layout(model.nodes, model.edges);
    lastLayout = result;
    svg.setAttribute('data-revision', model.revision === null || model.revision === undefined ? '' : String(model.revision));
    svg.setAttribute('data-view', model.view);
    svg.setAttribute('viewBox', `0 0 ${Math.max(1, result.width)} ${Math.max(1, result.height)}`);
    const seeds = new Set(model.scope.seeds || []);
    const byId = new Map(model.nodes.map((n) => [n.id, n]));
    if (selected && !byId.has(selected)) { selected = null; details = null; renderDetails(); }
    const neighbours = new Set();
    if (selected) for (const e of model.edges) {
      if (e.source === selected) neighbours.add(e.target);
      if (e.target === selected) neighbours.add(e.source);
    }

    const edgesG = $('edges');
    const labelsG = $('edge-labels');
    const nodesG = $('nodes');
    edgesG.textContent = '';
    labelsG.textContent = '';
    nodesG.textContent = '';

    const placedLabels = [];
    for (const r of result.edges) {
      const touches = selected && (r.source === selected || r.target === selected);
      const cls = ['edge', r.kind, r.closed ? 'closed' : '', touches ? 'active' : '', selected && !touches ? 'dim' : ''].filter(Boolean).join(' ');
      const p = el('path', {
        d: r.path, class: cls, 'stroke-width': r.width, 'data-id': r.id, 'data-source': r.source, 'data-target': r.target,
        'marker-end': `url(#${marker(touches ? 'active' : r.closed ? 'closed' : 'normal', r.width)})`,
      }, edgesG);
      const src = byId.get(r.source);
      const dst = byId.get(r.target);
      el('title', {}, p).textContent = `${src ? src.label : r.source} → ${dst ? dst.label : r.target}` +
        (r.label ? `  ${r.label}` : '') + (r.closed ? '  (closed)' : '');
      if (r.label) {
        const g = el('g', { class: 'edge-label' + (selected && !touches ? ' dim' : ''), 'data-edge': r.id }, labelsG);
        const bg = el('rect', { class: 'edge-label-bg', rx: 3, ry: 3 }, g);
        const t = el('text', { x: r.labelX, y: r.labelY }, g);
        t.textContent = r.label;
        try {
          let b = t.getBBox();
          if (b.width) {
            // Nudge down past labels already placed, so converging edges keep readable labels.
            for (let tries = 0; tries < 6; tries++) {
              const hit = placedLabels.find((p) => b.x < p.x + p.width + 6 && p.x < b.x + b.width + 6 && b.y < p.y + p.height && p.y < b.y + b.height);
              if (!hit) break;
              t.setAttribute('y', Number(t.getAttribute('y')) + (hit.y + hit.height - b.y) + 2);
              b = t.getBBox();
            }
            placedLabels.push({ x: b.x, y: b.y, width: b.width, height: b.height });
            bg.setAttribute('x', b.x - 4); bg.setAttribute('y', b.y - 1);
            bg.setAttribute('width', b.width + 8); bg.setAttribute('height', b.height + 2);
          }
        } catch (_) { /* not rendered (hidden page): no background */ }
      }
    }

    for (const [id, box] of result.nodes) {
      const n = byId.get(id);
      const exited = n.metadata && n.metadata.exited === true;
      const cls = ['node', n.kind, n.pseudo ? 'pseudo' : '', seeds.has(id) ? 'seed' : '', exited ? 'exited' : '',
        id === selected ? 'selected' : '', selected && id !== selected && !neighbours.has(id) ? 'dim' : ''].filter(Boolean).join(' ');
      const g = el('g', {
        class: cls, transform: `translate(${box.x - box.width / 2},${box.y})`, tabindex: 0, role: 'button',
        'data-id': id, 'data-kind': n.kind, 'data-layer': box.layer, 'aria-label': `${n.label}, ${n.labelMinor}`,
      }, nodesG);
      el('title', {}, g).textContent = `${n.label}\n${n.labelMinor}` + (n.metadata && n.metadata.command ? `\n${n.metadata.command}` : '') +
        `\nin ${n.metrics ? n.metrics.connectionsIn : 0} · out ${n.metrics ? n.metrics.connectionsOut : 0}`;
      el('rect', { width: box.width, height: box.height, rx: 8, ry: 8 }, g);
      const maxChars = Math.floor((box.width - 12) / 7.2);
      el('text', { x: box.width / 2, y: 19, class: 'label' }, g).textContent = clip(n.label, maxChars);
      el('text', { x: box.width / 2, y: 36, class: 'minor' }, g).textContent = clip(n.labelMinor, Math.floor(maxChars * 1.15));
      g.addEventListener('click', () => select(id === selected ? null : id));
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(id === selected ? null : id); }
      });
    }

    const empty = $('empty');
    if (!model.nodes.length) {
      empty.hidden = false;
      empty.textContent = !model.connected ? `Not connected to periscoped: ${model.status}`
        : model.scope.enabled ? `No process of this workspace has a connection yet (${model.totalNodes} nodes in the whole view — switch to "Whole host" to see them).`
          : 'No nodes in this view.';
    } else empty.hidden = true;
    sizeSvg();
    if (selected && !details && requestedFor !== selected) {
      requestedFor = selected;
      send({ type: 'selectNode', id: selected });
      renderDetails();
    }
  }

  // Arrowheads sized to the stroke: one marker per (state, width), made on demand.
  function marker(state, width) {
    const id = `arrow-${state}-${String(width).replace('.', '_')}`;
    if (!document.getElementById(id)) {
      const size = Math.round(8 + width * 1.7);
      const m = el('marker', {
        id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: size, markerHeight: size,
        markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
      }, $('map').querySelector('defs'));
      el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead ' + state }, m);
    }
    return id;
  }

  function clip(text, n) {
    text = String(text || '');
    return text.length > n ? text.slice(0, Math.max(1, n - 1)) + '…' : text;
  }

  function fitZoom() {
    if (!lastLayout) return 1;
    const c = $('canvas');
    const w = c.clientWidth || 1200;
    const h = c.clientHeight || 700;
    return Math.max(0.35, Math.min(1.15, w / lastLayout.width, h / lastLayout.height));
  }
  function currentZoom() { return zoom === null ? fitZoom() : zoom; }
  function setZoom(z) { zoom = Math.max(0.2, Math.min(4, z)); sizeSvg(); }
  function sizeSvg() {
    if (!lastLayout) return;
    const z = currentZoom();
    const svg = $('map');
    const c = $('canvas');
    const w = Math.max(lastLayout.width * z, zoom === null ? (c.clientWidth || 0) : 0);
    svg.setAttribute('width', Math.round(w));
    svg.setAttribute('height', Math.round(lastLayout.height * z));
    // Centre horizontally when the map is narrower than the window.
    const vbX = zoom === null && lastLayout.width * z < w ? -(w / z - lastLayout.width) / 2 : 0;
    svg.setAttribute('viewBox', `${vbX} 0 ${Math.max(1, w / z)} ${Math.max(1, lastLayout.height)}`);
  }

  // ---- details --------------------------------------------------------------------------------

  function select(id) {
    selected = id;
    details = null;
    if (vscode) vscode.setState({ selected });
    requestedFor = id;
    if (id) send({ type: 'selectNode', id });
    if (model) render();
    renderDetails();
  }

  function renderDetails() {
    const pane = $('details');
    const body = $('details-body');
    if (!selected) { pane.hidden = true; if (lastLayout) sizeSvg(); return; }
    pane.hidden = false;
    body.textContent = '';
    const node = model && model.nodes.find((n) => n.id === selected);
    html('h2', node ? node.label : selected, body);
    html('div', node ? `${node.labelMinor} · ${node.kind}${node.pseudo ? ' (pseudo)' : ''}` : '', body, 'sub');
    if (!details) { html('div', 'loading…', body, 'sub'); return; }
    if (details.error) { html('div', details.error, body, 'sub'); return; }
    const d = details.details;
    pane.setAttribute('data-node', selected);
    const m = d.metadata || {};
    const keys = ['pid', 'ppid', 'user', 'command', 'cwd', 'executable', 'listening', 'ports', 'address', 'hostname', 'os', 'kernel', 'name', 'pids', 'exited'];
    const meta = html('table', null, body);
    const row = (table, k, v) => { const tr = html('tr', null, table); html('th', k, tr); html('td', v, tr); };
    for (const k of keys) if (m[k] !== undefined) row(meta, k, Array.isArray(m[k]) ? m[k].join(', ') : String(m[k]));
    const metrics = (d.node && d.node.metrics) || {};
    if (metrics.cpu !== undefined) row(meta, 'cpu', metrics.cpu.toFixed(1) + ' %');
    if (metrics.memory !== undefined) row(meta, 'memory', S.formatBytes(metrics.memory));
    const connTable = (title, rows) => {
      html('h3', `${title} (${rows.length})`, body);
      if (!rows.length) return;
      const t = html('table', null, body);
      const head = html('tr', null, t);
      for (const h of ['peer', 'port', 'remote', 'rate']) html('th', h, head);
      for (const c of rows.slice(0, 200)) {
        const tr = html('tr', null, t, c.closed ? 'closed' : '');
        tr.title = `${c.protocol} ${c.localAddress}:${c.localPort} ↔ ${c.remoteAddress}:${c.remotePort} ${c.state || ''}` +
          (c.rttMillis !== undefined ? ` rtt ${c.rttMillis.toFixed(2)} ms` : '') + (c.closed ? ' (closed)' : '');
        html('td', c.peerLabel || c.peer, tr, 'nowrap');
        html('td', `${c.localPort}/${c.protocol}`, tr, 'nowrap');
        html('td', `${c.remoteAddress}:${c.remotePort}` + (c.state && c.state !== 'established' ? ` (${c.state})` : ''), tr);
        html('td', c.bytesPerSecond !== undefined ? S.formatRate(c.bytesPerSecond) : '', tr, 'nowrap');
      }
    };
    connTable('Inbound', d.inbound || []);
    connTable('Outbound', d.outbound || []);
    if (d.children && d.children.length) {
      html('h3', `Members (${d.children.length})`, body);
      const t = html('table', null, body);
      for (const c of d.children.slice(0, 200)) row(t, c.label, c.labelMinor);
    }
  }

  send({ type: 'ready' });
}());
