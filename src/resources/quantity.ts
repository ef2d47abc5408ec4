// Quantities of the OVIM resources (CPU cores and millicores, Gi/Ti, MiB) on top of the generic
// Kubernetes quantity parsing in src/kube/quantity.ts.

export { parseQuantity, quantitiesEqual } from '../kube/quantity.js';

/** Millicores as a canonical CPU quantity: 4000 → "4", 250 → "250m". */
export function millicores(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** MiB as a canonical memory quantity: 1024 → "1Gi", 1536 → "1536Mi". */
export function mebibytes(mi: number): string {
  if (mi % (1024 * 1024) === 0) return `${mi / (1024 * 1024)}Ti`;
  if (mi % 1024 === 0) return `${mi / 1024}Gi`;
  return `${mi}Mi`;
}

/** used / hard as a whole percentage, rounded down (100 means used >= hard). */
export function percentage(used: number, hard: number): number {
  if (hard <= 0) return used > 0 ? 100 : 0;
  return Math.floor((used * 100) / hard + 1e-9);
}
