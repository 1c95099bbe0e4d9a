// The ~100 B record the profiling scripts read and write: the shape of the bench's small payload,
// fixed so profiles of different runs compare.
export const sampleValue = Object.freeze({
  id: 1000,
  name: 'donald',
  email: 'donald.1000@example.com',
  active: true,
  score: 52.74,
  tags: Object.freeze(['billing']),
});
