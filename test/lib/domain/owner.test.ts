import { describe, expect, it } from 'vitest';
import { type Caller, mayChange, mayRead, ownerOfPrincipal } from '#lib/domain/owner.ts';

const runnerA: Caller = { actor: 'a-1', owner: 'tenant-a', operator: false };
const runnerB: Caller = { actor: 'b-1', owner: 'tenant-b', operator: false };
const operator: Caller = { actor: 'ops', owner: 'ops', operator: true };

describe('ownerOfPrincipal', () => {
  it.each([
    [
      'an assumed-role session owns as its role',
      'arn:aws:sts::123456789012:assumed-role/runner/i-0abc',
      'arn:aws:iam::123456789012:role/runner',
    ],
    ['in another partition too', 'arn:aws-cn:sts::123456789012:assumed-role/runner/s', 'arn:aws-cn:iam::123456789012:role/runner'],
    ['an IAM user owns as itself', 'arn:aws:iam::123456789012:user/ci/deployer', 'arn:aws:iam::123456789012:user/ci/deployer'],
    ['the root user owns as itself', 'arn:aws:iam::123456789012:root', 'arn:aws:iam::123456789012:root'],
    ['a federated user owns as itself', 'arn:aws:sts::123456789012:federated-user/bob', 'arn:aws:sts::123456789012:federated-user/bob'],
  ])('%s', (_, principal, owner) => {
    expect(ownerOfPrincipal(principal)).toBe(owner);
  });

  it('gives two sessions of one role the same owner', () => {
    const first = ownerOfPrincipal('arn:aws:sts::123456789012:assumed-role/runner/host-1');
    const second = ownerOfPrincipal('arn:aws:sts::123456789012:assumed-role/runner/host-2');

    expect(first).toBe(second);
  });
});

describe('mayChange', () => {
  it('lets the owner and operators change a session, and no one else', () => {
    expect(mayChange('tenant-a', runnerA)).toBe(true);
    expect(mayChange('tenant-a', operator)).toBe(true);
    expect(mayChange('tenant-a', runnerB)).toBe(false);
  });

  it.each([undefined, null])('lets only operators change a session stored before owners (owner %s)', (owner) => {
    expect(mayChange(owner, runnerA)).toBe(false);
    expect(mayChange(owner, operator)).toBe(true);
  });
});

describe('mayRead', () => {
  it('lets every caller read when readers is account', () => {
    expect(mayRead('tenant-a', runnerB, 'account')).toBe(true);
  });

  it('lets only the owner and operators read when readers is owner', () => {
    expect(mayRead('tenant-a', runnerA, 'owner')).toBe(true);
    expect(mayRead('tenant-a', operator, 'owner')).toBe(true);
    expect(mayRead('tenant-a', runnerB, 'owner')).toBe(false);
    expect(mayRead(undefined, runnerB, 'owner')).toBe(false);
  });
});
