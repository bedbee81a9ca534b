import { describe, expect, it } from 'vitest';
import {
  hmacSha1Signature,
  newNonce,
  oauthAuthorization,
  percentEncode,
  signatureBaseString,
} from '../../handlers/twitter-oauth.js';

/**
 * The worked example of X's "Creating a signature"
 * (https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature): a POST to
 * statuses/update.json with `include_entities=true` in the query and a form-encoded `status`.
 */
const example = {
  url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true',
  status: 'Hello Ladies + Gentlemen, a signed OAuth request!',
  credentials: {
    consumerKey: 'xvz1evFS4wEEPTGEFPHBog',
    consumerSecret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
    token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
    tokenSecret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
  },
  nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
  timestamp: 1318622958,
  baseString:
    'POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26' +
    'oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26' +
    'oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26' +
    'oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26' +
    'status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521',
  signature: 'hCtSmYh+iHYCEqBWrE7C7hYmtUk=',
};

const oauthParams: [string, string][] = [
  ['oauth_consumer_key', example.credentials.consumerKey],
  ['oauth_nonce', example.nonce],
  ['oauth_signature_method', 'HMAC-SHA1'],
  ['oauth_timestamp', String(example.timestamp)],
  ['oauth_token', example.credentials.token],
  ['oauth_version', '1.0'],
];

describe("OAuth 1.0a signing, against X's worked example", () => {
  it('builds the documented signature base string', () => {
    expect(signatureBaseString('POST', example.url, [['status', example.status], ...oauthParams])).toBe(example.baseString);
  });

  it('signs it to the documented signature', () => {
    const { consumerSecret, tokenSecret } = example.credentials;
    expect(hmacSha1Signature(example.baseString, consumerSecret, tokenSecret)).toBe(example.signature);
  });

  it('makes the Authorization header: every oauth_* parameter encoded, quoted and in order', () => {
    const header = oauthAuthorization(
      { method: 'POST', url: example.url, bodyParams: [['status', example.status]] },
      example.credentials,
      { nonce: example.nonce, timestamp: example.timestamp },
    );
    expect(header).toBe(
      'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", ' +
        'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", ' +
        'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"',
    );
  });

  it('a different nonce changes the signature', () => {
    const header = oauthAuthorization({ method: 'POST', url: example.url, bodyParams: [['status', example.status]] }, example.credentials, {
      nonce: 'another',
      timestamp: example.timestamp,
    });
    expect(header).not.toContain('hCtSmYh');
  });
});

describe('percent-encoding and the base URL', () => {
  it.each([
    ['Ladies + Gentlemen', 'Ladies%20%2B%20Gentlemen'],
    ["!*'()", '%21%2A%27%28%29'],
    ['-._~azAZ09', '-._~azAZ09'],
    ['☃ é', '%E2%98%83%20%C3%A9'],
  ])('%s → %s', (raw, encoded) => {
    expect(percentEncode(raw)).toBe(encoded);
  });

  it('lowercases scheme and host and drops the default port; the query is signed as parameters', () => {
    expect(signatureBaseString('post', 'HTTPS://API.Example.COM:443/1.1/A.json?b=2&a=1', [])).toBe(
      'POST&https%3A%2F%2Fapi.example.com%2F1.1%2FA.json&a%3D1%26b%3D2',
    );
  });

  it('keeps a port that is not the default', () => {
    expect(signatureBaseString('GET', 'http://localhost:8080/x', [])).toBe('GET&http%3A%2F%2Flocalhost%3A8080%2Fx&');
  });

  it('sorts parameters with the same name by value', () => {
    expect(signatureBaseString('GET', 'https://a.example/p?z=2&z=1', [])).toBe('GET&https%3A%2F%2Fa.example%2Fp&z%3D1%26z%3D2');
  });

  it('makes a fresh nonce each time', () => {
    expect(newNonce()).toMatch(/^[0-9a-f]{32}$/);
    expect(newNonce()).not.toBe(newNonce());
  });
});
