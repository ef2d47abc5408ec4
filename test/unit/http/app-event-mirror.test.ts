// The mirror's object lookup: from a synced informer cache without a request, from the API
// server on a miss (an object created a moment ago) or while the cache has not synced, and from
// the API server for kinds no cache holds.
import { expect } from 'chai';
import type { AnyKubeObject } from '../../../src/kube/meta.js';
import { cachedObjectLookup, type ObjectCache } from '../../../src/http/app-event-mirror.js';

const object = (name: string, namespace?: string): AnyKubeObject => ({ apiVersion: 'ovim.io/v1', kind: 'X', metadata: { name, namespace, uid: `uid-${name}` } });

describe('the mirror\'s object lookup', () => {
  it('answers from a synced cache, and from the API server otherwise', async () => {
    const asked: string[] = [];
    const fallback = async (kind: string, name: string, namespace: string | undefined) => {
      asked.push(`${kind} ${namespace ?? ''}/${name}`);
      return object(`server-${name}`, namespace);
    };
    let synced = true;
    const orgs = new Map([['acme', object('acme')]]);
    const vdcs = new Map([['org-acme/dev', object('dev', 'org-acme')]]);
    const cache = (m: Map<string, AnyKubeObject>): ObjectCache => ({
      hasSynced: () => synced,
      get: (name, namespace) => m.get(namespace ? `${namespace}/${name}` : name),
    });
    const lookup = cachedObjectLookup((kind) => (kind === 'Organization' ? cache(orgs) : kind === 'VirtualDataCenter' ? cache(vdcs) : undefined), fallback);
    expect((await lookup('Organization', 'acme', 'ignored'))?.metadata?.name).to.equal('acme');
    expect((await lookup('VirtualDataCenter', 'dev', 'org-acme'))?.metadata?.name).to.equal('dev');
    expect(asked, 'cache hits ask nothing').to.deep.equal([]);
    expect((await lookup('VirtualDataCenter', 'new', 'org-acme'))?.metadata?.name).to.equal('server-new');
    expect((await lookup('VirtualMachine', 'vm-1', 'vdc-acme-dev'))?.metadata?.name).to.equal('server-vm-1');
    synced = false;
    expect((await lookup('Organization', 'acme', undefined))?.metadata?.name).to.equal('server-acme');
    expect(asked).to.deep.equal(['VirtualDataCenter org-acme/new', 'VirtualMachine vdc-acme-dev/vm-1', 'Organization /acme']);
  });
});
