// The event catalog: every reason of DESIGN.md section 4 with its type and kind, and a type
// system that refuses a reason recorded with the wrong type.
import { expect } from 'chai';
import {
  ALL_REASONS,
  EVENT_CATALOG,
  Reasons,
  reasonAllowsKind,
  reasonType,
  soleKind,
  type EventReason,
  type ReasonsOfKind,
  type ReasonsOfType,
} from '../../../src/events/catalog.js';
import type { EventRecording } from '../../../src/events/types.js';

// Compile-time checks: `npx tsc --noEmit` fails when a `@ts-expect-error` line compiles,
// so each of these lines proves that the wrong call is a type error. Never called at run time.
export function wrongTypesDoNotCompile(recorder: EventRecording): void {
  const vdc = { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name: 'dev', namespace: 'org-acme' } };
  // @ts-expect-error DeletionBlocked is a Warning
  recorder.record(vdc, 'Normal', Reasons.DeletionBlocked, 'blocked');
  // @ts-expect-error OrganizationCreated is Normal
  recorder.record(vdc, 'Warning', Reasons.OrganizationCreated, 'created');
  // @ts-expect-error QuotaExceeded is a Warning
  recorder.record(vdc, 'Normal', 'QuotaExceeded', 'exceeded');
  // @ts-expect-error not a reason of the catalog
  recorder.record(vdc, 'Normal', 'SomethingHappened', 'x');
  // The right pairs compile.
  recorder.record(vdc, 'Warning', Reasons.QuotaExceeded, 'exceeded');
  recorder.record(vdc, 'Normal', Reasons.VDCCreated, 'created');
  recorder.record(vdc, 'Normal', 'ReconcileForced', 'forced');
}

// Type-level helpers: Warning reasons are exactly the Warning rows of the table.
const warningReasons: ReasonsOfType<'Warning'>[] = [
  'DeletionBlocked',
  'ReconcileFailed',
  'QuotaExceeded',
  'QuotaThresholdReached',
  'CreationFailed',
  'ProvisioningFailed',
  'StartupFailed',
  'AuthenticationFailed',
  'AccessDenied',
  'DeliveryFailed',
  'SlowReconcile',
];
// @ts-expect-error VMStarted is not a Warning
export const notAWarning: ReasonsOfType<'Warning'> = 'VMStarted';
// @ts-expect-error VDCCreated does not belong to Organizations
export const notAnOrganizationReason: ReasonsOfKind<'Organization'> = 'VDCCreated';

describe('event catalog', function () {
  const table: [EventReason, 'Normal' | 'Warning', string[]][] = [
    ['OrganizationCreated', 'Normal', ['Organization']],
    ['OrganizationUpdated', 'Normal', ['Organization']],
    ['OrganizationDeleted', 'Normal', ['Organization']],
    ['ReconcileForced', 'Normal', ['Organization', 'VirtualDataCenter']],
    ['DeletionRequested', 'Normal', ['Organization', 'VirtualDataCenter']],
    ['DeletionBlocked', 'Warning', ['Organization']],
    ['ReconcileFailed', 'Warning', ['Organization', 'VirtualDataCenter']],
    ['VDCCreated', 'Normal', ['VirtualDataCenter']],
    ['VDCUpdated', 'Normal', ['VirtualDataCenter']],
    ['VDCDeleted', 'Normal', ['VirtualDataCenter']],
    ['QuotaExceeded', 'Warning', ['VirtualDataCenter']],
    ['QuotaThresholdReached', 'Warning', ['VirtualDataCenter']],
    ['CreationFailed', 'Warning', ['VirtualDataCenter']],
    ['VMCreated', 'Normal', ['VirtualMachine']],
    ['VMStarted', 'Normal', ['VirtualMachine']],
    ['VMStopped', 'Normal', ['VirtualMachine']],
    ['VMDeleted', 'Normal', ['VirtualMachine']],
    ['ProvisioningFailed', 'Warning', ['VirtualMachine']],
    ['StartupFailed', 'Warning', ['VirtualMachine']],
    ['AuthenticationFailed', 'Warning', ['Namespace']],
    ['AccessDenied', 'Warning', ['Organization']],
    ['RouteTriggered', 'Normal', ['EventRoute']],
    ['DeliveryFailed', 'Warning', ['EventRoute']],
    ['SlowReconcile', 'Warning', ['Organization', 'VirtualDataCenter']],
  ];

  it('holds exactly the reasons of DESIGN.md section 4 with their type and kinds', function () {
    expect([...ALL_REASONS].sort()).to.deep.equal(table.map(([r]) => r).sort());
    for (const [reason, type, kinds] of table) {
      expect(EVENT_CATALOG[reason].type, reason).to.equal(type);
      expect([...EVENT_CATALOG[reason].kinds], reason).to.deep.equal(kinds);
      expect(reasonType(reason), reason).to.equal(type);
    }
  });

  it('exports each reason as a constant equal to its name', function () {
    // The literal names of the table, not ALL_REASONS (Reasons is built from the same keys).
    expect(Object.keys(Reasons).sort()).to.deep.equal(table.map(([r]) => r).sort());
    for (const [reason] of table) expect(Reasons[reason], reason).to.equal(reason);
    expect(Reasons.OrganizationCreated).to.equal('OrganizationCreated');
    expect(Object.isFrozen(Reasons)).to.equal(true);
  });

  it('lists the Warning reasons the type helpers compute', function () {
    expect(ALL_REASONS.filter((r) => reasonType(r) === 'Warning').sort()).to.deep.equal([...warningReasons].sort());
  });

  it('knows which kinds a reason belongs to', function () {
    expect(reasonAllowsKind('VMStarted', 'VirtualMachine')).to.equal(true);
    expect(reasonAllowsKind('VMStarted', 'Organization')).to.equal(false);
    expect(soleKind('QuotaExceeded')).to.equal('VirtualDataCenter');
    expect(soleKind('ReconcileForced')).to.equal(undefined);
  });
});
