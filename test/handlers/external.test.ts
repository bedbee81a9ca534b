import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../backends/memory/backend.js';
import { externalHandler as handler, parseMoDate } from '../../handlers/external.js';
import type { Channel } from '../../src/channel.js';
import { DEFAULT_CHANNEL_UUID } from '../harness/channels.js';
import { runIncomingCases } from '../harness/incoming.js';
import { DEFAULT_OUTGOING_UUID, runOutgoingCases } from '../harness/outgoing.js';
import { FakeProvider } from '../harness/provider.js';

const provider = new FakeProvider().install();

const SENT_UUID = '0191e180-7d60-7000-8000-0000000000aa';
/** Status cases refer to a message already handed to the provider. */
const sentMsg = { prepare: (backend: MemoryBackend, channel: Channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID }) };
const JSON_CHANNEL_UUID = '8eb23e93-5ecb-45ba-b726-0000000000e5';
/** The Basic authorization for the user and password `https://herald:p%40ss%3Aword@…` carries. */
const BASIC_HERALD = `Basic ${Buffer.from('herald:p@ss:word').toString('base64')}`;

runIncomingCases({
  handler,
  provider,
  channels: {
    default: {
      address: '+250788000000',
      country: 'RW',
      config: { send_url: 'https://example.com/send?user=herald&password=Sup3rSecretPw', send_authorization: 'Token sk_live_abc123' },
    },
    custom: { country: 'RW', config: { mo_from_field: 'msisdn', mo_text_field: 'message', mo_date_field: 'timestamp', mo_id_field: 'message_id' } },
    ext: { config: { scheme: 'ext' } },
    replying: { country: 'RW', config: { mo_response: '<Response>ok</Response>', mo_response_content_type: 'text/xml' } },
    badScheme: { config: { scheme: 'whatsapp' } },
  },
  cases: [
    // receive
    {
      label: 'POST form receive with date and id → message',
      url: 'receive',
      form: { from: '+250788383383', text: 'Join', date: '2024-03-01T10:15:00.250+02:00', id: 'ext-1' },
      status: 200,
      response: ['Message Accepted', '"urn":"tel:+250788383383"', '"external_id":"ext-1"'],
      msgs: [{ urn: 'tel:+250788383383', text: 'Join', externalId: 'ext-1', receivedOn: new Date('2024-03-01T08:15:00.250Z') }],
    },
    {
      label: 'GET receive with Courier spellings sender/time and unix seconds',
      method: 'GET',
      url: 'receive?sender=%2B250788383383&text=Hello+there&time=1709288100',
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Hello there', receivedOn: new Date('2024-03-01T10:15:00Z') }],
    },
    {
      label: 'local number is normalised with the channel country',
      method: 'GET',
      url: 'receive?from=0788383383&text=hi',
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'hi' }],
    },
    {
      label: 'alphanumeric sender id is kept',
      url: 'receive',
      form: { from: 'MTN', text: 'Your balance is 0' },
      status: 200,
      msgs: [{ urn: 'tel:MTN', text: 'Your balance is 0' }],
    },
    {
      label: 'date without offset is UTC; empty text is accepted',
      url: 'receive',
      form: { from: '+250788383383', text: '', date: '2024-03-01 10:15:00' },
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: '', receivedOn: new Date('2024-03-01T10:15:00Z') }],
    },
    {
      label: 'JSON body with configured field names, numbers allowed',
      channel: 'custom',
      url: 'receive',
      body: { msisdn: 250788383383, message: 'Yes', timestamp: 1709288100, message_id: 991, extra: { ignored: true } },
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Yes', externalId: '991', receivedOn: new Date('2024-03-01T10:15:00Z') }],
    },
    {
      label: 'configured field names replace the defaults (and their aliases)',
      channel: 'custom',
      url: 'receive',
      form: { from: '+250788383383', sender: '+250788383383', message: 'hi' },
      status: 400,
      response: 'missing required field \\"msisdn\\"',
    },
    {
      label: 'ext scheme: any id becomes an ext URN',
      channel: 'ext',
      url: 'receive',
      form: { from: 'user-42', text: 'hi' },
      status: 200,
      msgs: [{ urn: 'ext:user-42', text: 'hi' }],
    },
    {
      label: 'ext scheme: an id with spaces → 400 naming from',
      channel: 'ext',
      url: 'receive',
      form: { from: 'user 42', text: 'hi' },
      status: 400,
      response: 'invalid field \\"from\\"',
    },
    {
      label: 'mo_response answers the configured body and content type',
      channel: 'replying',
      url: 'receive',
      form: { from: '+250788383383', text: 'hi' },
      status: 200,
      response: '<Response>ok</Response>',
      contentType: 'text/xml',
      msgs: [{ urn: 'tel:+250788383383', text: 'hi' }],
    },
    { label: 'missing from → 400', url: 'receive', form: { text: 'hi' }, status: 400, response: 'missing required field \\"from\\"' },
    { label: 'blank from → 400', method: 'GET', url: 'receive?from=+&text=hi', status: 400, response: '\\"from\\"' },
    { label: 'missing text → 400', url: 'receive', form: { from: '+250788383383' }, status: 400, response: 'missing required field \\"text\\"' },
    {
      label: 'invalid phone number → 400 naming from',
      url: 'receive',
      form: { from: '+2507883833839999', text: 'hi' },
      status: 400,
      response: 'invalid field \\"from\\"',
    },
    {
      label: 'unparseable date → 400 naming date',
      url: 'receive',
      form: { from: '+250788383383', text: 'hi', date: 'yesterday' },
      status: 400,
      response: 'invalid field \\"date\\"',
    },
    {
      label: 'a day that does not exist → 400 naming date',
      method: 'GET',
      url: 'receive?from=%2B250788383383&text=hi&date=2024-02-30T10:00:00Z',
      status: 400,
      response: 'invalid field \\"date\\"',
    },
    {
      label: 'invalid configured date field is named by its configured name',
      channel: 'custom',
      url: 'receive',
      body: { msisdn: '+250788383383', message: 'hi', timestamp: '01/03/2024' },
      status: 400,
      response: 'invalid field \\"timestamp\\"',
    },
    {
      label: 'body that is not JSON → 400',
      url: 'receive',
      body: '{"from": ',
      headers: { 'content-type': 'application/json' },
      status: 400,
      response: 'not valid JSON',
    },
    { label: 'JSON array body → 400', url: 'receive', body: ['+250788383383', 'hi'], status: 400, response: 'expected object' },
    {
      label: 'JSON field of the wrong type → 400 naming it',
      url: 'receive',
      body: { from: '+250788383383', text: { body: 'hi' } },
      status: 400,
      response: '\\"text\\"',
    },
    {
      label: 'unknown scheme in the channel config → 503 until it is fixed',
      channel: 'badScheme',
      url: 'receive',
      form: { from: '+250788383383', text: 'hi' },
      status: 503,
      response: 'channel config \\"scheme\\"',
    },

    // statuses
    { label: 'POST sent with id → sent', url: 'sent', form: { id: SENT_UUID }, ...sentMsg, status: 200, response: 'Status Update Accepted', statuses: [{ msgUuid: SENT_UUID, status: 'sent' }] },
    { label: 'GET delivered with id → delivered', method: 'GET', url: `delivered?id=${SENT_UUID}`, ...sentMsg, status: 200, statuses: [{ msgUuid: SENT_UUID, status: 'delivered' }] },
    { label: 'POST failed with uuid → failed', url: 'failed', form: { uuid: SENT_UUID }, ...sentMsg, status: 200, statuses: [{ msgUuid: SENT_UUID, status: 'failed' }] },
    { label: 'GET sent with an uppercase uuid', method: 'GET', url: `sent?uuid=${SENT_UUID.toUpperCase()}`, ...sentMsg, status: 200, statuses: [{ msgUuid: SENT_UUID, status: 'sent' }] },
    { label: 'POST delivered as JSON', url: 'delivered', body: { id: SENT_UUID }, ...sentMsg, status: 200, statuses: [{ msgUuid: SENT_UUID, status: 'delivered' }] },
    { label: 'status for an unknown message → Ignored', url: 'delivered', form: { id: DEFAULT_OUTGOING_UUID }, status: 200, response: 'Ignored' },
    { label: 'status without id → 400', url: 'sent', form: { status: 'ok' }, ...sentMsg, status: 400, response: 'missing required field \\"id\\"' },
    ...['constructor', '__proto__'].map((action) => ({
      label: `an action named like a key every object inherits ("${action}") → 404`,
      url: `${action}?id=${SENT_UUID}`,
      ...sentMsg,
      status: 404,
    })),
    { label: 'status with an id that is not a uuid → 400', method: 'GET', url: 'failed?id=12345', ...sentMsg, status: 400, response: 'invalid field \\"id\\"' },

    // stopped
    {
      label: 'POST stopped → stop_contact event',
      url: 'stopped',
      form: { from: '0788383383' },
      status: 200,
      response: 'Event Accepted',
      events: [{ type: 'stop_contact', urn: 'tel:+250788383383' }],
      check: ({ backend }) => expect(backend.stopped.size).toBe(1),
    },
    { label: 'GET stopped on an ext channel', channel: 'ext', method: 'GET', url: 'stopped?from=user-42', status: 200, events: [{ type: 'stop_contact', urn: 'ext:user-42' }] },
    { label: 'stopped without from → 400', method: 'GET', url: 'stopped', status: 400, response: 'missing required field \\"from\\"' },
  ],
});

