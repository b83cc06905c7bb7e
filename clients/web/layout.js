'use strict';
// The map's layout, shared by the browser page and the VS Code extension: a stable layered layout (clients
// above the servers they call), pseudo nodes in a column beside the tiers, edges routed between the boxes.
// Pure: no DOM. In Node `require`d (with state.js); on the page loaded after state.js as window.PeriscopeLayout.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory(require('./state.js'));
  else root.PeriscopeLayout = factory(root.PeriscopeState);
}(typeof self !== 'undefined' ? self : this, function (S) {
  const { edgeWidth, edgeLabel } = S;

  // ---------------------------------------------------------------------------------------------
  // Stable layered layout: clients above the servers they call, pseudo nodes beside the tiers.
  //
  // 1. Tiers: only real nodes (not pseudo) are layered. Edges go client (source) → server (target).
  //    Cycles are broken by a DFS from the sources (ids in order) that drops back edges; then
  //    longest-path layering from the sources, and every pure client is pulled down to just above
  //    the highest server it calls.
  // 2. An edge that spans several tiers gets a narrow placeholder in each tier it crosses, ordered
  //    and spaced like a node, so the curve passes between boxes, never through one.
  // 3. Order within a tier: a node seen before in the same tier keeps its previous x; a new node
  //    goes to the barycenter of its already placed neighbours above, else of its known neighbours
  //    below, else to its position in a fresh barycenter ordering (down/up/down sweeps, ties by rank
  //    then id). Overlaps are resolved with the least total displacement (pool-adjacent-violators).
  // 4. Pseudo nodes (the Internet, remote peers, Uncontained, unattributed sockets) stand in a column
  //    to the right of the tiers, each near the height of its neighbours. Their edges run along the
  //    empty band between two tiers and up or down a gutter beside the column: no box is crossed.

  const DEFAULTS = {
    nodeHeight: 46, minNodeWidth: 118, maxNodeWidth: 280, charWidth: 7.3, padding: 22,
    hGap: 34, vGap: 92, margin: 36, dummyWidth: 14, columnGap: 70, pseudoGap: 16,
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
     * nodes: [{id, label, labelMinor, rank, pseudo, ...}], edges: [{id, source, target, bytesPerSecond?}].
     * Returns {nodes: Map id → {id, x (centre), y (top), width, height, layer, column?}, edges: [{id, source,
     * target, path, labelX, labelY, width, kind: 'down'|'up'|'flat'|'self'|'side'}], layers: [[id]], width, height}.
     * Pseudo nodes beside the tiers have `column: true` and the layer nearest to them.
     */
    layout(nodes, edges) {
      const o = this.o;
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const ids = Array.from(byId.keys()).sort();
      const real = edges.filter((e) => byId.has(e.source) && byId.has(e.target));
      let side = new Set(ids.filter((id) => byId.get(id).pseudo));
      if (side.size === ids.length) side = new Set();
      const tierIds = ids.filter((id) => !side.has(id));
      const tierEdges = real.filter((e) => !side.has(e.source) && !side.has(e.target));
      const layerOf = assignLayers(tierIds, tierEdges);
      const layerCount = tierIds.length ? Math.max.apply(null, tierIds.map((id) => layerOf.get(id))) + 1 : 0;
      const layers = Array.from({ length: layerCount }, () => []);
      for (const id of tierIds) layers[layerOf.get(id)].push(id);

      const width = new Map(ids.map((id) => [id, this.nodeWidth(byId.get(id))]));
      const up = new Map(tierIds.map((id) => [id, []]));   // neighbours in layers above
      const down = new Map(tierIds.map((id) => [id, []])); // neighbours in layers below
      const link = (a, b) => { down.get(a).push(b); up.get(b).push(a); }; // a above b
      const dummies = new Map(); // edge id -> [dummy ids, top to bottom]
      for (const e of tierEdges) {
        if (e.source === e.target) continue;
        const a = layerOf.get(e.source);
        const b = layerOf.get(e.target);
        if (a === b) continue;
        const [top, bottom] = a < b ? [e.source, e.target] : [e.target, e.source];
        const lt = Math.min(a, b);
        const lb = Math.max(a, b);
        let prev = top;
        const chain = [];
        for (let l = lt + 1; l < lb; l++) {
          const d = `~${e.id}~${l}`;
          chain.push(d);
          layers[l].push(d);
          layerOf.set(d, l);
          width.set(d, o.dummyWidth);
          up.set(d, []);
          down.set(d, []);
          link(prev, d);
          prev = d;
        }
        link(prev, bottom);
        if (chain.length) dummies.set(e.id, chain);
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
        finalLayers.push(keyed.map((k) => k.id).filter((id) => byId.has(id)));
      }

      // Normalize: left margin, top margin (room for a band above the first tier when pseudo edges use it).
      let minX = Infinity;
      let maxX = -Infinity;
      for (const [id, cx] of x) {
        minX = Math.min(minX, cx - width.get(id) / 2);
        maxX = Math.max(maxX, cx + width.get(id) / 2);
      }
      if (!x.size) { minX = 0; maxX = 0; }
      const shift = o.margin - minX;
      const top = side.size ? Math.max(o.margin, o.vGap / 2 + 40) : o.margin;
      const tierY = (l) => top + l * (o.nodeHeight + o.vGap);
      const out = new Map();
      const points = new Map(); // dummy id -> x
      for (const [id, cx] of x) {
        if (!byId.has(id)) { points.set(id, cx + shift); continue; }
        const l = layerOf.get(id);
        out.set(id, { id, layer: l, width: width.get(id), height: o.nodeHeight, x: cx + shift, y: tierY(l) });
      }
      // Memory is kept in the unshifted frame so that a node added on the left does not move the others.
      this.memory = new Map(tierIds.map((id) => [id, { layer: layerOf.get(id), x: x.get(id) }]));

      // The pseudo column: each pseudo node near the mean height of its tier neighbours, no overlaps.
      const tiersRight = x.size ? maxX - minX + o.margin : o.margin;
      const columnLeft = tiersRight + (x.size ? o.columnGap : 0);
      const sideIds = ids.filter((id) => side.has(id));
      const wanted = sideIds.map((id) => {
        const ys = [];
        for (const e of real) {
          const other = e.source === id ? e.target : e.target === id ? e.source : null;
          if (other && out.has(other) && !side.has(other)) ys.push(out.get(other).y);
        }
        const mem = this.memory.get(id);
        return { id, key: mem && mem.column ? mem.y : ys.length ? avg(ys) : top };
      });
      wanted.sort((a, b) => a.key - b.key || cmp(a.id, b.id));
      const ys = resolveOverlaps(wanted.map((w) => w.key + o.nodeHeight / 2), wanted.map(() => o.nodeHeight), o.pseudoGap)
        .map((v) => v - o.nodeHeight / 2);
      const lift = ys.length ? Math.max(0, top - Math.min.apply(null, ys)) : 0;
      let columnWidth = 0;
      wanted.forEach((w, i) => {
        const wd = width.get(w.id);
        columnWidth = Math.max(columnWidth, wd);
        const y = ys[i] + lift;
        const nearest = layerCount ? Math.max(0, Math.min(layerCount - 1, Math.round((y - top) / (o.nodeHeight + o.vGap)))) : 0;
        out.set(w.id, { id: w.id, layer: nearest, column: true, width: wd, height: o.nodeHeight, x: columnLeft + wd / 2, y });
        this.memory.set(w.id, { column: true, y: y - lift });
      });

      const routed = routeEdges(real, out, points, dummies, { o, tierY, layerCount, gutter: columnLeft - o.columnGap / 2, columnRight: columnLeft + columnWidth });
      let bottom = layerCount ? tierY(layerCount - 1) + o.nodeHeight : top;
      for (const b of out.values()) bottom = Math.max(bottom, b.y + b.height);
      if (side.size) bottom += o.vGap / 2; // the band below the last tier
      return {
        nodes: out,
        edges: routed,
        layers: finalLayers,
        width: (side.size ? columnLeft + columnWidth + 40 : tiersRight) + o.margin,
        height: bottom + o.margin,
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

  /** SVG paths for edges (see the layout notes above): cubic curves from the bottom of the client to the
   * top of the server through the placeholders of the tiers they cross, attachment points spread along
   * a node's side in the order of the other ends; pseudo nodes' edges along a band and the gutter. */
  function routeEdges(edges, boxes, points, dummies, ctx) {
    const o = ctx.o;
    const r = (v) => Math.round(v * 10) / 10;
    const outgoing = new Map();
    const incoming = new Map();
    const push = (map, key, e) => { if (!map.has(key)) map.set(key, []); map.get(key).push(e); };
    const column = (id) => !!boxes.get(id).column;
    for (const e of edges) {
      if (e.source === e.target) continue;
      push(outgoing, e.source, e);
      push(incoming, e.target, e);
    }
    // Where the other end lies, seen from a node: the next placeholder when there is one.
    const towards = (e, from) => {
      const chain = dummies.get(e.id);
      const other = e.source === from ? e.target : e.source;
      if (chain && chain.length) {
        const fromBox = boxes.get(from);
        const otherBox = boxes.get(other);
        const d = fromBox.layer < otherBox.layer ? chain[0] : chain[chain.length - 1];
        return points.get(d);
      }
      return column(other) ? Infinity : boxes.get(other).x;
    };
    const attach = new Map(); // `${edge id}>s|>t` → x
    const spread = (map, end) => {
      for (const [id, list] of map) {
        const box = boxes.get(id);
        list.sort((a, b) => towards(a, id) - towards(b, id) || cmp(a.id, b.id));
        const step = Math.min(28, (box.width * 0.8) / Math.max(1, list.length));
        list.forEach((e, i) => attach.set(e.id + end, box.x + (i - (list.length - 1) / 2) * step));
      }
    };
    spread(outgoing, '>s');
    spread(incoming, '>t');
    const bandUse = new Map(); // band y → edges routed along it so far (to keep them apart)
    const bandY = (y) => { const n = bandUse.get(y) || 0; bandUse.set(y, n + 1); return y + ((n % 7) - 3) * 6; };

    // Vertical curve through a list of points [x, yTop, yBottom] between two nodes.
    const through = (x0, y0, stops, x1, y1) => {
      let d = `M${r(x0)},${r(y0)}`;
      let cx = x0;
      let cy = y0;
      let label = null;
      const dir = y1 >= y0 ? 1 : -1;
      const hop = (nx, ny) => {
        const dy = Math.max(24, Math.abs(ny - cy) * 0.5) * dir;
        if (!label) {
          const at = bezier([cx, cy], [cx, cy + dy], [nx, ny - dy], [nx, ny], 0.5);
          label = at;
        }
        d += ` C${r(cx)},${r(cy + dy)} ${r(nx)},${r(ny - dy)} ${r(nx)},${r(ny)}`;
        cx = nx;
        cy = ny;
      };
      for (const [sx, a, b] of stops) {
        hop(sx, a);
        d += ` L${r(sx)},${r(b)}`;
        cy = b;
      }
      hop(x1, y1);
      return { d, label };
    };

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
      if (s.column || t.column) {
        if (s.column && t.column) {
          // Both beside the tiers: an arc to the right of the column.
          const xr = ctx.columnRight + 24;
          const y0 = s.y + s.height / 2;
          const y1 = t.y + t.height / 2;
          return Object.assign(base, {
            kind: 'side',
            path: `M${r(s.x + s.width / 2)},${r(y0)} C${r(xr)},${r(y0)} ${r(xr)},${r(y1)} ${r(t.x + t.width / 2 + 2)},${r(y1)}`,
            labelX: r(xr + 4), labelY: r((y0 + y1) / 2),
          });
        }
        // One end in a tier: leave it vertically into the band beside its tier, run along the band to the
        // gutter, along the gutter to the pseudo node's height, and into its left side.
        const tier = s.column ? t : s;
        const pseudo = s.column ? s : t;
        const gx = ctx.gutter;
        const ax = s.column ? attach.get(e.id + '>t') : attach.get(e.id + '>s');
        const py = pseudo.y + pseudo.height / 2;
        const px = pseudo.x - pseudo.width / 2;
        const by = s.column ? bandY(tier.y - o.vGap / 2) : bandY(tier.y + tier.height + o.vGap / 2);
        const ty = s.column ? tier.y - 2 : tier.y + tier.height;
        const k = 10; // corner radius
        const hDir = gx >= ax ? 1 : -1;
        const vDir = py >= by ? 1 : -1;
        // From the tier node to the pseudo node; reversed when the pseudo node is the client.
        const legs = `M${r(ax)},${r(ty)} L${r(ax)},${r(by - (s.column ? -k : k))} Q${r(ax)},${r(by)} ${r(ax + hDir * k)},${r(by)}` +
          ` L${r(gx - hDir * k)},${r(by)} Q${r(gx)},${r(by)} ${r(gx)},${r(by + vDir * k)}` +
          ` L${r(gx)},${r(py - vDir * k)} Q${r(gx)},${r(py)} ${r(gx + k)},${r(py)} L${r(px - 2)},${r(py)}`;
        const path = s.column ? reversePath(ax, ty, by, gx, py, px, k, hDir, vDir, r) : legs;
        return Object.assign(base, {
          kind: 'side', path,
          labelX: r(ax + (gx - ax) * 0.5), labelY: r(by),
        });
      }
      const chain = (dummies.get(e.id) || []).map((d) => points.get(d));
      if (t.layer > s.layer) {
        const stops = chain.map((px, i) => [px, ctx.tierY(s.layer + 1 + i) - 2, ctx.tierY(s.layer + 1 + i) + o.nodeHeight]);
        const p = through(attach.get(e.id + '>s'), s.y + s.height, stops, attach.get(e.id + '>t'), t.y - 2);
        return Object.assign(base, { kind: 'down', path: p.d, labelX: r(p.label[0]), labelY: r(p.label[1]) });
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
      // Upward (a back edge of a cycle): leave from the top of the client, enter the server's bottom,
      // through the placeholders of the tiers in between (listed top to bottom).
      const stops = chain.slice().reverse().map((px, i) => {
        const l = s.layer - 1 - i;
        return [px, ctx.tierY(l) + o.nodeHeight, ctx.tierY(l) - 2];
      });
      const p = through(attach.get(e.id + '>s'), s.y, stops, attach.get(e.id + '>t'), t.y + t.height + 2);
      return Object.assign(base, { kind: 'up', path: p.d, labelX: r(p.label[0] + 14), labelY: r(p.label[1]) });
    });
  }

  // The path of a side edge whose client is the pseudo node: from its left side to the gutter, along the
  // band, down (or up) into the tier node.
  function reversePath(ax, ty, by, gx, py, px, k, hDir, vDir, r) {
    return `M${r(px)},${r(py)} L${r(gx + k)},${r(py)} Q${r(gx)},${r(py)} ${r(gx)},${r(py - vDir * k)}` +
      ` L${r(gx)},${r(by + vDir * k)} Q${r(gx)},${r(by)} ${r(gx - hDir * k)},${r(by)}` +
      ` L${r(ax + hDir * k)},${r(by)} Q${r(ax)},${r(by)} ${r(ax)},${r(by + k)} L${r(ax)},${r(ty)}`;
  }

  function bezier(p0, p1, p2, p3, t) {
    const u = 1 - t;
    const f = (i) => u * u * u * p0[i] + 3 * u * u * t * p1[i] + 3 * u * t * t * p2[i] + t * t * t * p3[i];
    return [f(0), f(1)];
  }

  return { LayeredLayout, assignLayers, resolveOverlaps };
}));
