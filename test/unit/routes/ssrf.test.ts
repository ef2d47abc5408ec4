// The SSRF guard: every refused range with a reason that names it, the allowlist, IPv4-mapped
// IPv6, and DNS answered once (a name that also resolves inside is refused; the connection
// uses the checked address).
import { expect } from 'chai';
import { AddressGuard, BlockedDestinationError, resolveChecked, validateCidr } from '../../../src/routes/ssrf.js';

describe('route SSRF guard', function () {
  const guard = new AddressGuard({ deny: ['34.118.224.0/20'] });
  const refused: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['::1', /loopback/],
    ['169.254.169.254', /link-local \(cloud metadata\)/],
    ['fe80::1', /link-local/],
    ['10.96.0.1', /private/],
    ['172.16.0.10', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /shared address space/],
    ['fd00::1', /unique local/],
    ['0.0.0.0', /this network/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['240.0.0.1', /reserved/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:169.254.169.254', /cloud metadata/],
    ['64:ff9b::7f00:1', /NAT64/],
    ['34.118.230.1', /cluster's range \(34\.118\.224\.0\/20\)/],
  ];
  for (const [address, why] of refused) {
    it(`refuses ${address}`, function () {
      const v = guard.check(address);
      expect(v.allowed).to.equal(false);
      if (!v.allowed) expect(v.reason).to.match(why).and.to.include(address);
    });
  }

  it('allows public addresses', function () {
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '34.118.240.1']) expect(guard.check(a).allowed, a).to.equal(true);
  });

  it('the allowlist opens exactly its ranges', function () {
    const g = new AddressGuard({ allow: ['127.0.0.2/32', '::1/128'] });
    expect(g.check('127.0.0.2').allowed).to.equal(true);
    expect(g.check('::1').allowed).to.equal(true);
    expect(g.check('127.0.0.1').allowed).to.equal(false);
    expect(g.check('169.254.169.254').allowed).to.equal(false);
  });

  it('validates CIDRs for the flags', function () {
    expect(validateCidr('10.0.0.0/8')).to.equal('10.0.0.0/8');
    expect(() => validateCidr('10.0.0.0/33')).to.throw(/prefix/);
    expect(() => validateCidr('example.com/8')).to.throw(/not an address range/);
  });

  it('resolves once per delivery and refuses a name with any answer inside', async function () {
    let calls = 0;
    const answers = [[{ address: '8.8.8.8', family: 4 }], [{ address: '8.8.8.8', family: 4 }, { address: '127.0.0.1', family: 4 }]];
    const resolve = async () => answers[calls++] ?? [];
    expect(await resolveChecked('hook.example', guard, resolve)).to.deep.equal({ address: '8.8.8.8', family: 4 });
    expect(calls).to.equal(1);
    // Rebinding: the next lookup of the same name answers loopback as well.
    let error: unknown;
    await resolveChecked('hook.example', guard, resolve).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(BlockedDestinationError);
    expect((error as Error).message).to.match(/destination hook\.example refused: 127\.0\.0\.1 is loopback/);
    expect(calls).to.equal(2);
  });

  it('IP literals are checked without DNS', async function () {
    let calls = 0;
    const resolve = async () => {
      calls++;
      return [];
    };
    let error: unknown;
    await resolveChecked('[::1]', guard, resolve).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.match(/loopback/);
    await resolveChecked('169.254.169.254', guard, resolve).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.match(/cloud metadata/);
    expect(calls).to.equal(0);
  });
});
