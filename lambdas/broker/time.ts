/** Time as the domain counts it: one injected clock (epoch milliseconds), records in ISO-8601 and epoch seconds. */

/** The clock every use case and the store share: epoch milliseconds. */
export type Clock = () => number;

export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

export const toIso = (ms: number): string => new Date(ms).toISOString();

/** A lease end as `dueAt`: rounded up, so the sweeper never cuts a lease short by a fraction of a second. */
export const dueSecondsOf = (ms: number): number => Math.ceil(ms / 1000);
