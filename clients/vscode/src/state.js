'use strict';
// Topology state for Periscope clients: snapshot + `topology/changed` application, client-side
// workspace scope, and a stable layered layout. No dependencies, no VS Code API: the same file is
// `require`d by the extension host (Node) and loaded as a <script> by the webview page
// (window.PeriscopeState).
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.PeriscopeState = factory();
}(typeof self !== 'undefined' ? self : this, function () {

  // ---------------------------------------------------------------------------------------------
  // State: a view's nodes and edges by id, kept equal to the daemon's through the subscription.

  class TopologyState {
    constructor() { this.clear(); }

    clear() {
      this.view = null;
      this.subscription = null;
      this.revision = null;
      this.nodes = new Map();
      this.edges = new Map();
    }

    /** Installs a `topology/get` or `topology/subscribe` result ({view, revision, nodes, edges, subscription?}). */
    loadSnapshot(result) {
      this.view = result.view !== undefined ? result.view : this.view;
      this.subscription = result.subscription !== undefined ? result.subscription : null;
      this.revision = result.revision !== undefined ? result.revision : null;
      this.nodes = new Map((result.nodes || []).map((n) => [n.id, n]));
      this.edges = new Map((result.edges || []).map((e) => [e.id, e]));
    }

    /**
     * Applies one `topology/changed` notification's params. Returns
     *   {applied: true, reset}                      when applied (reset: the state was replaced),
     *   {applied: false, reason: 'subscription'}    when it belongs to another subscription,
     *   {applied: false, reason: 'gap'}             when `previousRevision` is not our revision (the
     *                                               caller should resubscribe: a notification was lost).
     */
    applyChange(params) {
      if (this.subscription !== null && params.subscription !== this.subscription) {
        return { applied: false, reason: 'subscription' };
      }
      const added = params.added || {};
      const updated = params.updated || {};
      const removed = params.removed || {};
      if (params.reset) {
        // On reset the notification carries the full state in `added`.
        this.nodes = new Map((added.nodes || []).map((n) => [n.id, n]));
        this.edges = new Map((added.edges || []).map((e) => [e.id, e]));
        this.revision = params.revision;
        return { applied: true, reset: true };
      }
      if (this.revision !== null && params.previousRevision !== this.revision) {
        return { applied: false, reason: 'gap' };
      }
      for (const id of removed.edges || []) this.edges.delete(id);
      for (const id of removed.nodes || []) this.nodes.delete(id);
      for (const n of (added.nodes || []).concat(updated.nodes || [])) this.nodes.set(n.id, n);
      for (const e of (added.edges || []).concat(updated.edges || [])) this.edges.set(e.id, e);
      this.revision = params.revision;
      return { applied: true, reset: false };
    }

    nodeList() { return sortById(Array.from(this.nodes.values())); }
    edgeList() { return sortById(Array.from(this.edges.values())); }
  }

  function sortById(list) {
    return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // ---------------------------------------------------------------------------------------------
  // Workspace scope, client side.
  //
  // The daemon has no workspace filter yet (issue 6 asks for one as a subscription filter); until it
  // does, the client subscribes to the whole view and keeps: the nodes whose metadata.cwd or
  // metadata.executable lies under one of the workspace folders ("seeds"), plus their direct peers,
  // and the edges that touch a seed. When the daemon grows the filter this function is replaced by a
  // `filter` in topology/subscribe and the panel shows what it receives.
  // Only process nodes carry cwd/executable: grouped and host views show nothing in scope.

  function normalizeFolder(folder) {
    let f = String(folder);
    while (f.length > 1 && f.endsWith('/')) f = f.slice(0, -1);
    return f;
  }

  function isUnder(p, folder) {
    if (typeof p !== 'string' || !p) return false;
    const f = normalizeFolder(folder);
    if (f === '/') return p.startsWith('/');
    return p === f || p.startsWith(f + '/');
  }

  function inWorkspace(node, folders) {
    const m = node.metadata || {};
    return folders.some((f) => isUnder(m.cwd, f) || isUnder(m.executable, f));
  }

  /** {nodes, edges, seeds}: the part of (nodes, edges) in scope of `folders` (see above). */
  function workspaceScope(nodes, edges, folders) {
    const seeds = new Set();
    if (!folders || !folders.length) return { nodes: [], edges: [], seeds };
    for (const n of nodes) if (inWorkspace(n, folders)) seeds.add(n.id);
    const keep = new Set(seeds);
    const keptEdges = [];
    for (const e of edges) {
      if (seeds.has(e.source) || seeds.has(e.target)) {
        keptEdges.push(e);
        keep.add(e.source);
        keep.add(e.target);
      }
    }
    return { nodes: nodes.filter((n) => keep.has(n.id)), edges: keptEdges, seeds };
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting helpers shared by the extension and the page.

  function formatRate(bps) {
    if (typeof bps !== 'number' || !isFinite(bps)) return '';
    const units = ['B/s', 'KB/s', 'MB/s', 'GB/s'];
    let v = bps;
    let u = 0;
    while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
    return (v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)) + ' ' + units[u];
  }

  function formatBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '';
    return formatRate(n).replace('/s', '');
  }

  /** Stroke width of an edge from its bytes/s (log scale, 1.5 … 7.5 px); 1.5 when unknown. */
  function edgeWidth(edge) {
    const bps = edge && edge.bytesPerSecond;
    if (typeof bps !== 'number' || !(bps > 0)) return 1.5;
    return Math.round((1.5 + Math.min(6, Math.max(0, Math.log10(bps) - 1) * 0.85)) * 10) / 10;
  }

  /** Short edge label: ports and, when known and non-zero, the rate; then what flows (l7), when known. */
  function edgeLabel(edge) {
    const ports = (edge.ports || []).slice(0, 3).map((p) => ':' + p).join(' ');
    const more = (edge.ports || []).length > 3 ? ' …' : '';
    const rate = edge.bytesPerSecond > 0 ? formatRate(edge.bytesPerSecond) : '';
    return [ports + more, rate, l7Label(edge)].filter(Boolean).join(' · ');
  }

  /** What flows on an edge (issue 14): `http 12.5 req/s 1 err/s p99 4.2 ms`, `tls example.com`; '' when unknown. */
  function l7Label(edge) {
    const l7 = edge && edge.l7;
    if (!l7 || !l7.protocol) return '';
    const parts = [l7.protocol];
    if (l7.sni) parts.push(l7.sni);
    if (l7.protocol !== 'tls') {
      parts.push(`${Math.round((l7.requestsPerSecond || 0) * 10) / 10} req/s`);
      if (l7.errorsPerSecond > 0) parts.push(`${Math.round(l7.errorsPerSecond * 10) / 10} err/s`);
      if (typeof l7.latencyP99Ms === 'number') parts.push(`p99 ${Math.round(l7.latencyP99Ms * 10) / 10} ms`);
    }
    return parts.join(' ');
  }

  // ---------------------------------------------------------------------------------------------
  // Stable layered layout: clients above the servers they call.
  //
  // 1. Layers: edges go client (source) → server (target). Cycles are broken by a DFS from the
  //    sources (ids in order) that drops back edges; then longest-path layering from the sources,
  //    and every pure client is pulled down to just above the highest server it calls.
  // 2. Order within a layer: a node seen before in the same layer keeps its previous x; a new node
  //    goes to the barycenter of its already placed neighbours above, else of its known neighbours below,
  //    else to its position in a fresh
  //    barycenter ordering (down/up/down sweeps, ties by rank then id). Overlaps are resolved with the
  //    least total displacement (pool-adjacent-violators), so nodes move only when they must.

  const DEFAULTS = {
    nodeHeight: 46, minNodeWidth: 118, maxNodeWidth: 250, charWidth: 7.3, padding: 22,
    hGap: 34, vGap: 92, margin: 36,
  };

  class LayeredLayout {
    constructor(options) {
      this.o = Object.assign({}, DEFAULTS, options || {});
      this.memory = new Map(); // id -> {layer, x}
    }

    reset() { this.memory.clear(); }

    nodeWidth(node) {
      const text = Math.max(String(node.label || node.id).length, String(node.labelMinor || '').length * 0.85);
      return Math.round(Math.min(this.o.maxNodeWidth, Math.max(this.o.minNodeWidth, text * this.o.charWidth + this.o.padding)));
    }

    /**
     * nodes: [{id, label, labelMinor, rank, ...}], edges: [{id, source, target, bytesPerSecond?}].
     * Returns {nodes: Map id → {id, x (centre), y (top), width, height, layer}, edges: [{id, source,
     * target, path, labelX, labelY, width, kind: 'down'|'up'|'flat'|'self'}], layers: [[id]], width, height}.
     */
    layout(nodes, edges) {
      const o = this.o;
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const ids = Array.from(byId.keys()).sort();
      const real = edges.filter((e) => byId.has(e.source) && byId.has(e.target));
      const layerOf = assignLayers(ids, real);
      const layerCount = ids.length ? Math.max.apply(null, ids.map((id) => layerOf.get(id))) + 1 : 0;
      const layers = Array.from({ length: layerCount }, () => []);
      for (const id of ids) layers[layerOf.get(id)].push(id);

      const width = new Map(ids.map((id) => [id, this.nodeWidth(byId.get(id))]));
      const up = new Map(ids.map((id) => [id, []]));   // neighbours in layers above
      const down = new Map(ids.map((id) => [id, []])); // neighbours in layers below
      for (const e of real) {
        if (e.source === e.target) continue;
        const a = layerOf.get(e.source);
        const b = layerOf.get(e.target);
        if (a < b) { down.get(e.source).push(e.target); up.get(e.target).push(e.source); }
        else if (b < a) { down.get(e.target).push(e.source); up.get(e.source).push(e.target); }
      }

      // Fresh ordering (no memory), as a fallback key for new nodes.
      const rankOf = (id) => String((byId.get(id) || {}).rank || '');
      const fresh = layers.map((layer) => layer.slice().sort((a, b) => cmp(rankOf(a), rankOf(b)) || cmp(a, b)));
      const spacing = o.minNodeWidth + o.hGap;
      const freshPos = new Map();
      const setFresh = (layer) => layer.forEach((id, i) => freshPos.set(id, (i - (layer.length - 1) / 2) * spacing));
      fresh.forEach(setFresh);
      const sweep = (range, neighbours) => {
        for (const l of range) {
          const keyed = fresh[l].map((id) => {
            const ns = neighbours.get(id);
            const key = ns.length ? avg(ns.map((n) => freshPos.get(n))) : freshPos.get(id);
            return { id, key };
          });
          keyed.sort((a, b) => a.key - b.key || cmp(rankOf(a.id), rankOf(b.id)) || cmp(a.id, b.id));
          fresh[l] = keyed.map((k) => k.id);
          setFresh(fresh[l]);
        }
      };
      const downRange = range(1, layerCount);
      const upRange = range(0, layerCount - 1).reverse();
      sweep(downRange, up);
      sweep(upRange, down);
      sweep(downRange, up);

      // Final positions, layer by layer, from memory first.
      const x = new Map();
      const out = new Map();
      const finalLayers = [];
      for (let l = 0; l < layerCount; l++) {
        const keyed = layers[l].map((id) => {
          const mem = this.memory.get(id);
          let key;
          if (mem && mem.layer === l) key = mem.x;
          else {
            const placed = up.get(id).filter((n) => x.has(n));
            const below = down.get(id).filter((n) => { const m = this.memory.get(n); return m && m.layer === layerOf.get(n); });
            key = placed.length ? avg(placed.map((n) => x.get(n)))
              : below.length ? avg(below.map((n) => this.memory.get(n).x))
                : freshPos.get(id);
          }
          return { id, key };
        });
        keyed.sort((a, b) => a.key - b.key || cmp(a.id, b.id));
        const placedXs = resolveOverlaps(keyed.map((k) => k.key), keyed.map((k) => width.get(k.id)), o.hGap);
        keyed.forEach((k, i) => x.set(k.id, placedXs[i]));
        finalLayers.push(keyed.map((k) => k.id));
      }

      // Normalize: left margin, top margin.
      let minX = Infinity;
      let maxX = -Infinity;
      for (const id of ids) {
        minX = Math.min(minX, x.get(id) - width.get(id) / 2);
        maxX = Math.max(maxX, x.get(id) + width.get(id) / 2);
      }
      if (!ids.length) { minX = 0; maxX = 0; }
      const shift = o.margin - minX;
      for (const id of ids) {
        const l = layerOf.get(id);
        out.set(id, {
          id, layer: l, width: width.get(id), height: o.nodeHeight,
          x: x.get(id) + shift, y: o.margin + l * (o.nodeHeight + o.vGap),
        });
      }
      // Memory is kept in the unshifted frame so that a node added on the left does not move the others.
      this.memory = new Map(ids.map((id) => [id, { layer: layerOf.get(id), x: x.get(id) }]));

      const routed = routeEdges(real, out, o);
      return {
        nodes: out,
        edges: routed,
        layers: finalLayers,
        width: Math.max(0, maxX - minX) + 2 * o.margin,
        height: layerCount ? o.margin * 2 + layerCount * o.nodeHeight + (layerCount - 1) * o.vGap : 2 * o.margin,
      };
    }
  }

  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function avg(xs) { return xs.reduce((s, v) => s + v, 0) / xs.length; }
  function range(a, b) { const r = []; for (let i = a; i < b; i++) r.push(i); return r; }

  /** Longest-path layering on the directed edges, cycle-safe (see above). Returns Map id → layer. */
  function assignLayers(ids, edges) {
    const succ = new Map(ids.map((id) => [id, new Set()]));
    for (const e of edges) if (e.source !== e.target) succ.get(e.source).add(e.target);
    const indeg = new Map(ids.map((id) => [id, 0]));
    for (const id of ids) for (const t of succ.get(id)) indeg.set(t, indeg.get(t) + 1);

    // Drop back edges found by an iterative DFS started from sources first, then everything else.
    const state = new Map(); // 1: on stack, 2: done
    const dag = new Map(ids.map((id) => [id, []]));
    const roots = ids.filter((id) => indeg.get(id) === 0).concat(ids.filter((id) => indeg.get(id) !== 0));
    for (const root of roots) {
      if (state.has(root)) continue;
      const stack = [[root, Array.from(succ.get(root)).sort(), 0]];
      state.set(root, 1);
      while (stack.length) {
        const top = stack[stack.length - 1];
        const [v, next] = top;
        if (top[2] >= next.length) { state.set(v, 2); stack.pop(); continue; }
        const w = next[top[2]++];
        const s = state.get(w);
        if (s === 1) continue; // back edge: dropped for layering
        dag.get(v).push(w);
        if (!s) { state.set(w, 1); stack.push([w, Array.from(succ.get(w)).sort(), 0]); }
      }
    }

    // Longest path from the sources (Kahn order).
    const pred = new Map(ids.map((id) => [id, []]));
    const deg = new Map(ids.map((id) => [id, 0]));
    for (const v of ids) for (const w of dag.get(v)) { pred.get(w).push(v); deg.set(w, deg.get(w) + 1); }
    const layer = new Map();
    const queue = ids.filter((id) => deg.get(id) === 0);
    const order = [];
    while (queue.length) {
      const v = queue.shift();
      order.push(v);
      layer.set(v, pred.get(v).length ? Math.max.apply(null, pred.get(v).map((p) => layer.get(p) + 1)) : 0);
      for (const w of dag.get(v)) {
        deg.set(w, deg.get(w) - 1);
        if (deg.get(w) === 0) queue.push(w);
      }
    }
    // Pull pure clients (no predecessors, some successors) down to just above their highest server.
    for (const v of order.slice().reverse()) {
      if (pred.get(v).length || !dag.get(v).length) continue;
      layer.set(v, Math.max(0, Math.min.apply(null, dag.get(v).map((w) => layer.get(w))) - 1));
    }
    // Compact: no empty layers.
    const used = Array.from(new Set(layer.values())).sort((a, b) => a - b);
    const index = new Map(used.map((l, i) => [l, i]));
    for (const id of ids) layer.set(id, index.get(layer.get(id)));
    return layer;
  }

  /**
   * Positions (centres) closest to `keys` (in order, least squares) such that neighbours do not
   * overlap: pool-adjacent-violators on key − offset.
   */
  function resolveOverlaps(keys, widths, gap) {
    const n = keys.length;
    const offset = new Array(n).fill(0);
    for (let i = 1; i < n; i++) offset[i] = offset[i - 1] + widths[i - 1] / 2 + gap + widths[i] / 2;
    const blocks = []; // {sum, count, start}
    for (let i = 0; i < n; i++) {
      blocks.push({ sum: keys[i] - offset[i], count: 1, start: i });
      while (blocks.length > 1) {
        const b = blocks[blocks.length - 1];
        const a = blocks[blocks.length - 2];
        if (a.sum / a.count <= b.sum / b.count) break;
        a.sum += b.sum;
        a.count += b.count;
        blocks.pop();
      }
    }
    const out = new Array(n);
    for (const b of blocks) {
      const y = b.sum / b.count;
      for (let i = b.start; i < b.start + b.count; i++) out[i] = y + offset[i];
    }
    return out;
  }

  /** SVG paths for edges: cubic curves from the bottom of the client to the top of the server, with
   * attachment points spread along the node's side in the order of the other ends. */
  function routeEdges(edges, boxes, o) {
    const outgoing = new Map();
    const incoming = new Map();
    const push = (map, key, e) => { if (!map.has(key)) map.set(key, []); map.get(key).push(e); };
    for (const e of edges) {
      if (e.source === e.target) continue;
      push(outgoing, e.source, e);
      push(incoming, e.target, e);
    }
    const attach = new Map(); // edge id + end → x
    const spread = (map, end, otherEnd) => {
      for (const [id, list] of map) {
        const box = boxes.get(id);
        list.sort((a, b) => boxes.get(a[otherEnd]).x - boxes.get(b[otherEnd]).x || cmp(a.id, b.id));
        const step = Math.min(28, (box.width * 0.8) / Math.max(1, list.length));
        list.forEach((e, i) => attach.set(e.id + end, box.x + (i - (list.length - 1) / 2) * step));
      }
    };
    spread(outgoing, '>s', 'target');
    spread(incoming, '>t', 'source');

    const r = (v) => Math.round(v * 10) / 10;
    return edges.map((e) => {
      const s = boxes.get(e.source);
      const t = boxes.get(e.target);
      const base = { id: e.id, source: e.source, target: e.target, width: edgeWidth(e), label: edgeLabel(e), closed: !!e.closed };
      if (e.source === e.target) {
        const x0 = s.x + s.width / 2;
        const y0 = s.y + s.height * 0.3;
        const y1 = s.y + s.height * 0.7;
        return Object.assign(base, {
          kind: 'self',
          path: `M${r(x0)},${r(y0)} C${r(x0 + 40)},${r(y0 - 14)} ${r(x0 + 40)},${r(y1 + 14)} ${r(x0 + 2)},${r(y1)}`,
          labelX: r(x0 + 36), labelY: r((y0 + y1) / 2),
        });
      }
      if (t.layer > s.layer) {
        const x0 = attach.get(e.id + '>s');
        const y0 = s.y + s.height;
        const x1 = attach.get(e.id + '>t');
        const y1 = t.y - 2;
        const dy = Math.max(30, (y1 - y0) * 0.5);
        // Label on the curve nearer the client, where edges of one server are still apart.
        const at = bezier([x0, y0], [x0, y0 + dy], [x1, y1 - dy], [x1, y1], 0.32);
        return Object.assign(base, {
          kind: 'down',
          path: `M${r(x0)},${r(y0)} C${r(x0)},${r(y0 + dy)} ${r(x1)},${r(y1 - dy)} ${r(x1)},${r(y1)}`,
          labelX: r(at[0]), labelY: r(at[1]),
        });
      }
      if (t.layer === s.layer) {
        // Same layer: an arc below the layer, from the side facing the target.
        const dir = t.x >= s.x ? 1 : -1;
        const x0 = s.x + dir * s.width * 0.25;
        const x1 = t.x - dir * t.width * 0.25;
        const y0 = s.y + s.height;
        const y1 = t.y + t.height + 2;
        const depth = Math.min(o.vGap * 0.6, 24 + Math.abs(x1 - x0) * 0.15);
        return Object.assign(base, {
          kind: 'flat',
          path: `M${r(x0)},${r(y0)} C${r(x0)},${r(y0 + depth)} ${r(x1)},${r(y1 + depth)} ${r(x1)},${r(y1)}`,
          labelX: r((x0 + x1) / 2), labelY: r(Math.max(y0, y1) + depth * 0.75),
        });
      }
      // Upward (a back edge of a cycle): leave from the top of the client, enter the server's bottom.
      const x0 = s.x + s.width * 0.3;
      const y0 = s.y;
      const x1 = t.x + t.width * 0.3;
      const y1 = t.y + t.height + 2;
      const dy = Math.max(30, (y0 - y1) * 0.5);
      return Object.assign(base, {
        kind: 'up',
        path: `M${r(x0)},${r(y0)} C${r(x0 + 30)},${r(y0 - dy)} ${r(x1 + 30)},${r(y1 + dy)} ${r(x1)},${r(y1)}`,
        labelX: r((x0 + x1) / 2 + 22), labelY: r((y0 + y1) / 2),
      });
    });
  }

  function bezier(p0, p1, p2, p3, t) {
    const u = 1 - t;
    const f = (i) => u * u * u * p0[i] + 3 * u * u * t * p1[i] + 3 * u * t * t * p2[i] + t * t * t * p3[i];
    return [f(0), f(1)];
  }

  return {
    TopologyState, LayeredLayout, workspaceScope, isUnder, inWorkspace, assignLayers, resolveOverlaps,
    formatRate, formatBytes, edgeWidth, edgeLabel, l7Label,
  };
}));
