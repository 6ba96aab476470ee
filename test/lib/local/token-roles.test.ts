import { describe, expect, it } from 'vitest';
import { parseTokenFile, singleToken, TokenConfigError, tokenCaller } from '#lib/local/access.ts';

const TOKEN = '0123456789abcdef0123';

describe('LOCAL_TOKEN_FILE lines LABEL:TOKEN[:TENANT[:ROLE]]', () => {
  it('a line with a tenant is a runner of it, unless its role says operator; a line without one is an operator', () => {
    const tokens = parseTokenFile(
      [`a:${TOKEN}1:team-a`, `b:${TOKEN}2:team-b:runner`, `lead:${TOKEN}3:team-a:operator`, `alice:${TOKEN}4`].join('\n'),
    );
    expect(tokens.map(tokenCaller)).toEqual([
      { actor: 'a', owner: 'team-a', operator: false },
      { actor: 'b', owner: 'team-b', operator: false },
      { actor: 'lead', owner: 'team-a', operator: true },
      { actor: 'alice', owner: 'alice', operator: true },
    ]);
  });

  it('keeps a file of label:token lines, a bare token and LOCAL_TOKEN working as before: operators', () => {
    expect(parseTokenFile(`x:${TOKEN}`).map(tokenCaller)).toEqual([{ actor: 'x', owner: 'x', operator: true }]);
    expect(parseTokenFile(TOKEN).map(tokenCaller)).toEqual([{ actor: 'local', owner: 'local', operator: true }]);
    expect(tokenCaller(singleToken(TOKEN))).toEqual({ actor: 'local', owner: 'local', operator: true });
  });

  it.each([
    [`a:${TOKEN}:team-a:admin`, 'line 1: the role must be runner or operator, got "admin"'],
    [`a:${TOKEN}:team a`, 'line 1: the tenant must be 1-64 of'],
    [`a:${TOKEN}::runner`, 'line 1: the tenant must be 1-64 of'],
    [`a:${TOKEN}:team-a:runner:extra`, 'line 1: expected LABEL:TOKEN[:TENANT[:ROLE]]'],
  ])('refuses %s, naming the line', (line, message) => {
    expect(() => parseTokenFile(line)).toThrow(TokenConfigError);
    expect(() => parseTokenFile(line)).toThrow(message);
  });
});