runOutgoingCases({
  handler,
  provider,
  channels: {
    default: { address: '+250788000000', country: 'RW', config: { send_url: 'https://example.com/send', send_authorization: 'Token sk_live_abc123' } },
    get: {
      address: '+250788000000',
      config: { send_url: 'https://example.com/send?to={{to}}&text={{text}}&from={{from_no_plus}}&password=Pw0rdInUrl', send_method: 'get' },
    },
    json: {
      address: '+250788000000',
      config: {
        send_url: 'https://api.example.org/v1/messages',
        content_type: 'json',
        body: '{"to": {{to_no_plus}}, "text": {{text}}, "buttons": {{quick_replies}}, "template": "{{1}}"}',
        headers: { 'X-Api-Token': 'hdr-token-42', 'Content-Type': 'application/json; charset=utf-8' },
      },
    },
    jsonDefault: { uuid: JSON_CHANNEL_UUID, address: '+250788000000', config: { send_url: 'https://api.example.org/v1/messages', content_type: 'json' } },
    xml: {
      address: '+250788000000',
      config: {
        send_url: 'https://api.example.org/sms',
        content_type: 'xml',
        send_method: 'PUT',
        body: '<sms><to>{{to}}</to><text>{{text}}</text><replies>{{quick_replies}}</replies></sms>',
      },
    },
    formReplies: { address: '+250788000000', config: { send_url: 'https://example.com/send', body: 'to={{to}}&text={{text}}{{quick_replies}}' } },
    short: { address: '+250788000000', config: { send_url: 'https://example.com/send', max_length: 20 } },
    medium: { address: '+250788000000', config: { send_url: 'https://example.com/send', max_length: 40 } },
    checked: { address: '+250788000000', config: { send_url: 'https://example.com/send', mt_response_check: 'ACCEPTED' } },
    ext: { address: 'herald', config: { send_url: 'https://example.com/send', scheme: 'ext' } },
    credentials: { address: '+250788000000', config: { send_url: 'https://herald:p%40ss%3Aword@example.com/send' } },
    credentialsAndAuthorization: {
      address: '+250788000000',
      config: { send_url: 'https://herald:p%40ss%3Aword@example.com/send', send_authorization: 'Token sk_live_abc123' },
    },
    inheritedContentType: { config: { send_url: 'https://example.com/send', content_type: 'constructor' } },
    noUrl: { config: {} },
    badMethod: { config: { send_url: 'https://example.com/send', send_method: 'DELETE' } },
  },
  cases: [
    {
      label: 'default: form POST with every variable and the authorization header',
      msg: {},
      exchanges: [
        {
          reply: { method: 'POST', url: 'https://example.com/send', body: 'ok' },
          request: {
            headers: { authorization: 'Token sk_live_abc123', 'content-type': 'application/x-www-form-urlencoded' },
            body:
              `id=${DEFAULT_OUTGOING_UUID}&text=Simple%20message%20%E2%98%BA&to=%2B250788383383&to_no_plus=250788383383` +
              `&from=%2B250788000000&from_no_plus=250788000000&channel=${DEFAULT_CHANNEL_UUID}`,
          },
        },
      ],
      status: 'wired',
      externalIds: [],
    },
    {
      label: 'GET: variables are URL-encoded into send_url, no body',
      channel: 'get',
      msg: { text: 'Hi & bye?' },
      exchanges: [
        {
          reply: { method: 'GET', url: 'https://example.com/send', body: 'ok' },
          request: {
            url: 'https://example.com/send?to=%2B250788383383&text=Hi%20%26%20bye%3F&from=250788000000&password=Pw0rdInUrl',
            body: '',
          },
        },
      ],
      status: 'wired',
    },
    {
      label: 'JSON: values are JSON literals, quick replies an array, configured headers win, unknown placeholders kept',
      channel: 'json',
      msg: { text: 'Say "yes"\nor no', quickReplies: ['Yes', 'No'] },
      exchanges: [
        {
          reply: { method: 'POST', url: 'https://api.example.org/v1/messages', body: { ok: true } },
          request: {
            headers: { 'content-type': 'application/json; charset=utf-8', 'x-api-token': 'hdr-token-42' },
            json: { to: '250788383383', text: 'Say "yes"\nor no', buttons: ['Yes', 'No'], template: '{{1}}' },
          },
        },
      ],
      status: 'wired',
    },
    {
      label: 'JSON with the default body',
      channel: 'jsonDefault',
      msg: { text: 'hi' },
      exchanges: [
        {
          reply: { url: 'https://api.example.org/v1/messages', body: { ok: true } },
          request: {
            json: {
              id: DEFAULT_OUTGOING_UUID,
              text: 'hi',
              to: '+250788383383',
              to_no_plus: '250788383383',
              from: '+250788000000',
              from_no_plus: '250788000000',
              channel: JSON_CHANNEL_UUID,
            },
          },
        },
      ],
      status: 'wired',
    },
    {
      label: 'XML over PUT: values escaped, quick replies as items',
      channel: 'xml',
      msg: { text: 'Tom & Jerry <3', quickReplies: ['A<B', 'C'] },
      exchanges: [
        {
          reply: { method: 'PUT', url: 'https://api.example.org/sms', body: '<ok/>' },
          request: {
            headers: { 'content-type': 'application/xml; charset=utf-8' },
            body: '<sms><to>+250788383383</to><text>Tom &amp; Jerry &lt;3</text><replies><item><value>A&lt;B</value></item><item><value>C</value></item></replies></sms>',
          },
        },
      ],
      status: 'wired',
    },
    {
      label: 'form: quick replies become repeated quick_reply fields',
      channel: 'formReplies',
      msg: { text: 'Pick one', quickReplies: ['Red & Blue', 'Green'] },
      exchanges: [
        {
          reply: { url: 'https://example.com/send' },
          request: { body: 'to=%2B250788383383&text=Pick%20one&quick_reply=Red%20%26%20Blue&quick_reply=Green' },
        },
      ],
      status: 'wired',
    },
    {
      label: 'long text is sent as one request per part of max_length',
      channel: 'short',
      msg: { text: 'This message is longer than twenty characters' },
      exchanges: [
        { reply: { url: 'https://example.com/send' }, request: { form: { text: 'This message is' } } },
        { reply: { url: 'https://example.com/send' }, request: { form: { text: 'longer than twenty' } } },
        { reply: { url: 'https://example.com/send' }, request: { form: { text: 'characters' } } },
      ],
      status: 'wired',
    },
    {
      label: 'attachment URLs follow the text, in a new part when the last one is full',
      channel: 'medium',
      msg: { text: 'See this', attachments: ['image/jpeg:https://x.io/a.jpg', 'image/jpeg:https://example.com/b.jpg'] },
      exchanges: [
        { reply: { url: 'https://example.com/send' }, request: { form: { text: 'See this\nhttps://x.io/a.jpg' } } },
        { reply: { url: 'https://example.com/send' }, request: { form: { text: 'https://example.com/b.jpg' } } },
      ],
      status: 'wired',
    },
    {
      label: 'ext URN: the id is the recipient',
      channel: 'ext',
      msg: { urn: 'ext:user-42', text: 'hi' },
      exchanges: [{ reply: { url: 'https://example.com/send' }, request: { form: { to: 'user-42', to_no_plus: 'user-42', from: 'herald' } } }],
      status: 'wired',
    },
    {
      label: 'mt_response_check found in the response → wired',
      channel: 'checked',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', body: 'status=ACCEPTED' } }],
      status: 'wired',
    },
    {
      label: 'mt_response_check missing from a 200 → errored (response_content)',
      channel: 'checked',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', body: 'status=REJECTED' } }],
      status: 'errored',
      reason: 'response_content',
      logErrors: ['response_content'],
    },
    {
      label: '429 → throttled, back in the queue',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', status: 429, headers: { 'retry-after': '30' } } }],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: '5xx → errored (connection_failed)',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', status: 503, body: 'down' } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: '4xx → failed (response_status)',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', status: 400, body: 'invalid number' } }],
      status: 'failed',
      reason: 'response_status',
      logErrors: ['response_status'],
    },
    {
      label: 'network error → errored (connection_failed)',
      msg: {},
      exchanges: [{ reply: { url: 'https://example.com/send', networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'second part refused after the first was accepted → errored',
      channel: 'short',
      msg: { text: 'This message is longer than twenty characters' },
      exchanges: [{ reply: { url: 'https://example.com/send' } }, { reply: { url: 'https://example.com/send', status: 500 } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'credentials in send_url go as Basic authorization, not in the URL, and never into the log',
      channel: 'credentials',
      msg: { text: 'hi' },
      exchanges: [
        {
          reply: { url: 'https://example.com/send', body: 'ok' },
          request: { url: 'https://example.com/send', headers: { authorization: BASIC_HERALD } },
        },
      ],
      status: 'wired',
      check: ({ log }) => {
        const logged = JSON.stringify(log);
        expect(logged).not.toContain('p@ss:word');
        expect(logged).not.toContain(BASIC_HERALD.slice('Basic '.length));
      },
    },
    {
      label: 'a configured send_authorization wins over credentials in send_url',
      channel: 'credentialsAndAuthorization',
      msg: { text: 'hi' },
      exchanges: [
        {
          reply: { url: 'https://example.com/send', body: 'ok' },
          request: { url: 'https://example.com/send', headers: { authorization: 'Token sk_live_abc123' } },
        },
      ],
      status: 'wired',
    },
    {
      label: 'content_type named like a key every object inherits → failed (channel_config), nothing sent',
      channel: 'inheritedContentType',
      msg: {},
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
    },
    { label: 'no send_url → failed (channel_config), nothing sent', channel: 'noUrl', msg: {}, exchanges: [], status: 'failed', reason: 'channel_config' },
    { label: 'unsupported send_method → failed (channel_config)', channel: 'badMethod', msg: {}, exchanges: [], status: 'failed', reason: 'channel_config' },
  ],
});

describe('parseMoDate', () => {
  it.each([
    ['1709288100', '2024-03-01T10:15:00.000Z'],
    ['1709288100.5', '2024-03-01T10:15:00.500Z'],
    ['2024-03-01', '2024-03-01T00:00:00.000Z'],
    ['2024-03-01T10:15', '2024-03-01T10:15:00.000Z'],
    ['2024-03-01T10:15:00Z', '2024-03-01T10:15:00.000Z'],
    ['2024-03-01T10:15:00.123456789-05:30', '2024-03-01T15:45:00.123Z'],
    ['2024-03-01T10:15:00+0200', '2024-03-01T08:15:00.000Z'],
    ['2024-02-29 23:59:59 +01', '2024-02-29T22:59:59.000Z'],
    // An unencoded `+` in a query string arrives as a space.
    ['2024-03-01T10:15:00 02:00', '2024-03-01T08:15:00.000Z'],
    ['2024-03-01 10:15 0200', '2024-03-01T08:15:00.000Z'],
  ])('%s → %s', (input, expected) => {
    expect(parseMoDate(input)?.toISOString()).toBe(expected);
  });

  it.each(['', 'yesterday', '2023-02-29', '2024-13-01', '2024-03-01T24:00:00Z', '2024-03-01T10:15:00+25:00', '03/01/2024', '170928810000000'])(
    'rejects %j',
    (input) => {
      expect(parseMoDate(input)).toBeNull();
    },
  );
});

describe('External API redaction', () => {
  it('covers the authorization, credential headers and credentials inside send_url', () => {
    const channel = new MemoryBackend().addChannel({
      type: 'ex',
      config: {
        send_url: 'https://bob:p%40ss@example.com/send?api_key=k-123&to={{to}}&token={{id}}',
        send_authorization: 'Basic Ym9iOnBhc3M=',
        headers: { Authorization: 'Bearer h-456', 'X-Api-Key': 'k-789', Accept: 'application/json' },
        mo_response: 'OK',
      },
    });
    expect(handler.redact(channel).sort()).toEqual(['Basic Ym9iOnBhc3M=', 'Bearer h-456', 'k-123', 'k-789', 'p@ss'].sort());
  });
});
