// The details panel of the map page: one node's facts, sparklines of its metric histories, its
// connections, and for containers the controls (control/invoke) — drawn from node/subscribe details.
// window.PeriscopeDetails.render(body, view) fills `body`; `view` carries the details, the node summary,
// the connections history, whether controls are enabled, and callbacks (invoke, logs).
(function () {
  'use strict';
  const S = window.PeriscopeState;
  const SVG = 'http://www.w3.org/2000/svg';
  const CONTROLS = ['start', 'stop', 'restart', 'pause', 'unpause'];

  function html(name, text, parent, cls) {
    const e = document.createElement(name);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  /** An SVG sparkline of `values` ({timestamp, value}, oldest first), 160×32, with the last value's dot. */
  function sparkline(metric, values, parent) {
    const w = 160;
    const h = 32;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'sparkline');
    svg.setAttribute('data-metric', metric);
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('data-points', String(values.length));
    parent.appendChild(svg);
    if (!values.length) return svg;
    const vs = values.map((p) => p.value);
    const max = Math.max.apply(null, vs);
    const min = Math.min.apply(null, vs);
    const span = max - min;
    const xs = (i) => (values.length === 1 ? w - 3 : 2 + (i * (w - 5)) / (values.length - 1));
    // Scaled to the values' own range (a flat series is a line across the middle).
    const ys = (v) => (span ? h - 3 - ((v - min) / span) * (h - 6) : h / 2);
    const d = vs.map((v, i) => `${i ? 'L' : 'M'}${xs(i).toFixed(1)},${ys(v).toFixed(1)}`).join(' ');
    const area = document.createElementNS(SVG, 'path');
    area.setAttribute('class', 'area');
    area.setAttribute('d', `${d} L${xs(vs.length - 1).toFixed(1)},${h - 1} L${xs(0).toFixed(1)},${h - 1} Z`);
    svg.appendChild(area);
    const line = document.createElementNS(SVG, 'path');
    line.setAttribute('class', 'line');
    line.setAttribute('d', d);
    svg.appendChild(line);
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', xs(vs.length - 1).toFixed(1));
    dot.setAttribute('cy', ys(vs[vs.length - 1]).toFixed(1));
    dot.setAttribute('r', 2.2);
    svg.appendChild(dot);
    return svg;
  }

  const FORMAT = {
    cpu: (v) => `${v.toFixed(1)} %`,
    memory: (v) => S.formatBytes(v),
    load1: (v) => v.toFixed(2),
    connections: (v) => String(Math.round(v)),
  };

  function metricsSection(body, d, connections) {
    const histories = Object.assign({}, d.metrics || {});
    histories.connections = connections || [];
    const box = html('div', null, body, 'metrics');
    for (const metric of ['cpu', 'memory', 'load1', 'connections']) {
      const values = histories[metric];
      if (!values || (!values.length && metric === 'load1')) continue;
      const row = html('div', null, box, 'metric');
      row.setAttribute('data-metric', metric);
      html('span', metric, row, 'metric-name');
      sparkline(metric, values, row);
      html('span', values.length ? FORMAT[metric](values[values.length - 1].value) : 'no samples yet', row, 'metric-value');
    }
  }

  function controlsSection(body, view) {
    const d = view.details;
    const node = d.node || view.node || {};
    if (node.kind !== 'container') return;
    const offered = new Set((d.metadata && d.metadata.controls) || []);
    const box = html('div', null, body, 'controls');
    box.setAttribute('data-enabled', String(view.controls.enabled));
    html('h3', 'Controls', box);
    if (!view.controls.enabled) {
      html('p', 'Controls are off in this daemon: start periscoped with --controls (or --controls=stop,start,…) to use them.', box, 'controls-off');
    }
    const row = html('div', null, box, 'buttons');
    for (const c of CONTROLS.concat(['logs'])) {
      if (c !== 'logs' && !offered.has(c)) continue;
      const b = html('button', c === 'logs' ? 'Logs' : c[0].toUpperCase() + c.slice(1), row, 'control');
      b.type = 'button';
      b.setAttribute('data-control', c);
      const allowed = view.controls.ids === null || view.controls.ids.includes(c);
      b.disabled = !view.controls.enabled || !allowed || view.busy;
      if (!allowed && view.controls.enabled) b.title = `${c} is not enabled in this daemon`;
      b.addEventListener('click', () => (c === 'logs' ? view.openLogs(node.id) : view.invoke(node.id, c)));
    }
    if (view.controlResult) html('p', view.controlResult.text, box, 'control-result' + (view.controlResult.error ? ' error' : ''));
  }

  function connTable(body, title, rows) {
    html('h3', `${title} (${rows.length})`, body);
    if (!rows.length) return;
    const t = html('table', null, body);
    const head = html('tr', null, t);
    for (const h of ['peer', 'port', 'remote', 'rate']) html('th', h, head);
    for (const c of rows.slice(0, 200)) {
      const tr = html('tr', null, t, c.closed ? 'closed' : '');
      tr.title = `${c.protocol} ${c.localAddress}:${c.localPort} ↔ ${c.remoteAddress}:${c.remotePort} ${c.closed ? 'closed' : c.state || ''}` +
        (c.rttMillis !== undefined ? ` rtt ${c.rttMillis.toFixed(2)} ms` : '');
      html('td', c.peerLabel || c.peer, tr, 'nowrap');
      html('td', `${c.localPort}/${c.protocol}`, tr, 'nowrap');
      html('td', `${c.remoteAddress}:${c.remotePort}` + (c.closed ? ' (closed)' : c.state && c.state !== 'established' ? ` (${c.state})` : ''), tr);
      html('td', c.bytesPerSecond !== undefined ? S.formatRate(c.bytesPerSecond) : '', tr, 'nowrap');
    }
  }

  const KEYS = ['pid', 'ppid', 'user', 'command', 'cwd', 'executable', 'image', 'state', 'containerID', 'hostname', 'ips',
    'publishedPorts', 'listening', 'ports', 'address', 'os', 'kernel', 'name', 'pids', 'containers', 'exited'];

  function render(body, view) {
    body.textContent = '';
    const node = view.node;
    const d = view.details;
    html('h2', node ? node.label : view.id, body);
    html('div', node ? `${node.labelMinor} · ${node.kind}${node.pseudo ? ' (pseudo)' : ''}` : '', body, 'sub');
    if (view.error) { html('div', view.error, body, 'sub error'); return; }
    if (!d) { html('div', 'loading…', body, 'sub'); return; }
    controlsSection(body, view);
    metricsSection(body, d, view.connections);
    const m = d.metadata || {};
    const meta = html('table', null, body, 'meta');
    const row = (table, k, v) => { const tr = html('tr', null, table); html('th', k, tr); html('td', v, tr); };
    for (const k of KEYS) {
      if (m[k] === undefined) continue;
      const v = m[k];
      row(meta, k, Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    connTable(body, 'Inbound', d.inbound || []);
    connTable(body, 'Outbound', d.outbound || []);
    if (d.children && d.children.length) {
      html('h3', `Members (${d.children.length})`, body);
      const t = html('table', null, body);
      for (const c of d.children.slice(0, 200)) row(t, c.label, c.labelMinor);
    }
  }

  window.PeriscopeDetails = { render, sparkline };
}());
