/**
 * Settles `work` or rejects after `timeoutMs` with an error naming `what`. For the CLI's own
 * requests beside the backend's (Redis `PTTL`, `INFO`, `SCAN`): the backend's deadline covers
 * only the calls it makes.
 */
export function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
