import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { vonageHandler as handler, vonageSignature } from '../../handlers/vonage.js';
import { ChannelConfig, type Channel } from '../../src/channel.js';
import type { MsgStatus } from '../../src/msg.js';
import { ChannelConfigError } from '../../src/send-error.js';
import { DEFAULT_CHANNEL_UUID, type ChannelSpec } from '../harness/channels.js';
import { TEST_BASE_URL, runIncomingCases, type IncomingCase } from '../harness/incoming.js';
import { DEFAULT_OUTGOING_UUID, runOutgoingCases, type OutgoingCase } from '../harness/outgoing.js';
import { FakeProvider, type ProviderReply } from '../harness/provider.js';

const provider = new FakeProvider().install();

const API_KEY = 'a1b2c3d4';
// Characters that URL- and form-encoding spell differently, so the redaction of each is checked.
const API_SECRET = 'Nx&secret=0001+x';

/** The channels that check signatures, with the secret and method set for each in the dashboard. */
const SIGNERS = {
  signed: { secret: 'md5hash-secret-0002', method: 'md5hash' },
  hmacMd5: { secret: 'hmac-md5-secret-0003', method: 'md5' },
  hmacSha1: { secret: 'hmac-sha1-secret-0004', method: 'sha1' },
  hmacSha256: { secret: 'hmac-sha256-secret-0005', method: 'sha256' },
  hmacSha512: { secret: 'hmac-sha512-secret-0006', method: 'sha512' },
} as const;
type Signer = keyof typeof SIGNERS;

const signingChannel = (n: number, signer: Signer, method?: string): ChannelSpec & { uuid: string } => ({
  uuid: `8eb23e93-5ecb-45ba-b726-00000000c00${n}`,
  address: '+250788000000',
  country: 'RW',
  config: { api_key: API_KEY, api_secret: `nx-secret-000${n}`, signature_secret: SIGNERS[signer].secret, signature_method: method },
});

const channels = {
  default: { uuid: DEFAULT_CHANNEL_UUID, address: '+250788000000', country: 'RW', config: { api_key: API_KEY, api_secret: API_SECRET } },
  signed: signingChannel(1, 'signed'),
  hmacMd5: signingChannel(2, 'hmacMd5', 'md5'),
  hmacSha1: signingChannel(3, 'hmacSha1', 'sha1'),
  hmacSha256: signingChannel(4, 'hmacSha256', 'sha256'),
  hmacSha512: signingChannel(5, 'hmacSha512', 'sha512'),
  unknownMethod: signingChannel(6, 'signed', 'sha3'),
  senderId: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000c007',
    address: 'Herald',
    country: 'RW',
    config: { api_key: API_KEY, api_secret: 'nx-secret-0007', base_url: 'https://vonage.example.com/' },
  },
  noAddress: { uuid: '8eb23e93-5ecb-45ba-b726-00000000c008', address: '', config: { api_key: API_KEY, api_secret: 'nx-secret-0008' } },
  unconfigured: { uuid: '8eb23e93-5ecb-45ba-b726-00000000c009', address: '+250788000000', config: {} },
} satisfies Record<string, ChannelSpec & { uuid: string }>;

/** Vonage's signature, written out here apart from the handler's; HMACs in upper case as Vonage sends them. */
function sign(fields: Record<string, string>, secret: string, method: string): string {
  const text = Object.keys(fields)
    .sort()
    .map((name) => `&${name}=${fields[name]!.replace(/&|=/g, '_')}`)
    .join('');
  if (method === 'md5hash') return createHash('md5').update(text + secret).digest('hex');
  return createHmac(method, secret).update(text).digest('hex').toUpperCase();
}

/** When this file's cases are signed: each case runs well within the five minutes allowed. */
const NOW = Math.floor(Date.now() / 1000);

