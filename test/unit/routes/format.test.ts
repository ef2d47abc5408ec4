// The three body formats against their documented shapes, Slack's escaping of tenant text,
// and the HMAC signature a receiver can verify with the Secret.
import { expect } from 'chai';
import { alertmanagerBody, idempotencyKey, jsonBody, renderBody, slackBody, type Delivery } from '../../../src/routes/format.js';
import { signature, verifySignature } from '../../../src/routes/sign.js';
import { record } from './support.js';

const delivery = (over: Partial<Delivery> = {}): Delivery => {
  const r = record({ message: 'used <@here> & <https://evil|click> 4/4', count: 3 });
  return { route: { namespace: 'org-a', name: 'r' }, record: r, idempotencyKey: idempotencyKey(r), ...over };
};

describe('route bodies', function () {
  it('the idempotency key is the event uid and count', function () {
    expect(idempotencyKey(record({ uid: 'abc', count: 7 }))).to.equal('abc:7');
  });

  it('json: the route, the key and the event as the events API shows it', function () {
    const body = jsonBody(delivery()) as Record<string, unknown>;
    expect(body).to.have.keys('route', 'idempotencyKey', 'event');
    expect(body.event).to.include({ id: 'u-1', reason: 'QuotaExceeded', type: 'Warning', namespace: 'org-a', count: 3 });
    const t = jsonBody(delivery({ threshold: { count: 5, window: '10m' } })) as Record<string, unknown>;
    expect(t.threshold).to.deep.equal({ count: 5, window: '10m' });
  });

  it("slack: text plus blocks (section mrkdwn, context) within Slack's limits, markup escaped", function () {
    const body = slackBody(delivery()) as { text: string; blocks: { type: string; text?: { type: string; text: string }; elements?: { type: string; text: string }[] }[] };
    expect(body.text).to.be.a('string').and.not.equal('');
    expect(body.blocks.map((b) => b.type)).to.deep.equal(['section', 'context']);
    expect(body.blocks[0]?.text?.type).to.equal('mrkdwn');
    for (const t of [body.text, body.blocks[0]?.text?.text ?? '']) {
      expect(t).to.include('&lt;@here&gt; &amp; &lt;https://evil|click&gt;');
      expect(t).not.to.match(/<@here>|<https:/);
      expect(t.length).to.be.at.most(3000);
    }
    const long = slackBody(delivery({ record: record({ message: 'x'.repeat(10_000) }) })) as { text: string };
    expect(long.text.length).to.be.at.most(3000);
  });

  it('alertmanager: a v2 postable alerts array (labels with alertname, annotations, startsAt)', function () {
    const body = alertmanagerBody(delivery()) as { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[];
    expect(body).to.be.an('array').with.length(1);
    const [alert] = body;
    expect(alert?.labels).to.include({ alertname: 'QuotaExceeded', severity: 'warning', namespace: 'org-a', organization: 'a', vdc: 'dev', route: 'org-a/r' });
    for (const name of Object.keys(alert?.labels ?? {})) expect(name).to.match(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
    for (const value of Object.values(alert?.labels ?? {})) expect(value).to.be.a('string');
    expect(alert?.annotations.description).to.include('4/4');
    expect(new Date(alert?.startsAt ?? '').toISOString()).to.equal(alert?.startsAt);
  });

  it('renders each format as JSON text', function () {
    for (const f of ['json', 'slack', 'alertmanager'] as const) expect(() => JSON.parse(renderBody(f, delivery()))).not.to.throw();
  });

  it('the signature verifies with the Secret and fails with another key, body or timestamp', function () {
    const secret = Buffer.from('s3cret');
    const body = renderBody('json', delivery());
    const sig = signature(secret, 1_700_000_000, body);
    expect(sig).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(secret, '1700000000', body, sig)).to.equal(true);
    expect(verifySignature(Buffer.from('other'), '1700000000', body, sig)).to.equal(false);
    expect(verifySignature(secret, '1700000001', body, sig)).to.equal(false);
    expect(verifySignature(secret, '1700000000', `${body} `, sig)).to.equal(false);
    expect(verifySignature(secret, 'x', body, sig)).to.equal(false);
  });
});
