import {describe, expect, it} from '@jest/globals';
import {bearerMatches, isLoopbackHost, resolveToken} from '../../../src/backends/server/auth.js';

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