/** `fields` with the `timestamp`, `nonce` and `sig` Vonage adds for a channel that signs. */
function signed(signer: Signer, fields: Record<string, string>, timestamp = NOW): Record<string, string> {
  const all = { ...fields, timestamp: String(timestamp), nonce: '6c1d2f3e-8a9b-4c5d-9e0f-112233445566' };
  return { ...all, sig: sign(all, SIGNERS[signer].secret, SIGNERS[signer].method) };
}

/** How a field's name appears in the JSON error envelope. */
const named = (field: string) => JSON.stringify(`"${field}"`).slice(1, -1);
const query = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** An inbound SMS as Vonage sends it. */
const inbound = {
  msisdn: '250788383383',
  to: '250788000000',
  messageId: '0A0000000123ABCD1',
  text: 'Hello world',
  type: 'text',
  keyword: 'HELLO',
  'message-timestamp': '2024-03-01 10:15:00',
};
const RECEIVED_ON = new Date('2024-03-01T10:15:00Z');

/** Part `n` of a concatenated SMS of two parts. */
const part = (n: 1 | 2, text: string) => ({
  ...inbound,
  messageId: `0A00000001CONCAT${n}`,
  text,
  concat: 'true',
  'concat-ref': '108',
  'concat-total': '2',
  'concat-part': String(n),
});

const SENT_UUID = '0191e180-7d60-7000-8000-0000000000aa';
const SENT_ID = '0B00000127FDBC63';
const sentMsg: IncomingCase['prepare'] = (backend, channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID, externalId: SENT_ID });

/** A delivery receipt as Vonage sends it for the message sent as SENT_UUID. */
const receipt = (status: string, extra: Record<string, string> = {}) => ({
  msisdn: '250788383383',
  to: '250788000000',
  'network-code': '63510',
  messageId: SENT_ID,
  price: '0.03330000',
  status,
  scts: '2403011016',
  'err-code': '0',
  'api-key': API_KEY,
  'client-ref': SENT_UUID,
  'message-timestamp': '2024-03-01 10:16:00',
  ...extra,
});

/** Every receipt status that changes a message, with the reason a failure carries. */
const receiptStatuses: Array<[word: string, status: MsgStatus, errCode?: string, reason?: string]> = [
  ['delivered', 'delivered'],
  ['accepted', 'sent'],
  ['buffered', 'sent'],
  ['expired', 'failed', '2', '2'],
  ['failed', 'failed', '6', '6'],
  ['rejected', 'failed', '14', '14'],
  ['undelivered', 'failed', '3', '3'],
  ['failed', 'failed', '0', 'failed'],
];

describe('vonageSignature', () => {
  // Known answers computed with coreutils `md5sum` and `openssl dgst -hmac` over the documented string.
  const fields = {
    msisdn: '447700900001',
    to: '447700900000',
    messageId: '0A0000000123ABCD1',
    text: 'Hello & welcome = yes',
    type: 'text',
    keyword: 'HELLO',
    'message-timestamp': '2020-01-01 12:00:00',
    timestamp: '1577880000',
    nonce: 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab',
  };
  const secret = 'my-signature-secret';
  const vectors = [
    ['md5hash', '7b2caa762cda4116437ed36e6c471b9a'],
    ['md5', '5d6dfbb6631015195228e0a63def5b7d'],
    ['sha1', '51a26d71e418d15b2b85db4db4a15aa96e2b07d8'],
    ['sha256', '9d6457bdfd95dca2e5539ef42d672a3226147e81b04327e43cbc6a30f556da3f'],
    ['sha512', '097c7af749632ce550df580c2164bc6ea12a21a12ed92facce7f896386cd33e30bb3647e60f6e2fd446abd30e9881e0360f0f78a4e93fdf95a3aa82e572a374d'],
  ] as const;

  it.each(vectors)('%s: fields sorted by name, & and = in values made _, matches the known answer', (method, expected) => {
    expect(vonageSignature(Object.entries(fields), secret, method)).toBe(expected);
    expect(sign(fields, secret, method).toLowerCase()).toBe(expected);
  });

  it('leaves out `sig`, and changes with any field or the secret', () => {
    const entries = Object.entries(fields);
    expect(vonageSignature([...entries, ['sig', 'anything']], secret, 'md5hash')).toBe(vectors[0][1]);
    expect(vonageSignature(entries.reverse(), secret, 'md5hash')).toBe(vectors[0][1]);
    expect(vonageSignature([...entries, ['concat', 'true']], secret, 'md5hash')).not.toBe(vectors[0][1]);
    expect(vonageSignature(entries, `${secret}x`, 'md5hash')).not.toBe(vectors[0][1]);
  });

  it('reproduces the example in its doc comment', () => {
    expect(vonageSignature([['b', '2'], ['a', 'x&y']], 'secret', 'md5hash')).toBe('56f17ec6ca106cccd9ccc9f9b309e2d4');
  });
});

