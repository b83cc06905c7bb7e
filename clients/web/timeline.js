// The map page's time control (issue 13; SPEC.md section 18): show the map as it was at a past instant
// (`topology/get` with `at`; the live subscription ends while the page looks at the past and starts again
// on "back to live"), and highlight the changes since an instant (`topology/diff` from that instant to the
// instant shown): added nodes and edges marked, removed ones drawn faded and dashed as they were.
// Instants are what the daemon reads: RFC 3339, relative (`-10m`, `1h30m`), `now`; the slider picks
// minutes before now. The daemon's errors (before the oldest history kept, history off) are shown as text.
// window.PeriscopeTimeline.create(hooks) → TimeControl; map.js owns the map, this file only its history part.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);

  /** HH:MM:SS (local time) of an RFC 3339 instant; the text itself when it cannot be read. */
  function clock(instant) {
    const d = new Date(instant);
    if (isNaN(d.getTime())) return String(instant);
    const p = (n) => String(n).padStart(2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  /** What the person typed, as an instant param: null for live (empty, `live`, `now`). */
  function readInstant(text) {
    const t = String(text || '').trim();
    return !t || /^(live|now)$/i.test(t) ? null : t;
  }

  /** The slider's value (minutes before now) as a fixed RFC 3339 instant, so re-renders keep the same instant. */
  function sliderInstant(minutesAgo, nowMillis) {
    return new Date((nowMillis === undefined ? Date.now() : nowMillis) - minutesAgo * 60000).toISOString();
  }

  class TimeControl {
    /**
     * hooks: {request(method, params) → Promise, query() → {view, filter?, options?},
     *         showPast(result), goLive(), changed()}; all called on the page's thread.
     */
    constructor(hooks) {
      this.hooks = hooks;
      this.at = null; // the daemon's RFC 3339 instant of the map shown; null: live
      this.diff = null; // topology/diff result shown as highlights, null: none
      this.since = null; // the instant typed for "changes since"
      this.error = null;
      this.busy = false;
      this.seq = 0;
      this.wire();
    }

    get live() { return this.at === null; }

    wire() {
      const at = $('time-at');
      at.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.goTo(readInstant(at.value)); });
      const slider = $('time-slider');
      slider.addEventListener('input', () => { at.value = Number(slider.value) ? `-${slider.value}m` : ''; });
      slider.addEventListener('change', () => {
        const m = Number(slider.value);
        this.goTo(m ? sliderInstant(m) : null);
      });
      $('time-live').addEventListener('click', () => this.goTo(null));
      const since = $('since');
      since.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.compare(readInstant(since.value)); });
      $('since-clear').addEventListener('click', () => this.compare(null));
    }

    /** Shows the map at `instant` (null: back to live). On an error the map stays as it was. */
    async goTo(instant) {
      const seq = ++this.seq;
      if (instant === null) {
        this.at = null;
        this.error = null;
        $('time-at').value = '';
        $('time-slider').value = 0;
        this.hooks.changed();
        await this.hooks.goLive(); // subscribes again; the diff follows the new snapshot
        return;
      }
      this.busy = true;
      this.hooks.changed();
      try {
        const r = await this.hooks.request('topology/get', Object.assign(this.hooks.query(), { at: instant }));
        if (seq !== this.seq) return;
        this.at = r.at;
        this.error = null;
        this.hooks.showPast(r);
        await this.refreshDiff();
      } catch (err) {
        if (seq === this.seq) this.error = `topology/get at ${instant}: ${err.message}`;
      } finally {
        if (seq === this.seq) { this.busy = false; this.hooks.changed(); }
      }
    }

    /** The view, filter or options changed: the past map is rendered again at the same instant. */
    async reload() {
      if (this.at !== null) await this.goTo(this.at);
      else await this.refreshDiff();
    }

    /** Highlights the changes since `instant` (null: no highlight). */
    async compare(instant) {
      this.since = instant;
      if (instant === null) { this.diff = null; $('since').value = ''; this.error = null; }
      await this.refreshDiff();
      this.hooks.changed();
    }

    /** Asks for the diff again (since → the instant shown, or now); keeps the old one on an error. */
    async refreshDiff() {
      if (this.since === null) return;
      const params = Object.assign(this.hooks.query(), { from: this.since });
      if (this.at !== null) params.to = this.at;
      try {
        this.diff = await this.hooks.request('topology/diff', params);
        this.error = null;
      } catch (err) {
        this.diff = null;
        this.error = `topology/diff since ${this.since}: ${err.message}`;
      }
    }

    /**
     * The nodes and edges to draw: those of the state plus, with a diff, the removed ones (as they were),
     * and the ids to mark: {nodes, edges, added: Set, removed: Set}.
     */
    decorate(nodes, edges) {
      const added = new Set();
      const removed = new Set();
      if (!this.diff) return { nodes, edges, added, removed };
      const present = new Set(nodes.map((n) => n.id).concat(edges.map((e) => e.id)));
      for (const x of this.diff.added.nodes.concat(this.diff.added.edges)) if (present.has(x.id)) added.add(x.id);
      const ghostNodes = this.diff.removed.nodes.filter((n) => !present.has(n.id));
      const ids = new Set(nodes.map((n) => n.id).concat(ghostNodes.map((n) => n.id)));
      const ghostEdges = this.diff.removed.edges.filter((e) => !present.has(e.id) && ids.has(e.source) && ids.has(e.target));
      for (const x of ghostNodes.concat(ghostEdges)) removed.add(x.id);
      return { nodes: nodes.concat(ghostNodes), edges: edges.concat(ghostEdges), added, removed };
    }

    /** The toolbar's time part and the banner under it. */
    render() {
      const banner = $('time-banner');
      const parts = [];
      if (this.at !== null) parts.push(`Viewing ${clock(this.at)} (${this.at}) — the live map is paused.`);
      if (this.diff) {
        const d = this.diff;
        const n = (x) => x.nodes.length + x.edges.length;
        parts.push(`Changes since ${clock(d.from)}: +${n(d.added)} added, −${n(d.removed)} removed, ${n(d.updated)} changed` +
          ` (${d.added.edges.length} new edges, ${d.removed.edges.length} gone).`);
      }
      banner.hidden = !parts.length;
      banner.dataset.at = this.at || '';
      $('time-text').textContent = parts.join(' ');
      $('time-live').hidden = this.at === null;
      $('since-clear').hidden = !this.diff && this.since === null;
      $('time-at').classList.toggle('past', this.at !== null);
      const err = $('time-error');
      err.hidden = !this.error;
      err.textContent = this.error || '';
    }
  }

  window.PeriscopeTimeline = { create: (hooks) => new TimeControl(hooks), TimeControl, clock, readInstant, sliderInstant };
}());
