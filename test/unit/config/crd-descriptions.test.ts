// `kubectl explain <kind>.status...` reads well: every status field of the three CRDs has a
// description, and the printer columns carry Ready (and the message with -o wide).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { packagePath } from '../../../src/package-files.js';

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

interface Crd {
  spec: { versions: { additionalPrinterColumns?: { name: string; priority?: number; jsonPath: string }[]; schema: { openAPIV3Schema: Schema } }[] };
}

function undescribed(node: Schema, path: string): string[] {
  const own = node.description?.trim() ? [] : [path];
  const children = Object.entries(node.properties ?? {}).flatMap(([k, v]) => undescribed(v, `${path}.${k}`));
  return [...own, ...children, ...(node.items ? undescribed(node.items, `${path}[]`) : [])];
}

const crd = (name: string) => parse(readFileSync(packagePath('crds', `ovim.io_${name}.yaml`), 'utf8')) as Crd;

describe('CRDs for kubectl', () => {
  for (const name of ['organizations', 'virtualdatacenters', 'eventroutes']) {
    it(`${name}: every status field has a description`, () => {
      const status = crd(name).spec.versions[0]?.schema.openAPIV3Schema.properties?.status;
      expect(status, 'a status').to.not.equal(undefined);
      expect(undescribed(status as Schema, 'status')).to.deep.equal([]);
    });
  }

  for (const name of ['organizations', 'virtualdatacenters']) {
    it(`${name}: Ready, and the message at priority 1`, () => {
      const columns = crd(name).spec.versions[0]?.additionalPrinterColumns ?? [];
      const ready = columns.find((c) => c.name === 'Ready');
      const message = columns.find((c) => c.name === 'Message');
      expect(ready?.jsonPath).to.equal('.status.conditions[?(@.type=="Ready")].status');
      expect(ready?.priority ?? 0).to.equal(0);
      expect(message?.jsonPath).to.equal('.status.conditions[?(@.type=="Ready")].message');
      expect(message?.priority).to.equal(1);
    });
  }

  it('virtualdatacenters: Storage % beside CPU % and Memory %', () => {
    const names = (crd('virtualdatacenters').spec.versions[0]?.additionalPrinterColumns ?? []).map((c) => c.name);
    expect(names.indexOf('Storage %')).to.equal(names.indexOf('Memory %') + 1);
  });
});
