// Watching this replica's leadership from a component that only acts while leading: `gained`
// runs each time isLeader() turns true (a follower's reconciles did nothing, so a new leader
// catches up at once instead of on the next change), `lost` each time it turns false. Polled:
// the elector has one callback, owned by the operator.
export function onLeadershipChange(isLeader: () => boolean, on: { gained: () => void; lost?: () => void }, periodMs = 1_000): () => void {
  let leading = isLeader();
  const timer = setInterval(() => {
    const now = isLeader();
    if (now && !leading) on.gained();
    if (!now && leading) on.lost?.();
    leading = now;
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
