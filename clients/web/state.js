'use strict';
// Topology state for Periscope clients: snapshot + `topology/changed` application, client-side
// workspace scope, formatting (the layout is layout.js). No dependencies, no VS Code API: the same file is
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

  /** Short edge label: ports and, when known and non-zero, the rate. */
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

  return {
    TopologyState, workspaceScope, isUnder, inWorkspace, formatRate, formatBytes, edgeWidth, edgeLabel, l7Label,
  };
}));
