import {describe, expect, it} from '@jest/globals';
import {authChallenge, bearerMatches, isLoopbackHost, parseApiAuth, requestAuthorized, resolveToken} from '../../../src/backends/server/auth.js';

describe('bearer auth', () => {
  it('accepts exactly the token and nothing else', () => {
    expect(bearerMatches('Bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(bearerMatches('bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(bearerMatches('Bearer s3cret-tokeN', 's3cret-token')).toBe(false);
    expect(bearerMatches('Bearer s3cret-token-longer', 's3cret-token')).toBe(false);
    expect(bearerMatches('s3cret-token', 's3cret-token')).toBe(false);
    expect(bearerMatches(undefined, 's3cret-token')).toBe(false);
    expect(bearerMatches('Basic s3cret-token', 's3cret-token')).toBe(false);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('requires a token for a non-loopback host unless --insecure', () => {
    expect(resolveToken({host: '127.0.0.1', insecure: false})).toBeNull();
    expect(() => resolveToken({host: '0.0.0.0', insecure: false})).toThrow(/--token/);
    expect(resolveToken({host: '0.0.0.0', insecure: true})).toBeNull();
    expect(resolveToken({host: '0.0.0.0', insecure: false, envToken: 'from-env-123'})).toBe('from-env-123');
    expect(resolveToken({host: '0.0.0.0', insecure: false, token: 'flag-token-1', envToken: 'from-env-123'})).toBe('flag-token-1');
    expect(() => resolveToken({host: '127.0.0.1', insecure: false, token: 'short'})).toThrow(/8 characters/);
  });
});

describe('--api-auth (A1111 HTTP Basic)', () => {
  const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  it('parses user:password pairs, a password may hold a colon', () => {
    expect([...parseApiAuth('alice:wonder:land,bob:builder')!]).toEqual([['alice', 'wonder:land'], ['bob', 'builder']]);
    expect(parseApiAuth(undefined)).toBeNull();
    for (const bad of ['', 'alice', ':pw', 'alice:', 'a:1,a:2']) expect(() => parseApiAuth(bad)).toThrow(/--api-auth/);
  });

  it('lets in a listed user with its password, or any user with the token as password, beside the bearer token', () => {
    const o = {token: 'bearer-token-1', basic: parseApiAuth('alice:pw1,bob:pw2')};
    expect(requestAuthorized(basic('alice', 'pw1'), o)).toBe(true);
    expect(requestAuthorized(basic('bob', 'pw2'), o)).toBe(true);
    expect(requestAuthorized(basic('alice', 'pw2'), o)).toBe(false);
    expect(requestAuthorized(basic('carol', 'pw1'), o)).toBe(false);
    expect(requestAuthorized(basic('anyone', 'bearer-token-1'), o)).toBe(true);
    expect(requestAuthorized('Bearer bearer-token-1', o)).toBe(true);
    expect(requestAuthorized('Bearer pw1', o)).toBe(false);
    expect(requestAuthorized(undefined, o)).toBe(false);
    expect(requestAuthorized(basic('alice', 'pw1'), {token: null, basic: null})).toBe(false);
    expect(requestAuthorized(basic('x', 'bearer-token-1'), {token: 'bearer-token-1'})).toBe(true);
    expect(authChallenge(o)).toBe('Bearer, Basic realm="mgen"');
    expect(authChallenge({token: 'bearer-token-1'})).toBe('Bearer');
  });

  it('lets a non-loopback host start with --api-auth alone', () => {
    expect(resolveToken({host: '0.0.0.0', insecure: false, apiAuth: true})).toBeNull();
  });
});
