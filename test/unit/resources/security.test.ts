// The isolation labels of VDC namespaces (src/resources/security.ts): Pod Security and the
// Service exposure allowance that the admission policy reads.
import { expect } from 'chai';
import { desiredVdcNamespace } from '../../../src/resources/namespace.js';
import { enforcedPodSecurity, vdcSecurityLabels } from '../../../src/resources/security.js';

describe('VDC namespace isolation labels', () => {
  it('baseline enforced, restricted warned and audited, OpenShift label sync off, nothing exposed', () => {
    expect(desiredVdcNamespace('acme', 'dev').metadata.labels).to.deep.equal({
      'app.kubernetes.io/managed-by': 'ovim-operator',
      'ovim.io/organization': 'acme',
      'ovim.io/vdc': 'dev',
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'security.openshift.io/scc.podSecurityLabelSync': 'false',
      'ovim.io/allow-nodeport-services': 'false',
      'ovim.io/allow-loadbalancer-services': 'false',
      'ovim.io/allow-external-ips': 'false',
    });
  });

  it('restricted is an opt-in; privileged only with the cluster flag for the organization', () => {
    expect(enforcedPodSecurity(undefined, false)).to.equal('baseline');
    expect(enforcedPodSecurity('restricted', false)).to.equal('restricted');
    expect(enforcedPodSecurity('privileged', false), 'not allowed: baseline').to.equal('baseline');
    expect(enforcedPodSecurity('privileged', true)).to.equal('privileged');
    expect(enforcedPodSecurity('baseline', true), 'the flag alone changes nothing').to.equal('baseline');
    expect(enforcedPodSecurity('anything-else', true)).to.equal('baseline');
    const ns = desiredVdcNamespace('lab', 'gpu', { podSecurity: 'privileged' }, { privilegedAllowed: true });
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).to.equal('privileged');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/warn']).to.equal('restricted');
  });

  it('each Service allowance is its own label, always present so that withdrawing it is an update', () => {
    const labels = vdcSecurityLabels({ serviceExposure: { nodePort: true } }, false);
    expect(labels['ovim.io/allow-nodeport-services']).to.equal('true');
    expect(labels['ovim.io/allow-loadbalancer-services']).to.equal('false');
    expect(labels['ovim.io/allow-external-ips']).to.equal('false');
    const all = vdcSecurityLabels({ serviceExposure: { nodePort: true, loadBalancer: true, externalIPs: true } }, false);
    expect(Object.values(all).filter((v) => v === 'true')).to.have.length(3);
  });
});
