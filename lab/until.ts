/** Polls `fn` every 20 ms until it returns a value (not undefined); throws after `ms`. */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 1000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await Bun.sleep(20);
  }
}
