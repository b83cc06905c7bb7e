'use strict';
// src/state.js (and src/session.js): state application, workspace scope, layered layout — as pure
// functions, then live: a python client/server pair appears through a real subscription and the
// layout puts the client above the server.
const test = require('node:test');
const assert = require('node:assert/strict');
const S = require('../src/state');
const { PeriscopeSession } = require('../src/session');
const { daemonMissing, startDaemon, startPair, waitFor } = require('./helpers');

const node = (id, extra = {}) => Object.assign({ id, label: id, labelMinor: 'pid', kind: 'process', pseudo: false, rank: id, metadata: {}, metrics: {} }, extra);
const edge = (source, target, extra = {}) => Object.assign({ id: `${source}->${target}`, source, target, ports: [80], protocols: ['tcp'], connections: 1, closed: false }, extra);

test('TopologyState: snapshot, ordered changes, gap detection, reset, foreign subscriptions', () => {
  const st = new S.TopologyState();
  st.loadSnapshot({ view: 'processes', subscription: 's1', revision: 5, nodes: [node('a'), node('b')], edges: [edge('a', 'b')] });
  assert.deepEqual(st.nodeList().map((n) => n.id), ['a', 'b']);
  const empty = { nodes: [], edges: [] };
  let r = st.applyChange({ subscription: 's1', previousRevision: 5, revision: 7,
    added: { nodes: [node('c')], edges: [edge('c', 'b')] }, updated: { nodes: [node('a', { label: 'A' })], edges: [] },
    removed: { nodes: [], edges: ['a->b'] } });
  assert.deepEqual(r, { applied: true, reset: false });
  assert.equal(st.revision, 7);
  assert.equal(st.nodes.get('a').label, 'A');
  assert.deepEqual(st.edgeList().map((e) => e.id), ['c->b']);
  assert.deepEqual(st.applyChange({ subscription: 's2', previousRevision: 7, revision: 8, added: empty, updated: empty, removed: empty }),
    { applied: false, reason: 'subscription' });
  assert.deepEqual(st.applyChange({ subscription: 's1', previousRevision: 6, revision: 9, added: empty, updated: empty, removed: empty }),
    { applied: false, reason: 'gap' });
  assert.equal(st.revision, 7);
  r = st.applyChange({ subscription: 's1', previousRevision: 7, revision: 12, reset: true,
    added: { nodes: [node('z')], edges: [] }, updated: empty, removed: { nodes: [], edges: [] } });
  assert.deepEqual(r, { applied: true, reset: true });
  assert.deepEqual(st.nodeList().map((n) => n.id), ['z']);
  assert.equal(st.edges.size, 0);
  assert.equal(st.revision, 12);
});

test('workspace scope: processes under the folder (cwd or executable), their direct peers, edges touching them', () => {
  const nodes = [
    node('mine', { metadata: { cwd: '/home/u/proj', executable: '/usr/bin/python3' } }),
    node('built', { metadata: { cwd: '/', executable: '/home/u/proj/target/app' } }),
    node('db', { metadata: { cwd: '/var/lib/pg', executable: '/usr/bin/postgres' } }),
    node('sibling', { metadata: { cwd: '/home/u/proj2' } }),
    node('other', { metadata: { cwd: '/srv' } }),
    node('pseudo:internet', { kind: 'internet', pseudo: true, metadata: {} }),
  ];
  const edges = [edge('mine', 'db'), edge('built', 'pseudo:internet'), edge('other', 'db'), edge('sibling', 'other')];
  const scoped = S.workspaceScope(nodes, edges, ['/home/u/proj/']);
  assert.deepEqual(Array.from(scoped.seeds).sort(), ['built', 'mine']);
  assert.deepEqual(scoped.nodes.map((n) => n.id).sort(), ['built', 'db', 'mine', 'pseudo:internet']);
  assert.deepEqual(scoped.edges.map((e) => e.id).sort(), ['built->pseudo:internet', 'mine->db']);
  assert.equal(S.workspaceScope(nodes, edges, []).nodes.length, 0);
  assert.equal(S.isUnder('/home/u/proj2/x', '/home/u/proj'), false);
  assert.equal(S.isUnder('/home/u/proj', '/home/u/proj'), true);
});

