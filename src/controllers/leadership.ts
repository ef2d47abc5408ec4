// Watching this replica's leadership from a component that only acts while leading: the moment
// isLeader() turns true, `onGained` runs once (a follower's reconciles did nothing, so a new
// leader catches up at once instead of on the next change). Polled: the elector has one
// callback, owned by the operator.
export function onLeadershipGained(isLeader: () => boolean, onGained: () => void, periodMs = 1_000): () => void {
  let leading = isLeader();
  const timer = setInterval(() => {
    const now = isLeader();
    if (now && !leading) onGained();
    leading = now;
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
