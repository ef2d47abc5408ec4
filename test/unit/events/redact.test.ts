// Credentials never leave the process in an Event message, and messages fit 1024 characters.
import { expect } from 'chai';
import {
  MAX_ANNOTATION_LENGTH,
  MAX_MESSAGE_LENGTH,
  REDACTED,
  redactCredentials,
  sanitizeAnnotation,
  sanitizeMessage,
  truncateMessage,
} from '../../../src/events/redact.js';
import { HOSTILE_TEXTS, measureRegexWork } from '../../support/hostile.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoiMSIsInJvbGUiOiJzeXN0ZW1fYWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';

describe('redaction', function () {
  const secrets: [string, string, string][] = [
    // [what, message, the secret that must be gone]
    ['a bearer token', 'request failed: Authorization: Bearer abc123def456ghi789', 'abc123def456ghi789'],
    ['a JWT anywhere', `login with ${JWT} rejected`, JWT],
    ['a JWT split into its parts', `token ${JWT}`, JWT.split('.')[2] as string],
    ['password=', 'connect failed: host=db password=hunter2 user=app', 'hunter2'],
    ['PASSWORD: (any case, colon)', 'PASSWORD: s3cr3t!', 's3cr3t!'],
    ['token=', 'callback?token=tkn_0123456789&next=/', 'tkn_0123456789'],
    ['a prefixed key', 'DB_PASSWORD=correct-horse-battery', 'correct-horse-battery'],
    ['client_secret=', 'oauth client_secret=zzTop-999 invalid', 'zzTop-999'],
    ['api-key:', 'x-api-key: AKIA1234567890', 'AKIA1234567890'],
    ['a quoted JSON value', '{"user":"a","password":"p@ss \\"word\\""}', 'p@ss'],
    ['a quoted value', "token='quoted secret value'", 'quoted secret value'],
    ['URL credentials', 'pull from https://robot:ghp_abcdef123@registry.example.com/x', 'ghp_abcdef123'],
    ['Basic credentials', `Authorization: Basic ${Buffer.from('user:pa55').toString('base64')}`, Buffer.from('user:pa55').toString('base64')],
    [
      'a PEM private key',
      'key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- loaded',
      'MIIEowIBAAKCAQEA',
    ],
  ];

  for (const [what, message, secret] of secrets) {
    it(`removes ${what}`, function () {
      const out = redactCredentials(message);
      expect(out).to.not.include(secret);
      expect(out).to.include(REDACTED);
    });
  }

  it('keeps the text around a redacted value', function () {
    expect(redactCredentials('connect failed: host=db password=hunter2 user=app')).to.equal(
      `connect failed: host=db password=${REDACTED} user=app`,
    );
    expect(redactCredentials('Authorization: Bearer abc123def456ghi789 was refused')).to.equal(
      `Authorization: Bearer ${REDACTED} was refused`,
    );
    expect(redactCredentials('pull from https://robot:ghp_abcdef123@registry.example.com/x')).to.equal(
      `pull from https://robot:${REDACTED}@registry.example.com/x`,
    );
  });

  it('leaves ordinary operator messages untouched', function () {
    const ordinary = [
      "Organization 'acme' created by a-user",
      "VDC 'dev' quota exceeded: requests.cpu used 4 of 4",
      'Manual reconciliation triggered for organization \'acme\' by unknown',
      'basic networking policy applied',
      'bearer authentication failed for a user',
      'spam filter has 3 tokens left',
      'Waiting for namespace org-acme to be deleted',
    ];
    for (const message of ordinary) expect(redactCredentials(message), message).to.equal(message);
  });

  it('redacts before cutting, so no half token survives the cut', function () {
    const message = `${'x'.repeat(1000)} password=${'s'.repeat(100)}`;
    const out = sanitizeMessage(message);
    expect(out.length).to.be.at.most(MAX_MESSAGE_LENGTH);
    expect(out).to.not.include('sss');
  });

  it('turns control characters into spaces but keeps newlines and tabs', function () {
    expect(sanitizeMessage('a\u0000b\u001b[31mc\r\nd\te')).to.equal('a b [31mc \nd\te');
  });
});

