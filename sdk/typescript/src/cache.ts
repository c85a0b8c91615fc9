// Local mode's record cache: `GET /keys/{id}/record` answers kept for a
// bounded time, "no such key" answers for a shorter one, one fetch per key
// however many requests wait for it (single flight), at most `maxEntries`
// entries, and never an entry past its TTL.

import type { VerifierStats } from "./verifier.js";

export interface CacheOptions {
  /**
   * How long a fetched record is used without asking keyward again, in
   * milliseconds (default 10,000). It is also the longest a key revoked,
   * disabled or restricted in keyward keeps being accepted by this
   * process. 0 fetches the record for every request.
   */
  ttlMs?: number;
  /**
   * How long an unknown key id is remembered as unknown (default 2,000 ms),
   * so a client retrying a wrong key does not cost keyward a read each time.
   */
  negativeTtlMs?: number;
  /** At most this many records and "no such key" answers are kept (default 10,000). */
  maxEntries?: number;
}

export const DEFAULT_CACHE = Object.freeze({ ttlMs: 10_000, negativeTtlMs: 2_000, maxEntries: 10_000 });

interface Entry<V> {
  /** The value, or null for "no such key". */
  value: V | null;
  /** The clock reading after which the entry is never served. */
  until: number;
}

// A monotonic clock where there is one: a wall-clock step must not stretch
// an entry's life. (In workerd both stand still within a request and move
// with I/O, which is what an entry's age needs.)
const clock: () => number =
  typeof performance === "object" && typeof performance.now === "function"
    ? () => performance.now()
    : () => Date.now();

/**
 * Values by key id, loaded by `load` (null: keyward has no such key) and
 * given back to `release` once the cache drops them.
 */
export class RecordCache<V> {
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
  // Insertion order is fetch order: the first entry is the oldest, dropped
  // first when the cache is full.
  private readonly entries = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V | null>>();

  constructor(
    options: CacheOptions,
    private readonly load: (id: string) => Promise<V | null>,
    private readonly release: (value: V) => void,
    private readonly stats: VerifierStats,
  ) {
    this.ttlMs = nonNegative(options.ttlMs ?? DEFAULT_CACHE.ttlMs, "ttlMs");
    this.negativeTtlMs = nonNegative(options.negativeTtlMs ?? DEFAULT_CACHE.negativeTtlMs, "negativeTtlMs");
    this.maxEntries = nonNegative(options.maxEntries ?? DEFAULT_CACHE.maxEntries, "maxEntries");
  }

  /**
   * The fresh entry for `id`, if there is one: `{ value }` (null value: no
   * such key) or undefined. Synchronous, so the caller can use the value
   * before anything else runs.
   */
  peek(id: string): { value: V | null } | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (clock() < entry.until) return entry;
    this.drop(id, entry);
    return undefined;
  }

  /**
   * The value for `id`: cached, or loaded once for every concurrent caller.
   * A failed load is not cached: each caller waiting for it gets its error,
   * and the next request loads again.
   */
  get(id: string): Promise<V | null> {
    const pending = this.inflight.get(id);
    if (pending !== undefined) {
      this.stats.sharedFetches++;
      return pending;
    }
    // The entry's age counts from before the request, so it never
    // outlives its TTL measured from what keyward said.
    const started = clock();
    this.stats.recordFetches++;
    const loading = this.load(id).then(
      (value) => {
        this.inflight.delete(id);
        this.store(id, value, started);
        return value;
      },
      (error: unknown) => {
        this.inflight.delete(id);
        throw error;
      },
    );
    this.inflight.set(id, loading);
    return loading;
  }

  /** Drops every entry. */
  clear(): void {
    for (const [id, entry] of this.entries) this.drop(id, entry);
  }

  /** How many entries are held. */
  get size(): number {
    return this.entries.size;
  }

  private store(id: string, value: V | null, started: number): void {
    const ttl = value === null ? this.negativeTtlMs : this.ttlMs;
    const old = this.entries.get(id);
    if (old !== undefined) this.drop(id, old);
    if (ttl <= 0 || this.maxEntries === 0) {
      // Not kept: the requests that waited for it use it, then it goes.
      if (value !== null) this.releaseLater(value);
      return;
    }
    while (this.entries.size >= this.maxEntries) {
      const [oldestId, oldest] = this.entries.entries().next().value as [string, Entry<V>];
      if (clock() < oldest.until) this.stats.evictions++;
      this.drop(oldestId, oldest);
    }
    this.entries.set(id, { value, until: started + ttl });
  }

  private drop(id: string, entry: Entry<V>): void {
    this.entries.delete(id);
    if (entry.value !== null) this.releaseLater(entry.value);
  }

  // Released after the current turn: a request that got this value from a
  // load it waited for validates with it in the promise reactions of this
  // turn, and must not find it released.
  private releaseLater(value: V): void {
    setTimeout(() => this.release(value), 0);
  }
}

function nonNegative(value: number, name: string): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must be a number of at least 0`);
  return value;
}
