// Records SlowReconcile (Warning) on the primary object of a slow reconcile: the Organization of
// an organization key, the VirtualDataCenter of a `namespace/name` key (the vdc and quota
// controllers both reconcile VDC keys). Called by the Controller once per slow episode.
import type { EventSink } from '../controllers/common.js';
import type { OperatorInformers } from '../controllers/setup.js';
import type { Organization, VirtualDataCenter } from '../resources/types.js';
import { slowReconcileMessage, type SlowReconcile } from './slow-reconcile.js';

/** The kind of each controller's primary objects (the `controllerKind` log field). */
export const CONTROLLER_KINDS: Readonly<Record<string, string>> = {
  organization: 'Organization',
  virtualdatacenter: 'VirtualDataCenter',
  quota: 'VirtualDataCenter',
};

export type Primary = { kind: 'Organization'; obj: Organization } | { kind: 'VirtualDataCenter'; obj: VirtualDataCenter };

/** The cached primary object of a key, if it is still there. */
export function primaryOf(informers: Pick<OperatorInformers, 'organizations' | 'vdcs'>, key: string): Primary | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) {
    const obj = informers.organizations.get(key);
    return obj && { kind: 'Organization', obj };
  }
  const obj = informers.vdcs.get(key.slice(slash + 1), key.slice(0, slash));
  return obj && { kind: 'VirtualDataCenter', obj };
}

export function reportSlowReconcile(events: EventSink, controller: string, primary: Primary | undefined, slow: SlowReconcile): void {
  if (!primary) return;
  const name = primary.obj.metadata?.name ?? '';
  const message = `${slowReconcileMessage(primary.kind, name, slow)} [controller ${controller}]`.slice(0, 1024);
  if (primary.kind === 'Organization') events.record(primary.obj, 'Warning', 'SlowReconcile', message, { organization: name });
  else events.record(primary.obj, 'Warning', 'SlowReconcile', message, { organization: primary.obj.spec?.organizationRef, vdc: name });
}
