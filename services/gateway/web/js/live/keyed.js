// A keyed list: one DOM element per entry key, created once, updated in
// place, removed when the entry goes. Order is kept by a sort key computed
// when the row is inserted (binary search), so a delta never re-renders the
// list; only a filter change or a re-sync rebuilds it.

export class KeyedList {
  /**
   * @param {HTMLElement} container
   * @param {object} o
   * @param {(entry: object, key: string) => {el: HTMLElement}} o.create returns a row record
   * @param {(rec: object, entry: object) => void} o.update
   * @param {(entry: object) => (string|number)} o.sortKey
   * @param {boolean} [o.desc] newest (largest sort key) first
   * @param {HTMLElement} [o.empty] shown when the list has no rows
   */
  constructor(container, { create, update, sortKey, desc = false, empty = null, onCount = null }) {
    this.container = container;
    this.create = create;
    this.update = update;
    this.sortKey = sortKey;
    this.desc = desc;
    this.empty = empty;
    this.onCount = onCount;
    this.rows = new Map(); // key -> record {el, entry, sk}
    this.order = []; // keys, sorted
    if (empty) container.append(empty);
  }

  get size() { return this.rows.size; }
  has(key) { return this.rows.has(key); }
  recFor(key) { return this.rows.get(key); }
  forEachVisible(fn) { for (const rec of this.rows.values()) fn(rec); }
  flush() {}
  destroy() {}

  cmp(a, b) {
    if (a === b) return 0;
    const r = a < b ? -1 : 1;
    return this.desc ? -r : r;
  }

  position(sk, key) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.rows.get(this.order[mid]);
      const c = this.cmp(other.sk, sk) || (other.key < key ? -1 : other.key > key ? 1 : 0);
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  upsert(key, entry) {
    const rec = this.rows.get(key);
    const sk = this.sortKey(entry);
    if (rec) {
      if (rec.sk === sk) {
        rec.entry = entry;
        this.update(rec, entry);
        return;
      }
      this.remove(key);
    }
    const nrec = this.create(entry, key);
    nrec.entry = entry;
    nrec.sk = sk;
    nrec.key = key;
    nrec.el.dataset.key = key;
    this.update(nrec, entry);
    const pos = this.position(sk, key);
    const before = pos < this.order.length ? this.rows.get(this.order[pos]).el : null;
    this.order.splice(pos, 0, key);
    this.rows.set(key, nrec);
    this.container.insertBefore(nrec.el, before);
    this.refreshEmpty();
  }

  remove(key) {
    const rec = this.rows.get(key);
    if (!rec) return;
    rec.el.remove();
    this.rows.delete(key);
    const i = this.order.indexOf(key);
    if (i >= 0) this.order.splice(i, 1);
    this.refreshEmpty();
  }

  /** Replace all rows (re-sync or filter change), reusing elements of surviving keys. */
  rebuild(entries) {
    const keep = new Map();
    for (const [key, entry] of entries) keep.set(key, entry);
    for (const key of [...this.rows.keys()]) if (!keep.has(key)) { this.rows.get(key).el.remove(); this.rows.delete(key); }
    const recs = [];
    for (const [key, entry] of keep) {
      let rec = this.rows.get(key);
      if (!rec) {
        rec = this.create(entry, key);
        rec.key = key;
        rec.el.dataset.key = key;
        this.rows.set(key, rec);
      }
      rec.entry = entry;
      rec.sk = this.sortKey(entry);
      this.update(rec, entry);
      recs.push(rec);
    }
    recs.sort((a, b) => this.cmp(a.sk, b.sk) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.order = recs.map((r) => r.key);
    const frag = document.createDocumentFragment();
    for (const r of recs) frag.append(r.el);
    this.container.append(frag);
    this.refreshEmpty();
  }

  refreshEmpty() {
    if (this.empty) this.empty.hidden = this.rows.size > 0;
    if (this.onCount) this.onCount(this.rows.size);
  }
}

/**
 * A windowed keyed list for the calls column: the sorted keys and entries of
 * every row are kept, but only the rows in view (plus an overscan) exist in
 * the DOM, absolutely positioned at `index * rowHeight`. Rows are keyed, so a
 * delta re-renders only its own row; an insert shifts the ~30 visible rows by
 * a transform instead of making the browser lay out thousands.
 */
export class VirtualList {
  constructor(container, scroller, { create, update, sortKey, desc = false, empty = null, onCount = null, rowHeight = 40, overscan = 8, onCreate = null }) {
    this.container = container;
    this.scroller = scroller;
    this.create = create;
    this.update = update;
    this.sortKey = sortKey;
    this.desc = desc;
    this.empty = empty;
    this.onCount = onCount;
    this.rowHeight = rowHeight;
    this.overscan = overscan;
    this.onCreate = onCreate;
    this.entries = new Map(); // key -> {entry, sk}
    this.order = [];
    this.visible = new Map(); // key -> rec (in the DOM)
    this.pool = [];
    this.dirty = new Set(); // keys whose content changed
    this.frame = 0;
    container.classList.add('virtual');
    if (empty) container.append(empty);
    this.onScroll = () => this.schedule();
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
    this.ro = typeof ResizeObserver === 'function' ? new ResizeObserver(() => this.schedule()) : null;
    if (this.ro) this.ro.observe(scroller);
  }

