// The desired LimitRange vdc-limits: min/max per container from spec.limitRange, plus default
// requests and limits so that containers without requests still pass the ResourceQuota (which
// counts requests.cpu and requests.memory).
import type { LimitRangeObject } from './objects.js';
import { LIMIT_RANGE_NAME, vdcLabels, vdcNamespace } from './naming.js';
import { mebibytes, millicores } from './quantity.js';
import type { VdcLimitRange } from './types.js';

/** Defaults when the VDC does not bound them: 100m/128Mi requested, 500m/512Mi limit. */
export const DEFAULT_REQUEST = { cpu: 100, memory: 128 };
export const DEFAULT_LIMIT = { cpu: 500, memory: 512 };

function clamp(value: number, min: number | undefined, max: number | undefined): number {
  let v = value;
  if (min !== undefined && v < min) v = min;
  if (max !== undefined && v > max) v = max;
  return v;
}

export function desiredLimitRange(org: string, vdc: string, limits: VdcLimitRange | undefined): LimitRangeObject {
  const l = limits ?? {};
  // min <= defaultRequest <= default <= max must hold or the API server rejects the LimitRange.
  const reqCpu = clamp(DEFAULT_REQUEST.cpu, l.minCpu, l.maxCpu);
  const reqMem = clamp(DEFAULT_REQUEST.memory, l.minMemory, l.maxMemory);
  const limCpu = clamp(Math.max(DEFAULT_LIMIT.cpu, reqCpu), l.minCpu, l.maxCpu);
  const limMem = clamp(Math.max(DEFAULT_LIMIT.memory, reqMem), l.minMemory, l.maxMemory);
  const item: LimitRangeObject['spec']['limits'][number] = {
    type: 'Container',
    default: { cpu: millicores(limCpu), memory: mebibytes(limMem) },
    defaultRequest: { cpu: millicores(reqCpu), memory: mebibytes(reqMem) },
  };
  const min: Record<string, string> = {};
  const max: Record<string, string> = {};
  if (l.minCpu !== undefined) min.cpu = millicores(l.minCpu);
  if (l.minMemory !== undefined) min.memory = mebibytes(l.minMemory);
  if (l.maxCpu !== undefined) max.cpu = millicores(l.maxCpu);
  if (l.maxMemory !== undefined) max.memory = mebibytes(l.maxMemory);
  if (Object.keys(min).length) item.min = min;
  if (Object.keys(max).length) item.max = max;
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: LIMIT_RANGE_NAME, namespace: vdcNamespace(org, vdc), labels: vdcLabels(org, vdc) },
    spec: { limits: [item] },
  };
}