describe('truncation', function () {
  it('leaves messages of up to 1024 characters alone', function () {
    const m = 'm'.repeat(1024);
    expect(truncateMessage(m)).to.equal(m);
  });

  it('cuts longer messages to 1024 characters ending in ...', function () {
    const out = truncateMessage('m'.repeat(5000));
    expect(out.length).to.equal(1024);
    expect(out.endsWith('...')).to.equal(true);
  });

  it('never splits a surrogate pair', function () {
    const message = 'a'.repeat(1020) + '😀'.repeat(10); // the emoji starts at index 1020
    const out = truncateMessage(message);
    expect(out.length).to.be.at.most(1024);
    expect(out).to.equal('a'.repeat(1020) + '...');
    expect(() => encodeURIComponent(out)).to.not.throw(); // throws on a lone surrogate
  });

  it('sanitizeMessage applies the limit', function () {
    expect(sanitizeMessage('z'.repeat(3000)).length).to.equal(1024);
  });
});

// H1: a tenant's 200 KB annotation once froze the event loop for 31 s (quadratic regexes run
// before the cut). The work is bounded before any pattern runs: no pattern sees more than the
// 4 KB pre-cut of a message (counted with an instrumented RegExp#exec, not timed). The time these
// take, and the linear growth of the uncut patterns against the previous quadratic ones, is
// bench:redact's figure.
// A redaction may lengthen the text it replaces in (`pwd=x` → `pwd=[REDACTED]`), so later patterns
// see up to a few times the 4 KB pre-cut: a bound that does not grow with the input.
const PATTERN_INPUT_BOUND = 4 * (4 * MAX_MESSAGE_LENGTH + 3);

describe('redaction of hostile input', function () {
  for (const [what, text] of HOSTILE_TEXTS) {
    it(`handles 256 KB of ${what}: the patterns' work does not grow with the input`, async function () {
      const { value, runs, longestInput } = await measureRegexWork(() => sanitizeMessage(text));
      expect(value.length).to.be.at.most(MAX_MESSAGE_LENGTH);
      expect(runs, 'regular-expression runs').to.be.greaterThan(0);
      expect(longestInput, 'the longest text a pattern ran over').to.be.at.most(PATTERN_INPUT_BOUND);
      // Four times the input: the same runs over the same texts (everything past the pre-cut is unseen).
      const larger = await measureRegexWork(() => sanitizeMessage(text.repeat(4)));
      expect([larger.runs, larger.longestInput], 'runs and longest text at 1 MB').to.deep.equal([runs, longestInput]);
    });
  }

  it('a secret cut in half by the pre-cut is dropped, not shown', function () {
    const message = `${'x '.repeat(2100)}password=${'s'.repeat(100)}`;
    expect(sanitizeMessage(message)).to.not.include('sss');
    const jwtAtTheCut = `${'a '.repeat(2046)}${JWT}`; // the token straddles the pre-cut
    const out = sanitizeMessage(`${'[x] '.repeat(800)}${jwtAtTheCut}`);
    expect(out).to.not.include(JWT.slice(0, 20));
  });
});

describe('annotation values', function () {
  it('are redacted like messages and cut to 253 characters', function () {
    expect(sanitizeAnnotation(`Bearer ${JWT}`)).to.equal(`Bearer ${REDACTED}`);
    expect(sanitizeAnnotation(JWT)).to.equal(REDACTED);
    expect(sanitizeAnnotation('a'.repeat(10_000)).length).to.equal(MAX_ANNOTATION_LENGTH);
    expect(MAX_ANNOTATION_LENGTH).to.equal(253);
    expect(sanitizeAnnotation('alice@example.com')).to.equal('alice@example.com');
  });

  it('a 256 KB hostile value: every pattern runs on its 1 KB pre-cut only', async function () {
    const { value, longestInput } = await measureRegexWork(() => sanitizeAnnotation(HOSTILE_TEXTS[0]?.[1] ?? ''));
    expect(value.length).to.be.at.most(MAX_ANNOTATION_LENGTH);
    expect(longestInput, 'the longest text a pattern ran over').to.be.at.most(4 * MAX_ANNOTATION_LENGTH + 3);
  });
});