  get size() { return this.entries.size; }
  has(key) { return this.entries.has(key); }
  recFor(key) { return this.visible.get(key); }
  forEachVisible(fn) { for (const rec of this.visible.values()) fn(rec); }

  cmp(a, b) {
    if (a === b) return 0;
    const r = a < b ? -1 : 1;
    return this.desc ? -r : r;
  }

  position(sk, key) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const ok = this.order[mid];
      const c = this.cmp(this.entries.get(ok).sk, sk) || (ok < key ? -1 : ok > key ? 1 : 0);
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  indexOf(key) {
    const e = this.entries.get(key);
    if (!e) return -1;
    const i = this.position(e.sk, key);
    return this.order[i] === key ? i : this.order.indexOf(key);
  }

  upsert(key, entry) {
    const sk = this.sortKey(entry);
    const cur = this.entries.get(key);
    if (cur && cur.sk === sk) {
      cur.entry = entry;
      this.dirty.add(key);
      return;
    }
    if (cur) this.removeOrder(key);
    this.entries.set(key, { entry, sk });
    this.order.splice(this.position(sk, key), 0, key);
    this.dirty.add(key);
  }

  removeOrder(key) {
    const i = this.indexOf(key);
    if (i >= 0) this.order.splice(i, 1);
    this.entries.delete(key);
  }

  remove(key) {
    if (!this.entries.has(key)) return;
    this.removeOrder(key);
  }

  /** Apply the batch to the DOM (once per animation frame). */
  flush() { this.renderWindow(); }

  rebuild(items) {
    this.entries = new Map();
    for (const [key, entry] of items) this.entries.set(key, { entry, sk: this.sortKey(entry) });
    this.order = [...this.entries.keys()].sort((a, b) => this.cmp(this.entries.get(a).sk, this.entries.get(b).sk) || (a < b ? -1 : a > b ? 1 : 0));
    for (const k of this.visible.keys()) this.dirty.add(k);
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.renderWindow(); });
  }

  /** Put the rows in view into the DOM; called after each batch and on scroll/resize. */
  renderWindow() {
    const n = this.order.length;
    const h = this.rowHeight;
    const height = `${n * h}px`;
    if (this.container.style.height !== height) this.container.style.height = height;
    const top = this.scroller.scrollTop - this.container.offsetTop;
    const viewH = this.scroller.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / h) - this.overscan);
    const last = Math.min(n, Math.ceil((top + viewH) / h) + this.overscan);
    const want = new Set();
    for (let i = first; i < last; i += 1) want.add(this.order[i]);
    for (const [k, rec] of this.visible) {
      if (!want.has(k)) { rec.el.remove(); this.visible.delete(k); this.pool.push(rec); }
    }
    for (let i = first; i < last; i += 1) {
      const k = this.order[i];
      const { entry } = this.entries.get(k);
      let rec = this.visible.get(k);
      if (!rec) {
        const fresh = !this.pool.length;
        rec = fresh ? this.create(entry, k) : this.pool.pop();
        rec.key = k;
        rec.entry = entry;
        rec.el.dataset.key = k;
        rec.top = -1;
        this.update(rec, entry);
        this.container.append(rec.el);
        this.visible.set(k, rec);
      } else if (this.dirty.has(k)) {
        rec.entry = entry;
        this.update(rec, entry);
      }
      const y = i * h;
      if (rec.top !== y) { rec.top = y; rec.el.style.transform = `translateY(${y}px)`; rec.el.setAttribute('aria-rowindex', String(i + 2)); }
    }
    this.dirty.clear();
    this.container.setAttribute('aria-rowcount', String(n + 1));
    if (this.empty) this.empty.hidden = n > 0;
    if (this.onCount) this.onCount(n);
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.scroller.removeEventListener('scroll', this.onScroll);
    if (this.ro) this.ro.disconnect();
  }
}
