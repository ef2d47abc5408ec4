// `kubectl apply --dry-run=server -k config/default` and `-k config/ha` against the real
// kube-apiserver: every rendered object passes the server's validation and admission (the CRDs'
// schemas, RBAC, webhook configurations, policies, the Deployment). The operator's pod template
// is also dry-run as a Pod in a namespace that enforces Pod Security `restricted`.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { installCrds } from '../../src/kube/crds.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, kubectlOk } from '../support/kubectl.js';
import { kustomize, one } from '../support/kustomize.js';
import { repoRoot } from '../support/program.js';

describe('installing with kustomize (server-side dry run on the real API server)', function () {
  this.timeout(120_000);
  let cp: ControlPlane;

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    // A dry run creates nothing, so the namespaced objects need their namespace to exist.
    const made = await kubectl(cp.kubeconfigPath, ['create', 'namespace', 'ovim-system']);
    if (made.code !== 0 && !/AlreadyExists/.test(made.stderr)) throw new Error(made.stderr);
  });

  for (const overlay of ['config/default', 'config/ha']) {
    it(`kubectl apply --dry-run=server -k ${overlay} is accepted`, async () => {
      const res = await kubectl(cp.kubeconfigPath, ['apply', '--dry-run=server', '-k', `${repoRoot}/${overlay}`]);
      expect(res.code, res.stderr).to.equal(0);
      // No warnings (unknown fields and the like), but kubectl's note on objects the harness
      // installed with server-side apply (they lack its last-applied annotation).
      const warnings = res.stderr.split('\n').filter((l) => l.trim() !== '' && !/missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation/.test(l));
      expect(warnings, 'warnings').to.deep.equal([]);
      expect(res.stdout).to.match(/deployment\.apps\/ovim-operator (created|configured|unchanged) \(server dry run\)/);
      expect(res.stdout).to.match(/clusterrole\.rbac\.authorization\.k8s\.io\/ovim-viewer (created|configured|unchanged) \(server dry run\)/);
      if (overlay === 'config/ha') expect(res.stdout).to.match(/poddisruptionbudget\.policy\/ovim-operator (created|configured|unchanged) \(server dry run\)/);
    });
  }

  it("the operator's pod meets Pod Security restricted", async () => {
    const ns = `restricted-${randomBytes(2).toString('hex')}`;
    await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', ns]);
    try {
      await kubectlOk(cp.kubeconfigPath, ['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
      for (const overlay of ['config/default', 'config/ha']) {
        const deployment = one(kustomize(overlay), 'Deployment', 'ovim-operator') as unknown as { spec: { template: { spec: Record<string, unknown> } } };
        // The ServiceAccount does not exist in this namespace; the pod's security is what is checked.
        const spec = { ...deployment.spec.template.spec, serviceAccountName: 'default' };
        const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ovim-operator', namespace: ns }, spec };
        const res = await kubectl(cp.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], JSON.stringify(pod));
        expect(res.code, `${overlay}: ${res.stderr}`).to.equal(0);
        expect(res.stderr, overlay).to.not.match(/violate|PodSecurity/);
      }
      // The check can fail: a pod without the restricted settings is refused there.
      const bare = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: ns }, spec: { containers: [{ name: 'c', image: 'x' }] } };
      const refused = await kubectl(cp.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], JSON.stringify(bare));
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.match(/violates PodSecurity "restricted/);
    } finally {
      await kubectl(cp.kubeconfigPath, ['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