test('layout: clients above servers, chains, cycles do not hang, no overlaps', () => {
  const nodes = ['c1', 'c2', 'web', 'db', 'x', 'y', 'lonely', 'self'].map((id) => node(id));
  const edges = [edge('c1', 'web'), edge('c2', 'web'), edge('web', 'db'), edge('c1', 'db'), edge('x', 'y'), edge('y', 'x'), edge('self', 'self')];
  const L = new S.LayeredLayout();
  const out = L.layout(nodes, edges);
  const layer = (id) => out.nodes.get(id).layer;
  assert.ok(layer('c1') < layer('web') && layer('c2') < layer('web') && layer('web') < layer('db'));
  assert.equal(layer('c1'), layer('web') - 1, 'a pure client sits just above the highest server it calls');
  assert.notEqual(layer('x'), layer('y'));
  assert.equal(out.edges.length, edges.length);
  assert.equal(out.edges.find((e) => e.id === 'self->self').kind, 'self');
  assert.deepEqual(out.edges.filter((e) => e.kind === 'up').length, 1);
  for (const l of out.layers) {
    const boxes = l.map((id) => out.nodes.get(id)).sort((a, b) => a.x - b.x);
    for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i].x - boxes[i].width / 2 >= boxes[i - 1].x + boxes[i - 1].width / 2, 'no overlap');
  }
  // A big cycle and a long chain terminate and layer.
  const ring = Array.from({ length: 50 }, (_, i) => node('n' + i));
  const ringEdges = ring.map((n, i) => edge(n.id, 'n' + ((i + 1) % 50)));
  const big = new S.LayeredLayout().layout(ring, ringEdges);
  assert.equal(big.nodes.size, 50);
  assert.equal(big.layers.length, 50);
});

test('layout: stable across updates (existing nodes keep their order and positions when others come and go)', () => {
  const L = new S.LayeredLayout();
  const servers = ['s1', 's2', 's3'].map((id) => node(id));
  const clients = ['a', 'b', 'c', 'd'].map((id) => node(id));
  const edges = [edge('a', 's1'), edge('b', 's2'), edge('c', 's3'), edge('d', 's2')];
  const first = L.layout(servers.concat(clients), edges);
  const xsOf = (out, ids) => ids.map((id) => out.nodes.get(id).x);
  const order = (out, l) => out.layers[l].slice();
  const before = { top: order(first, 0), bottom: order(first, 1) };
  // Add a client of s1 and remove d: the others keep their relative order and (unshifted) position.
  const second = L.layout(servers.concat(clients.filter((n) => n.id !== 'd'), [node('e')]),
    edges.filter((e) => e.source !== 'd').concat([edge('e', 's1')]));
  assert.deepEqual(order(second, 1), before.bottom);
  assert.deepEqual(order(second, 0).filter((id) => id !== 'e'), before.top.filter((id) => id !== 'd'));
  const shift = (a, b) => xsOf(b, ['s1', 's2', 's3']).map((x, i) => x - xsOf(a, ['s1', 's2', 's3'])[i]);
  const d = shift(first, second);
  assert.ok(d.every((v) => Math.abs(v - d[0]) < 1e-6), `servers moved together (only the global shift): ${d}`);
  // The new client lands next to its server.
  const e = second.nodes.get('e').x;
  const s1 = second.nodes.get('s1').x;
  assert.ok(Math.abs(e - s1) < 260, 'new client near its server');
  // Same input twice: same output.
  const third = L.layout(servers.concat(clients.filter((n) => n.id !== 'd'), [node('e')]),
    edges.filter((e) => e.source !== 'd').concat([edge('e', 's1')]));
  assert.deepEqual(Array.from(third.nodes.values()), Array.from(second.nodes.values()));
});

