// The PromQL helper of the alert/dashboard cross-check: it finds the series and refuses what it
// cannot read (so a typo in a rule cannot pass as "no series named").
import { expect } from 'chai';
import { exposedSeries, seriesNames } from '../../support/promql.js';

describe('PromQL series names (test support)', function () {
  it('finds the series of an expression, not its functions, labels, ranges or keywords', () => {
    expect(
      seriesNames('sum by (controller) (rate(a_total{code=~"5..|<error>", x!="y"}[10m])) / sum by (controller) (rate(b_total[10m])) > 0.1 or absent(c) and on(name) d'),
    ).to.deep.equal(['a_total', 'b_total', 'c', 'd']);
    expect(seriesNames('histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))')).to.deep.equal(['h_bucket']);
  });

  it('refuses unknown functions and unbalanced parentheses', () => {
    expect(() => seriesNames('rat(a[5m])')).to.throw(/unknown function rat/);
    expect(() => seriesNames('sum(rate(a[5m])')).to.throw(/unbalanced/);
    expect(() => seriesNames('a{x="y"')).to.throw(/bracket/);
  });

  it('lists the sample names of an exposition', () => {
    const names = exposedSeries('# HELP x_total x\n# TYPE x_total counter\nx_total{a="b"} 0\nh_bucket{le="1"} 2\nup 1\n');
    expect([...names].sort()).to.deep.equal(['h_bucket', 'up', 'x_total']);
  });
});