describe('Vonage config', () => {
  const channel = (config: Record<string, unknown>): Channel => ({
    uuid: '0191e180-7d60-7000-8000-0000000c0c01',
    orgUuid: '',
    type: 'nx',
    name: 'nx',
    address: '',
    country: 'RW',
    tps: 0,
    config: new ChannelConfig(config),
  });

  it.each([
    [{ api_key: 'k', api_secret: 's' }],
    [{ api_key: 'k', api_secret: 's', signature_secret: 'x', signature_method: 'sha512', base_url: 'https://nx.example.com' }],
  ])('accepts a working config %j', (config) => {
    expect(() => handler.checkConfig(channel(config))).not.toThrow();
  });

  it.each([
    [{ api_secret: 's' }, 'channel config "api_key" is required'],
    [{ api_key: 'k' }, 'channel config "api_secret" is required'],
    [{ api_key: 'k', api_secret: 's', signature_method: 'hmac' }, 'signature_method'],
    [{ api_key: 'k', api_secret: 's', base_url: 'rest.nexmo.com' }, 'base_url'],
  ])('refuses %j, naming the setting', (config, problem) => {
    const check = () => handler.checkConfig(channel(config));
    expect(check).toThrow(ChannelConfigError);
    expect(check).toThrow(problem);
  });

  it('redacts the API secret and the signature secret, not the key', () => {
    expect(handler.redact(channel({ api_key: 'k', api_secret: 's', signature_secret: 'x' }))).toEqual(['s', 'x']);
  });
});

runIncomingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'receive: GET with the query Vonage sends; msisdn becomes E.164',
      method: 'GET',
      url: `receive?${query(inbound)}`,
      status: 200,
      response: ['Message Accepted', '"external_id":"0A0000000123ABCD1"'],
      msgs: [{ urn: 'tel:+250788383383', text: 'Hello world', externalId: '0A0000000123ABCD1', receivedOn: RECEIVED_ON }],
    },
    {
      label: 'receive: POST with a form body',
      url: 'receive',
      form: inbound,
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Hello world', externalId: '0A0000000123ABCD1', receivedOn: RECEIVED_ON }],
    },
    {
      label: 'receive: POST with a JSON body',
      url: 'receive',
      body: inbound,
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Hello world', externalId: '0A0000000123ABCD1', receivedOn: RECEIVED_ON }],
    },
    {
      label: 'receive: a number of another country is read as international, not national',
      method: 'GET',
      url: `receive?${query({ ...inbound, msisdn: '447911123456' })}`,
      status: 200,
      msgs: [{ urn: 'tel:+447911123456' }],
    },
    {
      label: "receive: a national number is made E.164 with the channel's country",
      method: 'GET',
      url: `receive?${query({ ...inbound, msisdn: '0788383383' })}`,
      status: 200,
      msgs: [{ urn: 'tel:+250788383383' }],
    },
    {
      label: 'receive: an alphanumeric sender id is kept',
      method: 'GET',
      url: `receive?${query({ ...inbound, msisdn: 'MTN' })}`,
      status: 200,
      msgs: [{ urn: 'tel:MTN', text: 'Hello world' }],
    },
    {
      label: 'receive: unicode text arrives as sent',
      url: 'receive',
      form: { ...inbound, type: 'unicode', text: 'Привет ☺ & = +' },
      status: 200,
      msgs: [{ text: 'Привет ☺ & = +' }],
    },
    {
      label: 'receive: an empty text is still a message',
      method: 'GET',
      url: `receive?${query({ ...inbound, text: '' })}`,
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: '' }],
    },
    {
      label: 'receive: part 1 of a concatenated SMS is stored as it comes, with its own messageId',
      url: 'receive',
      form: part(1, 'The first half of a long text, '),
      status: 200,
      msgs: [{ text: 'The first half of a long text, ', externalId: '0A00000001CONCAT1' }],
    },
    {
      label: 'receive: part 2 is stored beside part 1, not merged into it and not dropped',
      url: 'receive',
      body: part(2, 'and the second half.'),
      prepare: async (backend, channel) => {
        await backend.writeMsgs([
          {
            uuid: '0191e180-7d60-7000-8000-0000000000b1',
            channelUuid: channel.uuid,
            urn: 'tel:+250788383383',
            text: 'The first half of a long text, ',
            attachments: [],
            externalId: '0A00000001CONCAT1',
            receivedOn: RECEIVED_ON,
          },
        ]);
      },
      status: 200,
      msgs: [
        { text: 'The first half of a long text, ', externalId: '0A00000001CONCAT1' },
        { text: 'and the second half.', externalId: '0A00000001CONCAT2' },
      ],
    },
    {
      label: 'receive: the same messageId twice is stored once',
      url: 'receive',
      form: inbound,
      prepare: async (backend, channel) => {
        await backend.writeMsgs([
          {
            uuid: '0191e180-7d60-7000-8000-0000000000bb',
            channelUuid: channel.uuid,
            urn: 'tel:+250788383383',
            text: 'Hello world',
            attachments: [],
            externalId: inbound.messageId,
            receivedOn: RECEIVED_ON,
          },
        ]);
      },
      status: 200,
      response: '0191e180-7d60-7000-8000-0000000000bb',
      msgs: [{ externalId: inbound.messageId }],
    },
    {
      label: 'receive: a binary SMS carries no text → Ignored',
      url: 'receive',
      form: { msisdn: '250788383383', to: '250788000000', messageId: 'bin-1', type: 'binary', data: '0011', udh: '050003CC0201' },
      status: 200,
      response: ['Ignored', 'binary'],
    },
    {
      label: 'receive: without msisdn → 400 naming it',
      url: 'receive',
      form: { ...inbound, msisdn: '' },
      status: 400,
      response: `missing required field ${named('msisdn')}`,
    },
    {
      label: 'receive: without messageId → 400 naming it',
      method: 'GET',
      url: `receive?msisdn=250788383383&text=hi`,
      status: 400,
      response: named('messageId'),
    },
    {
      label: 'receive: an msisdn that is no number → 400 naming it',
      method: 'GET',
      url: `receive?${query({ ...inbound, msisdn: '12' })}`,
      status: 400,
      response: `invalid field ${named('msisdn')}`,
    },
    ...['2024-03-01T10:15:00Z', '1709288100', '2024-02-30 10:15:00', '2024-03-01 24:00:00'].map(
      (time): IncomingCase => ({
        label: `receive: message-timestamp "${time}" → 400 naming it`,
        url: 'receive',
        form: { ...inbound, 'message-timestamp': time },
        status: 400,
        response: [named('message-timestamp'), 'YYYY-MM-DD HH:MM:SS'],
      }),
    ),
    {
      label: 'receive: a JSON body that does not parse → 400',
      url: 'receive',
      body: '{"msisdn": "250788383383", "text": ',
      headers: { 'content-type': 'application/json' },
      status: 400,
      response: 'not valid JSON',
    },
    {
      label: 'receive: a JSON array → 400',
      url: 'receive',
      body: [inbound],
      status: 400,
      response: 'invalid request',
    },
    {
      label: 'receive: a JSON field that is an object → 400 naming it',
      url: 'receive',
      body: { ...inbound, text: { body: 'hi' } },
      status: 400,
      response: named('text'),
    },

    // Signed webhooks
    {
      label: 'signed: a form POST with a valid MD5 hash sig is accepted',
      url: 'receive',
      channel: 'signed',
      form: signed('signed', inbound),
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Hello world', externalId: '0A0000000123ABCD1' }],
    },
    {
      label: 'signed: a GET with a valid sig is accepted',
      method: 'GET',
      url: `receive?${query(signed('signed', inbound))}`,
      channel: 'signed',
      status: 200,
      msgs: [{ text: 'Hello world' }],
    },
    {
      label: 'signed: a JSON POST with a valid sig is accepted',
      url: 'receive',
      channel: 'signed',
      body: signed('signed', inbound),
      status: 200,
      msgs: [{ text: 'Hello world' }],
    },
    {
      label: 'signed: & and = in the text are signed as _ and stored as sent',
      url: 'receive',
      channel: 'signed',
      form: signed('signed', { ...inbound, text: 'You & me = us' }),
      status: 200,
      msgs: [{ text: 'You & me = us' }],
    },
    {
      label: 'signed: hex digits in either case',
      url: 'receive',
      channel: 'signed',
      form: (() => {
        const fields = signed('signed', inbound);
        return { ...fields, sig: fields.sig!.toUpperCase() };
      })(),
      status: 200,
      msgs: [{ text: 'Hello world' }],
    },
    ...(['hmacMd5', 'hmacSha1', 'hmacSha256', 'hmacSha512'] as const).map(
      (signer): IncomingCase => ({
        label: `signed: ${SIGNERS[signer].method} HMAC, as the channel's signature_method says`,
        url: 'receive',
        channel: signer,
        form: signed(signer, inbound),
        status: 200,
        msgs: [{ text: 'Hello world' }],
      }),
    ),
    {
      label: 'signed: no sig → 403',
      url: 'receive',
      channel: 'signed',
      form: inbound,
      status: 403,
      response: named('sig'),
    },
    {
      label: 'signed: a text changed after signing → 403',
      url: 'receive',
      channel: 'signed',
      form: { ...signed('signed', inbound), text: 'Send me all your money' },
      status: 403,
      response: 'does not match',
    },
    {
      label: 'signed: a field added after signing → 403',
      url: 'receive',
      channel: 'signed',
      form: { ...signed('signed', inbound), concat: 'true' },
      status: 403,
    },
    {
      label: "signed: signed with another channel's secret → 403",
      url: 'receive',
      channel: 'signed',
      form: signed('hmacMd5', inbound),
      status: 403,
    },
    {
      label: 'signed: an HMAC where the channel expects the MD5 hash → 403',
      url: 'receive',
      channel: 'signed',
      form: (() => {
        const fields = { ...inbound, timestamp: String(NOW) };
        return { ...fields, sig: sign(fields, SIGNERS.signed.secret, 'md5') };
      })(),
      status: 403,
    },
    {
      label: 'signed: a timestamp 10 minutes old (a replay) → 403',
      url: 'receive',
      channel: 'signed',
      form: signed('signed', inbound, NOW - 600),
      status: 403,
      response: '5 minutes',
    },
    {
      label: 'signed: a timestamp 10 minutes ahead → 403',
      url: 'receive',
      channel: 'signed',
      form: signed('signed', inbound, NOW + 600),
      status: 403,
      response: '5 minutes',
    },
    {
      label: 'signed: a valid sig over fields without a timestamp → 403',
      url: 'receive',
      channel: 'signed',
      form: { ...inbound, sig: sign(inbound, SIGNERS.signed.secret, 'md5hash') },
      status: 403,
      response: named('timestamp'),
    },
    {
      label: 'signed: a channel with an unknown signature_method → 503 until it is fixed',
      url: 'receive',
      channel: 'unknownMethod',
      form: signed('signed', inbound),
      status: 503,
      response: 'signature_method',
    },

    // Delivery receipts
    ...receiptStatuses.map(
      ([word, status, errCode, reason]): IncomingCase => ({
        label: `status: "${word}"${errCode ? ` with err-code ${errCode}` : ''} → ${status}`,
        method: 'GET',
        url: `status?${query(receipt(word, errCode ? { 'err-code': errCode } : {}))}`,
        prepare: sentMsg,
        status: 200,
        response: 'Status Update Accepted',
        statuses: [{ msgUuid: SENT_UUID, status, ...(reason ? { reason } : {}) }],
      }),
    ),
    {
      label: 'status: POST with a form body, client-ref in upper case',
      url: 'status',
      form: receipt('delivered', { 'client-ref': SENT_UUID.toUpperCase() }),
      prepare: sentMsg,
      status: 200,
      statuses: [{ msgUuid: SENT_UUID, status: 'delivered' }],
      check: ({ backend }) => expect(backend.outgoing.get(SENT_UUID)?.status).toBe('delivered'),
    },
    {
      label: 'status: POST with a JSON body',
      url: 'status',
      body: receipt('rejected', { 'err-code': '6' }),
      prepare: sentMsg,
      status: 200,
      statuses: [{ msgUuid: SENT_UUID, status: 'failed', reason: '6' }],
    },
    {
      label: 'status: without client-ref, messageId finds the message',
      method: 'GET',
      url: `status?${query(receipt('delivered', { 'client-ref': '' }))}`,
      prepare: sentMsg,
      status: 200,
      statuses: [{ externalId: SENT_ID, status: 'delivered' }],
      check: ({ backend }) => expect(backend.outgoing.get(SENT_UUID)?.status).toBe('delivered'),
    },
    {
      label: "status: a client-ref that is not a Herald uuid (another app's) falls back to messageId",
      method: 'GET',
      url: `status?${query(receipt('accepted', { 'client-ref': 'campaign-42' }))}`,
      prepare: sentMsg,
      status: 200,
      statuses: [{ externalId: SENT_ID, status: 'sent' }],
    },
    {
      label: 'status: "unknown" tells nothing → Ignored',
      method: 'GET',
      url: `status?${query(receipt('unknown'))}`,
      prepare: sentMsg,
      status: 200,
      response: ['Ignored', 'unknown'],
    },
    {
      label: 'status: a receipt for a message Herald does not know → Ignored',
      method: 'GET',
      url: `status?${query(receipt('delivered'))}`,
      status: 200,
      response: ['Ignored', SENT_UUID],
    },
    {
      label: 'status: an unknown status word → 400 naming it',
      method: 'GET',
      url: `status?${query(receipt('exploded'))}`,
      prepare: sentMsg,
      status: 400,
      response: [named('status'), named('exploded')],
    },
    ...['constructor', '__proto__', 'toString'].map(
      (word): IncomingCase => ({
        label: `status: "${word}" (a key every object inherits) → 400 naming status`,
        method: 'GET',
        url: `status?${query(receipt(word))}`,
        prepare: sentMsg,
        status: 400,
        response: [named('status'), named(word)],
      }),
    ),
    {
      label: 'status: without status → 400 naming it',
      method: 'GET',
      url: `status?messageId=${SENT_ID}`,
      status: 400,
      response: `missing required field ${named('status')}`,
    },
    {
      label: 'status: neither client-ref nor messageId → 400 naming messageId',
      method: 'GET',
      url: 'status?status=delivered',
      status: 400,
      response: named('messageId'),
    },
    {
      label: 'status: a signed receipt on a signing channel (SHA-256 HMAC)',
      method: 'GET',
      url: `status?${query(signed('hmacSha256', receipt('delivered')))}`,
      channel: 'hmacSha256',
      prepare: sentMsg,
      status: 200,
      statuses: [{ msgUuid: SENT_UUID, status: 'delivered' }],
    },
    {
      label: 'status: an unsigned receipt on a signing channel → 403, nothing changed',
      url: 'status',
      channel: 'signed',
      form: receipt('failed', { 'err-code': '1' }),
      prepare: sentMsg,
      status: 403,
    },
  ],
});