test('edge width and labels from bytes/s', () => {
  assert.equal(S.edgeWidth({}), 1.5);
  assert.equal(S.edgeWidth({ bytesPerSecond: 0 }), 1.5);
  assert.ok(S.edgeWidth({ bytesPerSecond: 1e6 }) > S.edgeWidth({ bytesPerSecond: 1e3 }));
  assert.ok(S.edgeWidth({ bytesPerSecond: 1e12 }) <= 7.5);
  assert.equal(S.edgeLabel(edge('a', 'b', { ports: [8080], bytesPerSecond: 12345 })), ':8080 · 12.3 KB/s');
  assert.equal(S.edgeLabel(edge('a', 'b', { ports: [80], l7: { protocol: 'http', requestsPerSecond: 12.34,
    errorsPerSecond: 1, latencyP99Ms: 4.21, requests: 100, errors: 3 } })), ':80 · http 12.3 req/s 1 err/s p99 4.2 ms');
  assert.equal(S.l7Label({ l7: { protocol: 'tls', sni: 'example.com', requestsPerSecond: 0 } }), 'tls example.com');
  assert.equal(S.l7Label({}), '');
  assert.equal(S.formatRate(999), '999 B/s');
});

test('live daemon: the subscription delivers the pair\'s edge; scope keeps it; layout puts the client above the server',
  { skip: daemonMissing(), timeout: 30000 }, async (t) => {
    const daemon = await startDaemon({ collectors: true });
    t.after(() => daemon.stop());
    // Subscribe first, then start the pair: the edge must arrive as a change, not in the snapshot.
    const session = new PeriscopeSession({ socketPath: daemon.socket, folders: [], scope: false, minInterval: 0 });
    t.after(() => session.close());
    await session.start();
    await waitFor('the subscription snapshot', () => session.state.subscription !== null, 10000);
    const snapshotRevision = session.state.revision;
    const pair = await startPair();
    t.after(() => pair.stop());

    const find = (pid) => session.state.nodeList().find((n) => n.metadata && n.metadata.pid === pid);
    const found = await waitFor('the client→server edge', () => {
      const c = find(pair.client.pid);
      const s = find(pair.server.pid);
      const e = c && s && session.state.edges.get(`${c.id}->${s.id}`);
      return e && { c, s, e };
    }, 15000);
    assert.ok(session.state.revision > snapshotRevision, 'state advanced through topology/changed');
    assert.ok(session.notifications > 0);
    assert.ok(found.e.ports.includes(pair.server.port));
    assert.equal(found.s.metadata.cwd, pair.workspace);

    // Workspace scope: both ends are in the workspace; a foreign folder keeps neither.
    session.setFolders([pair.workspace]);
    session.setScope(true);
    const model = session.model();
    assert.deepEqual(model.nodes.map((n) => n.id).sort(), [found.c.id, found.s.id].sort());
    assert.deepEqual(model.edges.map((e) => e.id), [found.e.id]);
    assert.deepEqual(model.scope.seeds, [found.c.id, found.s.id].sort());
    session.setFolders(['/nonexistent/workspace']);
    assert.equal(session.model().nodes.some((n) => n.id === found.c.id), false);

    const out = new S.LayeredLayout().layout(model.nodes, model.edges);
    const cBox = out.nodes.get(found.c.id);
    const sBox = out.nodes.get(found.s.id);
    assert.ok(cBox.layer < sBox.layer && cBox.y + cBox.height < sBox.y, 'client drawn above its server');

    // The whole (unscoped) view lays out too, whatever else runs on this host.
    session.setScope(false);
    const all = session.model();
    const whole = new S.LayeredLayout().layout(all.nodes, all.edges);
    assert.equal(whole.nodes.size, all.nodes.length);
    assert.ok(whole.nodes.get(found.c.id).layer < whole.nodes.get(found.s.id).layer);

    // node/get through the session: the server's inbound connection from the client.
    const details = await session.details(found.s.id);
    assert.ok(details.details.inbound.some((row) => row.peer === found.c.id), JSON.stringify(details).slice(0, 400));

    // The client exits: its edge goes (or is marked closed by the retention rule).
    pair.client.stop();
    await waitFor('the edge closed or removed', () => {
      const e = session.state.edges.get(found.e.id);
      return !e || e.closed;
    }, 15000);
  });
