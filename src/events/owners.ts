// Which organization owns each namespace the operator provisions, from the namespaces' own
// labels (`ovim.io/organization`, set by the operator on `org-<org>` and `vdc-<org>-<vdc>`).
// Organization names may contain '-', so a `vdc-a-b-c` namespace cannot be attributed by its
// name alone: the label is the source of truth. Fed by an informer on the operator's managed
// namespaces; read by the event store and the API on every request, without an API call.
import type { V1Namespace } from '@kubernetes/client-node';
import type { InformerSpec } from '../kube/factory.js';
import { MANAGED_BY_SELECTOR } from '../resources/naming.js';
import { LABELS, MANAGED_BY } from '../resources/types.js';
import type { NamespaceOwnership } from './query.js';

/** What NamespaceOwners needs from an informer (ResilientInformer<V1Namespace> fits). */
export interface NamespaceFeed {
  on(event: 'add' | 'update' | 'delete', handler: (obj: V1Namespace, old?: V1Namespace) => void): unknown;
}

export class NamespaceOwners implements NamespaceOwnership {
  private readonly owners = new Map<string, string>();
  private readonly byOrganization = new Map<string, Set<string>>();
  private changes = 0;

  /** Bumped on every change, so readers may cache what they derive from the map. */
  get generation(): number {
    return this.changes;
  }

  get size(): number {
    return this.owners.size;
  }

  ownerOf(namespace: string): string | undefined {
    return this.owners.get(namespace);
  }

  /** The namespaces owned by an organization (a live view; do not modify). */
  namespacesOf(organization: string): ReadonlySet<string> {
    return this.byOrganization.get(organization) ?? EMPTY;
  }

  set(namespace: string, organization: string | undefined): void {
    if (!organization) {
      this.delete(namespace);
      return;
    }
    const previous = this.owners.get(namespace);
    if (previous === organization) return;
    if (previous !== undefined) this.forget(namespace, previous);
    this.owners.set(namespace, organization);
    let set = this.byOrganization.get(organization);
    if (!set) {
      set = new Set();
      this.byOrganization.set(organization, set);
    }
    set.add(namespace);
    this.changes++;
  }

  delete(namespace: string): void {
    const previous = this.owners.get(namespace);
    if (previous === undefined) return;
    this.owners.delete(namespace);
    this.forget(namespace, previous);
    this.changes++;
  }

  /** Records a Namespace object: its owner if the operator manages it, else nothing. */
  observe(ns: V1Namespace): void {
    const name = ns.metadata?.name;
    if (!name) return;
    const labels = ns.metadata?.labels ?? {};
    const managed = labels[LABELS.managedBy] === MANAGED_BY;
    this.set(name, managed ? labels[LABELS.organization] : undefined);
  }

  /** Follows an informer on Namespaces (add/update/delete). */
  follow(informer: NamespaceFeed): this {
    informer.on('add', (ns) => this.observe(ns));
    informer.on('update', (ns) => this.observe(ns));
    informer.on('delete', (ns) => {
      if (ns.metadata?.name) this.delete(ns.metadata.name);
    });
    return this;
  }

  private forget(namespace: string, organization: string): void {
    const set = this.byOrganization.get(organization);
    if (!set) return;
    set.delete(namespace);
    if (set.size === 0) this.byOrganization.delete(organization);
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The informer on the Namespaces the operator manages (label `app.kubernetes.io/managed-by`):
 * ask the InformerFactory. The operator watches the same namespaces and reads them whole, so
 * this one informer keeps them whole (no transform).
 */
export const MANAGED_NAMESPACES_INFORMER: InformerSpec<V1Namespace> = { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', labelSelector: MANAGED_BY_SELECTOR };
