// The Periscope map page, shared by `periscope ui` (a browser) and the VS Code extension (a webview):
// a JSON-RPC client of the daemon (transport.js carries its messages) that subscribes to a view
// (topology/subscribe with the filter and options the toolbar sets), keeps it current from
// topology/changed, draws it as a layered SVG map (state.js), and shows one node's live details
// (node/subscribe; details.js) with its controls and its logs (control/invoke, pipe/data). The time control
// (timeline.js) shows the map at a past instant instead of the live one, and highlights changes since an instant.
// `#view=NAME&select=ID` in the URL preselects a view and a node.
(function () {
  'use strict';
  const S = window.PeriscopeState;
  const D = window.PeriscopeDetails;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const transport = window.PeriscopeTransport.create();
  const saved = (transport.state && transport.state.getState && transport.state.getState()) || {};
  const hash = new URLSearchParams((location.hash || '').replace(/^#/, ''));

  const layout = new window.PeriscopeLayout.LayeredLayout();
  const state = new S.TopologyState();
  const app = {
    view: hash.get('view') || saved.view || 'processes', views: [], filter: '', filterError: null, unconnected: null,
    scope: { available: false, enabled: false, folders: [] }, connected: false, status: 'connecting…',
    controls: { enabled: false, ids: [] },
  };
  let sel = null; // {id, sub, details, error, connections, controlResult, busy}
  let selectWanted = hash.get('select') || saved.selected || null;
  let logs = null; // {pipe, decoder, node}
  let zoom = null; // null: fit
  let lastLayout = null;
  let subSeq = 0;
  let renderPending = false;
  const timeline = window.PeriscopeTimeline.create({
    request: (method, params) => transport.request(method, params), query: viewQuery, showPast, changed: scheduleRender,
    goLive: () => subscribe(),
  });
  let diffTimer = null;

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  const save = () => { if (transport.state) transport.state.setState({ view: app.view, selected: sel ? sel.id : null }); };

  // ---- daemon ---------------------------------------------------------------------------------

  transport.on('config', (config) => {
    if (config.scope) {
      app.scope = { available: true, enabled: !!config.scope.enabled, folders: config.scope.folders || [] };
    }
    // The host's view wins (VS Code's palette and tree follow the same view as the page).
    if (config.view && config.view !== app.view) {
      if (app.connected && app.views.length) setView(config.view, true);
      else app.view = config.view;
    }
    scheduleRender();
  });
  transport.on('select', (id) => select(id));

  transport.on('connection', async (c) => {
    app.connected = !!c.connected;
    app.status = c.status || (c.connected ? 'live' : 'disconnected');
    if (!c.connected) {
      state.clear();
      if (sel) sel.sub = null;
      logs = null;
      scheduleRender();
      return;
    }
    try {
      const listing = await transport.request('topology/views', {});
      app.views = listing.views || [];
    } catch (err) { app.status = `topology/views: ${err.message}`; }
    await refreshControls();
    await subscribe();
    if (selectWanted) { const id = selectWanted; selectWanted = null; select(id); } else if (sel) openDetails(sel.id);
  });

  async function refreshControls() {
    try {
      const status = await transport.request('daemon/status', {});
      const c = (status.collectors && status.collectors.controls) || {};
      app.controls = { enabled: c.state === 'ok', ids: Array.isArray(c.enabled) ? c.enabled : null };
    } catch (_) { app.controls = { enabled: false, ids: [] }; }
  }

  function viewInfo() { return app.views.find((v) => v.name === app.view) || { options: [] }; }
  function optionDefault(name) {
    const o = (viewInfo().options || []).find((x) => x.name === name);
    return o ? o.default : undefined;
  }

  /** The view, filter and options the toolbar sets, as topology/* params. */
  function viewQuery() {
    const params = { view: app.view };
    if (app.unconnected !== null && optionDefault('hideUnconnected') !== undefined) params.options = { hideUnconnected: !app.unconnected };
    if (app.filter.trim()) params.filter = app.filter.trim();
    return params;
  }

  /** The map at a past instant (topology/get with `at`): the live subscription ends until "back to live". */
  function showPast(result) {
    ++subSeq;
    if (state.subscription) transport.request('topology/unsubscribe', { subscription: state.subscription }).catch(() => {});
    if (state.view !== result.view) { layout.reset(); zoom = null; }
    state.loadSnapshot({ view: result.view, nodes: result.nodes, edges: result.edges });
    app.filterError = null;
    app.status = `viewing ${window.PeriscopeTimeline.clock(result.at)}`;
    scheduleRender();
  }

  /** (Re)subscribes with the current view, filter and options; the old subscription ends only once the new
   * one is there, so a filter error leaves the map as it was and shows the daemon's message. While the page
   * shows a past instant, renders that instant again instead. */
  async function subscribe() {
    if (!timeline.live) return timeline.reload();
    const seq = ++subSeq;
    const params = Object.assign(viewQuery(), { minInterval: 250 });
    app.status = `subscribing to ${app.view}`;
    scheduleRender();
    let snapshot;
    try {
      snapshot = await transport.request('topology/subscribe', params);
    } catch (err) {
      if (seq !== subSeq) return;
      if (/filter/.test(err.message)) app.filterError = err.message;
      else app.status = `topology/subscribe failed: ${err.message}`;
      if (state.subscription) app.status = 'live';
      scheduleRender();
      return;
    }
    if (seq !== subSeq) {
      transport.request('topology/unsubscribe', { subscription: snapshot.subscription }).catch(() => {});
      return;
    }
    const old = state.subscription;
    if (old) transport.request('topology/unsubscribe', { subscription: old }).catch(() => {});
    if (state.view !== snapshot.view) { layout.reset(); zoom = null; }
    state.loadSnapshot(snapshot);
    app.filterError = null;
    app.status = 'live';
    if (timeline.since !== null) timeline.refreshDiff().then(scheduleRender);
    scheduleRender();
  }

  /** While live with a "changes since" highlight, the diff follows the map (at most every 3 s). */
  function followDiff() {
    if (timeline.since === null || !timeline.live || diffTimer) return;
    diffTimer = setTimeout(() => { diffTimer = null; if (timeline.live) timeline.refreshDiff().then(scheduleRender); }, 3000);
  }

  transport.on('notification', (method, params) => {
    if (!params) return;
    if (method === 'topology/changed') {
      if (params.subscription !== state.subscription) return;
      const r = state.applyChange(params);
      if (!r.applied && r.reason === 'gap') subscribe();
      else if (r.applied) { scheduleRender(); followDiff(); }
    } else if (method === 'node/changed') {
      if (!sel || params.subscription !== sel.sub) return;
      if (params.removed) sel.error = 'This node is no longer in the view.';
      else { sel.details = params.node; sample(params.node); }
      renderDetails();
    } else if (method === 'pipe/data') {
      if (logs && params.pipe === logs.pipe) appendLogs(params);
    }
  });

  // ---- toolbar --------------------------------------------------------------------------------

  let filterTimer = null;
  $('view-picker').addEventListener('change', (e) => setView(e.target.value));
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, 500);
  });
  $('filter').addEventListener('keydown', (e) => { if (e.key === 'Enter') { clearTimeout(filterTimer); applyFilter(); } });
  $('unconnected').addEventListener('change', (e) => { app.unconnected = e.target.checked; subscribe(); });
  $('scope-toggle').addEventListener('click', () => {
    app.scope.enabled = !app.scope.enabled;
    if (transport.notifyHost) transport.notifyHost({ type: 'toggleScope' });
    scheduleRender();
  });
  $('refresh').addEventListener('click', () => subscribe());
  $('zoom-in').addEventListener('click', () => setZoom(currentZoom() * 1.25));
  $('zoom-out').addEventListener('click', () => setZoom(currentZoom() / 1.25));
  $('zoom-fit').addEventListener('click', () => { zoom = null; sizeSvg(); });
  $('details-close').addEventListener('click', () => select(null));
  $('logs-close').addEventListener('click', () => closeLogs());
  $('canvas').addEventListener('wheel', (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    setZoom(currentZoom() * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  window.addEventListener('resize', () => { if (zoom === null) sizeSvg(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && e.target.tagName !== 'INPUT') select(null); });

  function applyFilter() {
    const text = $('filter').value;
    if (text === app.filter && !app.filterError) return;
    app.filter = text;
    subscribe();
  }

  function setView(view, fromHost) {
    if (!view || view === app.view) return;
    app.view = view;
    if (!fromHost && transport.notifyHost) transport.notifyHost({ type: 'pickView', view });
    app.unconnected = null;
    select(null);
    save();
    subscribe();
  }

  function renderToolbar() {
    const picker = $('view-picker');
    const names = app.views.map((v) => v.name).join('|');
    if (picker.dataset.names !== names) {
      picker.textContent = '';
      for (const v of app.views) {
        const o = document.createElement('option');
        o.value = v.name;
        o.textContent = v.name;
        o.title = v.description || '';
        picker.appendChild(o);
      }
      picker.dataset.names = names;
    }
    picker.value = app.view;
    const def = optionDefault('hideUnconnected');
    const box = $('unconnected');
    box.disabled = def === undefined;
    box.checked = app.unconnected !== null ? app.unconnected : def === false;
    const err = $('filter-error');
    err.hidden = !app.filterError;
    err.textContent = app.filterError || '';
    $('filter').classList.toggle('invalid', !!app.filterError);
    const scope = $('scope-toggle');
    scope.hidden = !app.scope.available;
    scope.setAttribute('aria-pressed', String(app.scope.enabled));
    scope.textContent = app.scope.enabled ? 'Workspace' : 'Whole host';
  }

  // ---- map ------------------------------------------------------------------------------------

  function visible() {
    const nodes = state.nodeList();
    const edges = state.edgeList();
    if (!app.scope.enabled) return { nodes, edges, seeds: new Set() };
    return S.workspaceScope(nodes, edges, app.scope.folders);
  }

  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    setTimeout(() => { renderPending = false; render(); }, 0);
  }

  function render() {
    renderToolbar();
    timeline.render();
    const shown = visible();
    const { seeds } = shown;
    const { nodes, edges, added, removed } = timeline.decorate(shown.nodes, shown.edges);
    const counts = `${shown.nodes.length} nodes · ${shown.edges.length} edges`;
    const scoped = app.scope.enabled ? ` (of ${state.nodes.size} · ${state.edges.size})` : '';
    $('status').textContent = (app.connected ? '' : '⚠ ') + `${counts}${scoped} · ${app.status}` +
      (state.revision !== null ? ` · rev ${state.revision}` : '');
    $('status').title = $('status').textContent;
    const svg = $('map');
    const result = layout.layout(nodes, edges);
    lastLayout = result;
    svg.setAttribute('data-revision', state.revision === null ? '' : String(state.revision));
    svg.setAttribute('data-view', app.view);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const selected = sel ? sel.id : null;
    const neighbours = new Set();
    if (selected) for (const e of edges) {
      if (e.source === selected) neighbours.add(e.target);
      if (e.target === selected) neighbours.add(e.source);
    }
    const edgesG = $('edges');
    const labelsG = $('edge-labels');
    edgesG.textContent = '';
    labelsG.textContent = '';
    drawNodes(result, byId, seeds, selected, neighbours, added, removed);

    // Edges under the nodes, their labels above everything (a label is never hidden behind a box).
    const placed = [];
    for (const r of result.edges) {
      const touches = selected && (r.source === selected || r.target === selected);
      const cls = ['edge', r.kind, r.closed ? 'closed' : '', touches ? 'active' : '', selected && !touches ? 'dim' : '',
        added.has(r.id) ? 'added' : '', removed.has(r.id) ? 'removed' : ''].filter(Boolean).join(' ');
      const p = el('path', {
        d: r.path, class: cls, 'stroke-width': r.width, 'data-id': r.id, 'data-source': r.source, 'data-target': r.target,
        'marker-end': `url(#${marker(touches ? 'active' : added.has(r.id) ? 'added' : r.closed || removed.has(r.id) ? 'closed' : 'normal', r.width)})`,
      }, edgesG);
      const src = byId.get(r.source);
      const dst = byId.get(r.target);
      el('title', {}, p).textContent = `${src ? src.label : r.source} → ${dst ? dst.label : r.target}` +
        (r.label ? `  ${r.label}` : '') + (r.closed ? '  (closed)' : '') +
        (added.has(r.id) ? '  (new)' : removed.has(r.id) ? '  (removed)' : '');
      if (!r.label) continue;
      const g = el('g', { class: 'edge-label' + (selected && !touches ? ' dim' : ''), 'data-edge': r.id }, labelsG);
      const bg = el('rect', { class: 'edge-label-bg', rx: 3, ry: 3 }, g);
      const t = el('text', { x: r.labelX, y: r.labelY }, g);
      t.textContent = r.label;
      try {
        let b = t.getBBox();
        if (b.width) {
          // Nudge past labels already placed, so converging edges keep readable labels.
          for (let tries = 0; tries < 8; tries++) {
            const hit = placed.find((q) => b.x < q.x + q.width + 6 && q.x < b.x + b.width + 6 && b.y < q.y + q.height && q.y < b.y + b.height);
            if (!hit) break;
            t.setAttribute('y', Number(t.getAttribute('y')) + (hit.y + hit.height - b.y) + 2);
            b = t.getBBox();
          }
          placed.push({ x: b.x, y: b.y, width: b.width, height: b.height });
          bg.setAttribute('x', b.x - 4); bg.setAttribute('y', b.y - 1);
          bg.setAttribute('width', b.width + 8); bg.setAttribute('height', b.height + 2);
        }
      } catch (_) { /* not rendered (hidden page): no background */ }
    }

    const empty = $('empty');
    if (!nodes.length) {
      empty.hidden = false;
      empty.textContent = !app.connected ? `Not connected to periscoped: ${app.status}`
        : app.filter.trim() ? `No node matches the filter "${app.filter.trim()}" (${state.nodes.size} before filtering would be shown without it).`
          : app.scope.enabled ? `No process of this workspace has a connection yet (${state.nodes.size} nodes in the whole view — switch to "Whole host" to see them).`
            : /^containers/.test(app.view) ? 'No containers in this view (is a container engine running? `periscope status` says).'
              : 'No nodes in this view.';
    } else empty.hidden = true;
    sizeSvg();
    renderDetails();
  }

  // Node groups are kept across renders (keyed by id) and updated in place, so a click whose press and
  // release straddle a live update still lands on the same element.
  const nodeEls = new Map();
  function drawNodes(result, byId, seeds, selected, neighbours, added, removed) {
    const nodesG = $('nodes');
    for (const [id, g] of nodeEls) if (!result.nodes.has(id)) { g.remove(); nodeEls.delete(id); }
    for (const [id, box] of result.nodes) {
      const n = byId.get(id);
      const m = n.metadata || {};
      let g = nodeEls.get(id);
      if (!g) {
        g = el('g', { tabindex: 0, role: 'button', 'data-id': id }, nodesG);
        el('title', {}, g);
        el('rect', { rx: 8, ry: 8 }, g);
        el('text', { y: 19, class: 'label' }, g);
        el('text', { y: 36, class: 'minor' }, g);
        g.addEventListener('click', () => select(sel && sel.id === id ? null : id));
        g.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(sel && sel.id === id ? null : id); }
        });
        nodeEls.set(id, g);
      }
      const cls = ['node', n.kind, n.pseudo ? 'pseudo' : '', box.column ? 'side' : '', seeds.has(id) ? 'seed' : '',
        m.exited === true || m.stopped === true ? 'exited' : '', m.paused === true ? 'paused' : '',
        id === selected ? 'selected' : '', selected && id !== selected && !neighbours.has(id) ? 'dim' : '',
        added.has(id) ? 'added' : '', removed.has(id) ? 'removed' : ''].filter(Boolean).join(' ');
      g.setAttribute('class', cls);
      g.setAttribute('transform', `translate(${box.x - box.width / 2},${box.y})`);
      g.setAttribute('data-kind', n.kind);
      g.setAttribute('data-layer', box.layer);
      g.setAttribute('aria-label', `${n.label}, ${n.labelMinor}`);
      const [title, rect, label, minor] = g.children;
      title.textContent = `${n.label}\n${n.labelMinor}` + (m.command ? `\n${m.command}` : '') +
        `\nin ${n.metrics ? n.metrics.connectionsIn : 0} · out ${n.metrics ? n.metrics.connectionsOut : 0}`;
      rect.setAttribute('width', box.width);
      rect.setAttribute('height', box.height);
      const maxChars = Math.floor((box.width - 12) / 7.2);
      label.setAttribute('x', box.width / 2);
      label.textContent = clip(n.label, maxChars);
      minor.setAttribute('x', box.width / 2);
      minor.textContent = clip(n.labelMinor, Math.floor(maxChars * 1.15));
    }
  }

  // Arrowheads sized to the stroke: one marker per (state, width), made on demand.
  function marker(kind, width) {
    const id = `arrow-${kind}-${String(width).replace('.', '_')}`;
    if (!document.getElementById(id)) {
      const size = Math.round(8 + width * 1.7);
      const m = el('marker', {
        id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: size, markerHeight: size,
        markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
      }, $('map').querySelector('defs'));
      el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead ' + kind }, m);
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
    return Math.max(0.35, Math.min(1.15, (c.clientWidth || 1200) / lastLayout.width, (c.clientHeight || 700) / lastLayout.height));
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
    const vbX = zoom === null && lastLayout.width * z < w ? -(w / z - lastLayout.width) / 2 : 0;
    svg.setAttribute('viewBox', `${vbX} 0 ${Math.max(1, w / z)} ${Math.max(1, lastLayout.height)}`);
  }

  // ---- details, controls, logs ----------------------------------------------------------------

  function select(id) {
    if (sel && sel.id === id) return;
    if (sel && sel.sub) transport.request('topology/unsubscribe', { subscription: sel.sub }).catch(() => {});
    closeLogs();
    sel = id ? { id, sub: null, details: null, error: null, connections: [], controlResult: null, busy: false } : null;
    save();
    if (id) openDetails(id);
    scheduleRender();
  }

  async function openDetails(id) {
    if (!app.connected) return;
    try {
      const r = await transport.request('node/subscribe', { view: app.view, id });
      if (!sel || sel.id !== id) { transport.request('topology/unsubscribe', { subscription: r.subscription }).catch(() => {}); return; }
      sel.sub = r.subscription;
      sel.details = r.node;
      sel.error = null;
      sample(r.node);
    } catch (err) {
      if (sel && sel.id === id) sel.error = err.message;
    }
    renderDetails();
  }

  // Connection counts have no history in the daemon: the page keeps one while the node is open.
  function sample(details) {
    const m = (details && details.node && details.node.metrics) || {};
    sel.connections.push({ timestamp: Date.now() / 1000, value: (m.connectionsIn || 0) + (m.connectionsOut || 0) });
    if (sel.connections.length > 60) sel.connections.shift();
  }

  async function invoke(node, control) {
    if (!sel) return;
    sel.busy = true;
    sel.controlResult = { text: `${control}: sent…` };
    renderDetails();
    try {
      await transport.request('control/invoke', { node, control });
      if (sel) sel.controlResult = { text: `${control}: done` };
    } catch (err) {
      if (sel) sel.controlResult = { text: `${control} failed: ${err.message}`, error: true };
    }
    if (sel) sel.busy = false;
    renderDetails();
  }

  async function openLogs(node) {
    closeLogs();
    $('logs').hidden = false;
    $('logs-text').textContent = 'opening…\n';
    try {
      const r = await transport.request('control/invoke', { node, control: 'logs', args: { tail: 200, follow: true } });
      logs = { pipe: r.pipe, node, decoder: new TextDecoder('utf-8') };
      $('logs').setAttribute('data-pipe', r.pipe);
      $('logs-text').textContent = '';
    } catch (err) {
      $('logs-text').textContent = `logs failed: ${err.message}`;
    }
  }

  function appendLogs(params) {
    const raw = atob(params.data || '');
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const pre = $('logs-text');
    let text = pre.textContent + logs.decoder.decode(bytes, { stream: !params.eof });
    if (params.eof) text += params.error ? `\n— logs ended: ${params.error} —\n` : '\n— end of logs —\n';
    pre.textContent = text.length > 200000 ? text.slice(text.length - 200000) : text;
    pre.scrollTop = pre.scrollHeight;
    if (params.eof) logs = null;
  }

  function closeLogs() {
    if (logs) transport.request('pipe/close', { pipe: logs.pipe }).catch(() => {});
    logs = null;
    $('logs').hidden = true;
    $('logs').removeAttribute('data-pipe');
  }

  function renderDetails() {
    const pane = $('details');
    if (!sel) { pane.hidden = true; pane.removeAttribute('data-node'); if (lastLayout) sizeSvg(); return; }
    pane.hidden = false;
    pane.setAttribute('data-node', sel.id);
    const node = state.nodes.get(sel.id) || (sel.details && sel.details.node) || null;
    D.render($('details-body'), {
      id: sel.id, node, details: sel.details, error: sel.error, connections: sel.connections,
      controls: app.controls, controlResult: sel.controlResult, busy: sel.busy, invoke, openLogs,
    });
  }
}());
