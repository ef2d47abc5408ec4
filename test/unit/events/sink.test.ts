// The sink's pure parts: how a failed write is classified, and shared request deadlines.
import { expect } from 'chai';
import { ApiException } from '@kubernetes/client-node';
import { RequestDeadlines, classifyWriteError } from '../../../src/events/sink.js';

function apiError(code: number, status?: Record<string, unknown>): ApiException<string> {
  return new ApiException(code, 'failed', status ? JSON.stringify(status) : '', {});
}

describe('classifyWriteError', function () {
  it('retries network failures, timeouts, 429 and 5xx', function () {
    expect(classifyWriteError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).to.equal('transient');
    expect(classifyWriteError(new Error('The operation was aborted'))).to.equal('transient');
    for (const code of [408, 429, 500, 502, 503, 504]) expect(classifyWriteError(apiError(code)), String(code)).to.equal('transient');
  });

  it('tells an expired Event from a deleted namespace on 404', function () {
    expect(classifyWriteError(apiError(404, { reason: 'NotFound', details: { name: 'dev.1', kind: 'events' } }))).to.equal(
      'event_not_found',
    );
    expect(classifyWriteError(apiError(404, { reason: 'NotFound', details: { name: 'gone', kind: 'namespaces' } }))).to.equal(
      'namespace_gone',
    );
  });

  it('recognizes a terminating namespace', function () {
    const terminating = apiError(403, {
      reason: 'Forbidden',
      message: 'events "x" is forbidden: unable to create new content in namespace ns because it is being terminated',
      details: { name: 'x', kind: 'events', causes: [{ reason: 'NamespaceTerminating', message: '...', field: 'metadata.namespace' }] },
    });
    expect(classifyWriteError(terminating)).to.equal('namespace_gone');
  });

  it('drops other client errors', function () {
    expect(classifyWriteError(apiError(409, { reason: 'AlreadyExists' }))).to.equal('already_exists');
    expect(classifyWriteError(apiError(403, { reason: 'Forbidden', message: 'RBAC says no' }))).to.equal('rejected');
    expect(classifyWriteError(apiError(422, { reason: 'Invalid' }))).to.equal('rejected');
    expect(classifyWriteError(apiError(400))).to.equal('rejected');
  });
});

describe('RequestDeadlines', function () {
  it('hands one signal to requests of the same slice and aborts it after the timeout', async function () {
    const deadlines = new RequestDeadlines(60, 20);
    const started = Date.now();
    const a = deadlines.signal(started);
    const b = deadlines.signal(started + 5);
    const later = deadlines.signal(started + 25);
    expect(b).to.equal(a);
    expect(later).to.not.equal(a);
    const aborted = await new Promise<number>((resolve) => a.addEventListener('abort', () => resolve(Date.now() - started)));
    expect(aborted).to.be.at.least(60);
    expect(String(a.reason)).to.match(/timed out after 60 ms/);
    deadlines.abortAll(new Error('stopped'));
    expect(later.aborted).to.equal(true);
  });

  it('aborts every live signal at once on abortAll', function () {
    const deadlines = new RequestDeadlines(10_000);
    const signal = deadlines.signal();
    deadlines.abortAll(new Error('the event recorder stopped'));
    expect(signal.aborted).to.equal(true);
    expect(deadlines.signal()).to.not.equal(signal);
    deadlines.abortAll(new Error('cleanup'));
  });
});