const SEND_URL = 'https://rest.nexmo.com/sms/json';
const STATUS_URL = `${TEST_BASE_URL}/c/nx/${DEFAULT_CHANNEL_UUID}/status`;
/** What every request for the default channel carries besides its text. */
const FORM = {
  api_key: API_KEY,
  api_secret: API_SECRET,
  from: '250788000000',
  to: '250788383383',
  callback: STATUS_URL,
  'client-ref': DEFAULT_OUTGOING_UUID,
  'status-report-req': '1',
};

/** The SMS API accepting a part as one SMS per id. */
const acceptedAs = (...ids: string[]): ProviderReply => ({
  url: SEND_URL,
  method: 'POST',
  body: {
    'message-count': String(ids.length),
    messages: ids.map((id) => ({
      to: '250788383383',
      'message-id': id,
      status: '0',
      'remaining-balance': '15.53590000',
      'message-price': '0.03330000',
      network: '63510',
      'client-ref': DEFAULT_OUTGOING_UUID,
    })),
  },
});
/** The SMS API refusing a part with a non-zero status. */
const refusedWith = (status: string, errorText: string): ProviderReply => ({
  url: SEND_URL,
  body: { 'message-count': '1', messages: [{ status, 'error-text': errorText }] },
});

/** The form fields of the nth request the fake provider saw. */
const sentForm = (n: number) => new URLSearchParams(provider.requests[n]?.body ?? '');

runOutgoingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'GSM-7 text: one form POST with the keys, the status callback and the uuid as client-ref',
      msg: { text: 'Hello World' },
      exchanges: [
        {
          reply: acceptedAs('0C000000217B7F02'),
          request: { headers: { 'content-type': 'application/x-www-form-urlencoded' }, form: { ...FORM, text: 'Hello World' } },
        },
      ],
      status: 'sent',
      externalIds: ['0C000000217B7F02'],
      check: () => expect(sentForm(0).has('type')).toBe(false),
    },
    {
      label: 'text that is not GSM-7 goes with type=unicode',
      msg: { text: 'Simple message ☺' },
      exchanges: [{ reply: acceptedAs('0C000000217B7F03'), request: { form: { ...FORM, text: 'Simple message ☺', type: 'unicode' } } }],
      status: 'sent',
      externalIds: ['0C000000217B7F03'],
    },
    {
      label: 'a part Vonage splits into several SMS: every message-id is kept',
      msg: { text: 'word '.repeat(60).trim() },
      exchanges: [{ reply: acceptedAs('0C00000021000001', '0C00000021000002') }],
      status: 'sent',
      externalIds: ['0C00000021000001', '0C00000021000002'],
    },
    {
      label: 'text over 1600 characters is sent as one request per part',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(700)}` },
      exchanges: [
        { reply: acceptedAs('0C0000002100000A'), request: { form: { ...FORM, text: 'a'.repeat(1000) } } },
        { reply: acceptedAs('0C0000002100000B'), request: { form: { ...FORM, text: 'b'.repeat(700) } } },
      ],
      status: 'sent',
      externalIds: ['0C0000002100000A', '0C0000002100000B'],
    },
    {
      label: 'attachments go as URLs after the text; quick replies are not sent',
      msg: { text: 'Look', attachments: ['image/jpeg:https://example.com/a.jpg'], quickReplies: ['Yes', 'No'] },
      exchanges: [{ reply: acceptedAs('0C000000217B7F04'), request: { form: { text: 'Look\nhttps://example.com/a.jpg' } } }],
      status: 'sent',
    },
    {
      label: 'a sender id as address, at a custom base_url',
      channel: 'senderId',
      msg: { urn: 'tel:+447911123456', text: 'Hi' },
      exchanges: [
        {
          reply: { ...acceptedAs('0C000000217B7F05'), url: 'https://vonage.example.com/sms/json' },
          request: {
            form: { from: 'Herald', to: '447911123456', callback: `${TEST_BASE_URL}/c/nx/${channels.senderId.uuid}/status` },
          },
        },
      ],
      status: 'sent',
    },
    {
      label: 'status 1 (throttled) → back in the queue, channel paused',
      msg: { text: 'Hi' },
      exchanges: [{ reply: refusedWith('1', 'Throughput Rate Exceeded - please wait [ 30 ] and retry') }],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: 'status 10 (too many binds) → back in the queue',
      msg: { text: 'Hi' },
      exchanges: [{ reply: refusedWith('10', 'Too Many Existing Binds') }],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: 'status 5 (internal error) → errored, retried',
      msg: { text: 'Hi' },
      exchanges: [{ reply: refusedWith('5', 'Internal Error') }],
      status: 'errored',
      reason: 'connection_failed',
      logErrors: ['connection_failed'],
    },
    {
      label: 'status 4 (bad credentials) → failed channel_config',
      msg: { text: 'Hi' },
      exchanges: [{ reply: refusedWith('4', 'Bad Credentials') }],
      status: 'failed',
      reason: 'channel_config',
      logErrors: ['channel_config'],
    },
    ...(
      [
        ['3', 'Invalid Message: invalid to number'],
        ['6', 'Invalid Message'],
        ['7', 'Number Barred'],
        ['9', 'Partner Quota Violation'],
        ['15', 'Invalid Sender Address'],
        ['29', 'Non-Whitelisted Destination'],
      ] as const
    ).map(
      ([code, text]): OutgoingCase => ({
        label: `status ${code} (${text}) → failed with the code, contact not stopped`,
        msg: { text: 'Hi' },
        exchanges: [{ reply: refusedWith(code, text) }],
        status: 'failed',
        reason: code,
        logErrors: [code],
      }),
    ),
    {
      label: 'one SMS of a part refused after another was accepted → failed with its code',
      msg: { text: 'Hi' },
      exchanges: [
        {
          reply: {
            url: SEND_URL,
            body: { 'message-count': '2', messages: [{ 'message-id': '0C0000002100000C', status: '0' }, { status: '9', 'error-text': 'Quota Exceeded' }] },
          },
        },
      ],
      status: 'failed',
      reason: '9',
    },
    {
      label: 'HTTP 429 from a proxy → throttled',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 429, headers: { 'retry-after': '3' } } }],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: 'HTTP 503 → errored, retried',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 503, body: 'Service Unavailable' } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a network error → errored',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'HTTP 200 that is not the SMS API answer → errored (response_content)',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 200, body: '<html>maintenance</html>' } }],
      status: 'errored',
      reason: 'response_content',
      logErrors: ['response_content'],
    },
    {
      label: 'status 0 without a message-id → errored (response_content)',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, body: { 'message-count': '1', messages: [{ status: '0' }] } } }],
      status: 'errored',
      reason: 'response_content',
    },
    {
      label: 'the second part failing after the first was accepted → errored',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(700)}` },
      exchanges: [{ reply: acceptedAs('0C0000002100000D') }, { reply: { url: SEND_URL, status: 500 } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a channel without an address → failed, nothing sent',
      channel: 'noAddress',
      msg: { text: 'Hi' },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
      logErrors: ['channel_config'],
    },
    {
      label: 'a channel without api_key or api_secret → failed, nothing sent',
      channel: 'unconfigured',
      msg: { text: 'Hi' },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
    },
  ],
});
