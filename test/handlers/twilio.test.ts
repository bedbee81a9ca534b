import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { twilioHandler as handler, twilioSignature } from '../../handlers/twilio.js';
import type { MsgStatus } from '../../src/msg.js';
import { DEFAULT_CHANNEL_UUID, type ChannelSpec } from '../harness/channels.js';
import { TEST_BASE_URL, runIncomingCases, type IncomingCase } from '../harness/incoming.js';
import { DEFAULT_OUTGOING_UUID, runOutgoingCases } from '../harness/outgoing.js';
import { FakeProvider } from '../harness/provider.js';

const provider = new FakeProvider().install();

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'tw-auth-token-0001';

const channels = {
  default: {
    uuid: DEFAULT_CHANNEL_UUID,
    address: '+12065551212',
    country: 'US',
    config: { account_sid: ACCOUNT_SID, auth_token: AUTH_TOKEN },
  },
  unsigned: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000a001',
    address: '+12065551213',
    country: 'US',
    config: { account_sid: ACCOUNT_SID, auth_token: 'tw-auth-token-0002', validate_signature: false },
  },
  rwanda: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000a002',
    address: '+250788000000',
    country: 'RW',
    config: { account_sid: ACCOUNT_SID, auth_token: 'tw-auth-token-0003' },
  },
  service: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000a003',
    country: 'US',
    config: {
      account_sid: ACCOUNT_SID,
      auth_token: 'tw-auth-token-0004',
      messaging_service_sid: 'MG0123456789abcdef0123456789abcdef',
      base_url: 'https://twilio.example.com/',
    },
  },
  unconfigured: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000a004',
    address: '+12065551214',
    config: {},
  },
} satisfies Record<string, ChannelSpec & { uuid: string }>;

type SigningChannel = Exclude<keyof typeof channels, 'unconfigured'>;

/** Twilio's signature, written out here apart from the handler's so the cases check it. */
function sign(token: string, url: string, form: Record<string, string>): string {
  const data = url + Object.keys(form).sort().map((name) => name + form[name]).join('');
  return createHmac('sha1', token).update(data).digest('base64');
}

/** A form POST to `action` signed as Twilio would sign it for the channel. */
function signed(
  action: string,
  form: Record<string, string>,
  channel: SigningChannel = 'default',
): Pick<IncomingCase, 'url' | 'channel' | 'form' | 'headers'> {
  const spec = channels[channel];
  const url = `${TEST_BASE_URL}/c/t/${spec.uuid}/${action}`;
  return { url: action, channel, form, headers: { 'X-Twilio-Signature': sign(spec.config.auth_token, url, form) } };
}

/** How a field's name appears in the JSON error envelope. */
const named = (field: string) => JSON.stringify(`"${field}"`).slice(1, -1);

const TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const MSG_UUID = '0191e180-7d60-7000-8000-0000000000aa';
const STATUS_URL = `status?id=${MSG_UUID}`;

const sms = {
  ToCountry: 'US',
  SmsMessageSid: 'SM0000000000000000000000000000001',
  NumMedia: '0',
  SmsSid: 'SM0000000000000000000000000000001',
  SmsStatus: 'received',
  Body: 'Hello from Twilio',
  To: '+12065551212',
  NumSegments: '1',
  MessageSid: 'SM0000000000000000000000000000001',
  AccountSid: ACCOUNT_SID,
  From: '+14155550100',
  ApiVersion: '2010-04-01',
};

const mms = {
  ...sms,
  Body: '',
  NumMedia: '2',
  MediaContentType0: 'image/jpeg',
  MediaUrl0: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SM1/Media/ME1`,
  MediaContentType1: 'audio/amr',
  MediaUrl1: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SM1/Media/ME2`,
};

function statusForm(status: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MessageSid: 'SM0000000000000000000000000000009',
    SmsSid: 'SM0000000000000000000000000000009',
    MessageStatus: status,
    SmsStatus: status,
    AccountSid: ACCOUNT_SID,
    From: '+12065551212',
    To: '+14155550100',
    ApiVersion: '2010-04-01',
    ...extra,
  };
}

const sentMsg: IncomingCase['prepare'] = (backend, channel) => {
  backend.addSentMsg({ channel, uuid: MSG_UUID, externalId: 'SM0000000000000000000000000000009' });
};

/** Every Twilio status word and what it becomes, with the reason a failure carries. */
const statusMappings: Array<[word: string, status: MsgStatus, extra?: Record<string, string>, reason?: string]> = [
  ['accepted', 'wired'],
  ['scheduled', 'wired'],
  ['queued', 'wired'],
  ['sending', 'wired'],
  ['sent', 'sent'],
  ['partially_delivered', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'read'],
  ['undelivered', 'failed', { ErrorCode: '30003', ErrorMessage: 'Unreachable destination handset' }, '30003'],
  ['failed', 'failed', { ErrorCode: '30007' }, '30007'],
  ['failed', 'failed', {}, 'failed'],
  ['canceled', 'failed', {}, 'canceled'],
];

describe('twilioSignature', () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };

  it("reproduces the example in Twilio's webhooks security docs", () => {
    expect(twilioSignature('12345', url, Object.entries(params))).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(sign('12345', url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('reproduces the older example of the twilio-php docs', () => {
    const older = { ...params, Caller: '+14158675309', From: '+14158675309' };
    expect(twilioSignature('12345', url, Object.entries(older))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('signs parameters sorted by name whatever order they came in, and changes with any input', () => {
    const reversed = Object.entries(params).reverse();
    expect(twilioSignature('12345', url, reversed)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(twilioSignature('12346', url, reversed)).not.toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(twilioSignature('12345', `${url}&baz=3`, reversed)).not.toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(twilioSignature('12345', url, [...reversed, ['Body', '']])).not.toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });
});

runIncomingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'receive: an SMS is stored and answered with empty TwiML',
      ...signed('receive', sms),
      status: 200,
      response: TWIML,
      contentType: 'text/xml',
      msgs: [{ urn: 'tel:+14155550100', text: 'Hello from Twilio', externalId: 'SM0000000000000000000000000000001', attachments: [] }],
    },
    {
      label: 'receive: an MMS with no text keeps each media as an attachment',
      ...signed('receive', mms),
      status: 200,
      response: TWIML,
      msgs: [
        {
          urn: 'tel:+14155550100',
          text: '',
          attachments: [`image/jpeg:${mms.MediaUrl0}`, `audio/amr:${mms.MediaUrl1}`],
        },
      ],
    },
    {
      label: "receive: a local number is made E.164 with the channel's country",
      ...signed('receive', { ...sms, From: '0788 383 383', To: '+250788000000' }, 'rwanda'),
      status: 200,
      msgs: [{ urn: 'tel:+250788383383' }],
    },
    {
      label: 'receive: an alphanumeric sender id is kept as it is',
      ...signed('receive', { ...sms, From: 'MTN' }),
      status: 200,
      msgs: [{ urn: 'tel:MTN', text: 'Hello from Twilio' }],
    },
    {
      label: 'receive: the same MessageSid twice is stored once',
      ...signed('receive', sms),
      prepare: async (backend, channel) => {
        await backend.writeMsgs([
          {
            uuid: '0191e180-7d60-7000-8000-0000000000bb',
            channelUuid: channel.uuid,
            urn: 'tel:+14155550100',
            text: 'Hello from Twilio',
            attachments: [],
            externalId: sms.MessageSid,
            receivedOn: new Date(),
          },
        ]);
      },
      status: 200,
      response: TWIML,
      msgs: [{ externalId: sms.MessageSid }],
    },
    {
      label: 'receive: no signature → 403',
      url: 'receive',
      form: sms,
      status: 403,
      response: 'missing X-Twilio-Signature',
    },
    {
      label: 'receive: a body changed after signing → 403',
      ...signed('receive', sms),
      form: { ...sms, Body: 'Send me all your money' },
      status: 403,
      response: 'does not match',
    },
    {
      label: "receive: signed with another channel's auth token → 403",
      ...signed('receive', sms),
      headers: { 'X-Twilio-Signature': sign('tw-auth-token-0003', `${TEST_BASE_URL}/c/t/${DEFAULT_CHANNEL_UUID}/receive`, sms) },
      status: 403,
    },
    {
      label: 'receive: signature checks can be turned off per channel',
      url: 'receive',
      channel: 'unsigned',
      form: sms,
      status: 200,
      msgs: [{ urn: 'tel:+14155550100', text: 'Hello from Twilio' }],
    },
    {
      label: 'receive: missing From → 400 naming it',
      ...signed('receive', { ...sms, From: '' }),
      status: 400,
      response: named('From'),
    },
    {
      label: 'receive: missing MessageSid → 400 naming it',
      ...signed('receive', { Body: 'hi', From: '+14155550100', To: '+12065551212' }),
      status: 400,
      response: named('MessageSid'),
    },
    {
      label: 'receive: a From that is no phone number → 400 naming it',
      ...signed('receive', { ...sms, From: '+1 (415) not-a-number!' }),
      status: 400,
      response: `invalid field ${named('From')}`,
    },
    {
      label: 'receive: NumMedia that is not a number → 400 naming it',
      ...signed('receive', { ...sms, NumMedia: 'two' }),
      status: 400,
      response: named('NumMedia'),
    },
    {
      label: 'receive: a media url missing for NumMedia → 400 naming it',
      ...signed('receive', { ...mms, NumMedia: '3' }),
      status: 400,
      response: named('MediaUrl2'),
    },
    {
      label: 'receive: a JSON body instead of a form → 400',
      url: 'receive',
      channel: 'unsigned',
      body: { From: '+14155550100', Body: 'hi', MessageSid: 'SM1' },
      status: 400,
      response: named('From'),
    },

    ...statusMappings.map(([word, status, extra, reason]): IncomingCase => ({
      label: `status: "${word}"${extra?.ErrorCode ? ` with ErrorCode ${extra.ErrorCode}` : ''} → ${status}`,
      ...signed(STATUS_URL, statusForm(word, extra)),
      prepare: sentMsg,
      status: 200,
      response: 'Status Update Accepted',
      statuses: [{ msgUuid: MSG_UUID, status, ...(reason ? { reason } : {}) }],
    })),
    {
      label: 'status: without the id in the URL the MessageSid finds the message',
      ...signed('status', statusForm('delivered')),
      prepare: sentMsg,
      status: 200,
      statuses: [{ externalId: 'SM0000000000000000000000000000009', status: 'delivered' }],
      check: ({ backend }) => expect(backend.outgoing.get(MSG_UUID)?.status).toBe('delivered'),
    },
    {
      label: 'status: older accounts send SmsSid and SmsStatus only',
      ...signed('status', { SmsSid: 'SM0000000000000000000000000000009', SmsStatus: 'sent', AccountSid: ACCOUNT_SID }),
      prepare: sentMsg,
      status: 200,
      statuses: [{ externalId: 'SM0000000000000000000000000000009', status: 'sent' }],
    },
    {
      label: 'status: an unknown message is ignored',
      ...signed(STATUS_URL, statusForm('delivered')),
      status: 200,
      response: ['Ignored', MSG_UUID],
    },
    {
      label: 'status: the status of an incoming message is ignored',
      ...signed(STATUS_URL, statusForm('received')),
      prepare: sentMsg,
      status: 200,
      response: ['Ignored', 'incoming message'],
    },
    {
      label: 'status: an unknown status word → 400 naming it',
      ...signed(STATUS_URL, statusForm('exploded')),
      prepare: sentMsg,
      status: 400,
      response: named('exploded'),
    },
    ...['constructor', '__proto__', 'hasOwnProperty'].map(
      (word): IncomingCase => ({
        label: `status: "${word}" (a key every object inherits) → 400 naming MessageStatus`,
        ...signed(STATUS_URL, statusForm(word)),
        prepare: sentMsg,
        status: 400,
        response: [named('MessageStatus'), named(word)],
      }),
    ),
    {
      label: 'status: error 21610 (the recipient replied STOP) fails the message and stops the recipient',
      ...signed(STATUS_URL, statusForm('undelivered', { ErrorCode: '21610', ErrorMessage: 'Attempt to send to unsubscribed recipient' })),
      prepare: sentMsg,
      status: 200,
      response: ['Status Update Accepted', 'stop_contact'],
      statuses: [{ msgUuid: MSG_UUID, status: 'failed', reason: '21610' }],
      events: [{ type: 'stop_contact', urn: 'tel:+14155550100' }],
      check: ({ backend }) => expect(backend.stopped.size).toBe(1),
    },
    {
      label: "status: error 21610 normalises a local To with the channel's country",
      ...signed(STATUS_URL, statusForm('failed', { ErrorCode: '21610', From: '+250788000000', To: '0788 383 383' }), 'rwanda'),
      prepare: sentMsg,
      status: 200,
      statuses: [{ msgUuid: MSG_UUID, status: 'failed', reason: '21610' }],
      events: [{ type: 'stop_contact', urn: 'tel:+250788383383' }],
    },
    {
      label: 'status: error 21610 without To → 400 naming it',
      ...signed(STATUS_URL, statusForm('failed', { ErrorCode: '21610', To: '' })),
      prepare: sentMsg,
      status: 400,
      response: named('To'),
    },
    {
      label: 'status: another error code stops nobody',
      ...signed(STATUS_URL, statusForm('failed', { ErrorCode: '30006' })),
      prepare: sentMsg,
      status: 200,
      statuses: [{ msgUuid: MSG_UUID, status: 'failed', reason: '30006' }],
      check: ({ backend }) => expect(backend.stopped.size).toBe(0),
    },
    {
      label: 'status: missing MessageStatus → 400 naming it',
      ...signed(STATUS_URL, { MessageSid: 'SM0000000000000000000000000000009' }),
      prepare: sentMsg,
      status: 400,
      response: named('MessageStatus'),
    },
    {
      label: 'status: neither id nor MessageSid → 400',
      ...signed('status', { MessageStatus: 'delivered' }),
      status: 400,
      response: named('MessageSid'),
    },
    {
      label: 'status: an id that is not a uuid → 400 naming it',
      ...signed('status?id=12', statusForm('delivered')),
      status: 400,
      response: named('id'),
    },
    {
      label: 'status: no signature → 403',
      url: STATUS_URL,
      form: statusForm('delivered'),
      prepare: sentMsg,
      status: 403,
    },
    {
      label: 'status: the query is signed too, so a signature without it → 403',
      ...signed('status', statusForm('delivered')),
      url: STATUS_URL,
      prepare: sentMsg,
      status: 403,
    },
    {
      label: 'status: a channel without auth_token cannot check signatures → 503 until it is fixed',
      url: 'status',
      channel: 'unconfigured',
      form: statusForm('delivered'),
      headers: { 'X-Twilio-Signature': 'anything=' },
      status: 503,
      response: 'auth_token',
    },
  ],
});

const SEND_URL = `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
const STATUS_CALLBACK = `${TEST_BASE_URL}/c/t/${DEFAULT_CHANNEL_UUID}/status?id=${DEFAULT_OUTGOING_UUID}`;
const BASIC_AUTH = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
const created = (sid: string) => ({ status: 201, body: { sid, status: 'queued', account_sid: ACCOUNT_SID } });
const twilioError = (status: number, code: number, message: string) => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

/** The form fields of the nth request the fake provider saw. */
function sentForm(n: number): URLSearchParams {
  return new URLSearchParams(provider.requests[n]?.body ?? '');
}

runOutgoingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'a text message is one request from the channel number, with a status callback',
      msg: {},
      exchanges: [
        {
          reply: { method: 'POST', url: SEND_URL, ...created('SM100') },
          request: {
            headers: { authorization: BASIC_AUTH, 'content-type': 'application/x-www-form-urlencoded' },
            form: { To: '+250788383383', From: '+12065551212', Body: 'Simple message ☺', StatusCallback: STATUS_CALLBACK },
          },
        },
      ],
      status: 'wired',
      externalIds: ['SM100'],
      check: () => expect(sentForm(0).has('MediaUrl')).toBe(false),
    },
    {
      label: 'a long text is sent in parts, one request each',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(1000)}` },
      exchanges: [
        { reply: { url: SEND_URL, ...created('SM201') }, request: { form: { Body: 'a'.repeat(1000), StatusCallback: STATUS_CALLBACK } } },
        { reply: { url: SEND_URL, ...created('SM202') }, request: { form: { Body: 'b'.repeat(1000), StatusCallback: STATUS_CALLBACK } } },
      ],
      status: 'wired',
      externalIds: ['SM201', 'SM202'],
    },
    {
      label: 'attachments go as MediaUrl on the first part only',
      msg: {
        text: `${'a'.repeat(1000)} ${'b'.repeat(1000)}`,
        attachments: ['image/jpeg:https://example.com/cat.jpg', 'video/mp4:https://example.com/cat.mp4'],
      },
      exchanges: [
        { reply: { url: SEND_URL, ...created('SM301') } },
        { reply: { url: SEND_URL, ...created('SM302') } },
      ],
      status: 'wired',
      externalIds: ['SM301', 'SM302'],
      check: () => {
        expect(sentForm(0).getAll('MediaUrl')).toEqual(['https://example.com/cat.jpg', 'https://example.com/cat.mp4']);
        expect(sentForm(1).getAll('MediaUrl')).toEqual([]);
      },
    },
    {
      label: 'attachments without text are one request without a Body',
      msg: { text: '', attachments: ['image/png:https://example.com/chart.png'] },
      exchanges: [{ reply: { url: SEND_URL, ...created('SM400') }, request: { form: { MediaUrl: 'https://example.com/chart.png' } } }],
      status: 'wired',
      externalIds: ['SM400'],
      check: () => expect(sentForm(0).has('Body')).toBe(false),
    },
    {
      label: 'a Messaging Service sends instead of a number, at a custom base_url',
      channel: 'service',
      msg: {},
      exchanges: [
        {
          reply: { url: `https://twilio.example.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`, ...created('SM500') },
          request: { form: { MessagingServiceSid: 'MG0123456789abcdef0123456789abcdef', Body: 'Simple message ☺' } },
        },
      ],
      status: 'wired',
      externalIds: ['SM500'],
      check: () => expect(sentForm(0).has('From')).toBe(false),
    },
    {
      label: 'quick replies cannot be shown by SMS: the text goes as it is',
      msg: { text: 'Coffee?', quickReplies: ['Yes', 'No'] },
      exchanges: [{ reply: { url: SEND_URL, ...created('SM600') }, request: { form: { Body: 'Coffee?' } } }],
      status: 'wired',
      externalIds: ['SM600'],
    },
    {
      label: 'error 21610 (recipient unsubscribed) fails the message and stops the contact',
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, ...twilioError(400, 21610, 'Attempt to send to unsubscribed recipient') } }],
      status: 'failed',
      reason: 'contact_stopped',
      contactStopped: true,
      logErrors: ['contact_stopped'],
    },
    {
      label: "another Twilio error fails the message with Twilio's code",
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, ...twilioError(400, 21211, "The 'To' number is not a valid phone number.") } }],
      status: 'failed',
      reason: '21211',
      logErrors: ['21211'],
    },
    {
      label: '429 (error 20429) puts the message back and pauses the channel',
      msg: {},
      exchanges: [
        { reply: { url: SEND_URL, ...twilioError(429, 20429, 'Too Many Requests'), headers: { 'Retry-After': '2' } } },
      ],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: 'a 5xx is retried later',
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, status: 503, body: 'Service Unavailable' } }],
      status: 'errored',
      reason: 'connection_failed',
      logErrors: ['connection_failed'],
    },
    {
      label: 'a network error is retried later',
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a 4xx without a Twilio error code fails the message',
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, status: 404, body: 'Not Found' } }],
      status: 'failed',
      reason: 'response_status',
    },
    {
      label: 'a 2xx without a message sid is retried later',
      msg: {},
      exchanges: [{ reply: { url: SEND_URL, status: 201, body: { status: 'queued' } } }],
      status: 'errored',
      reason: 'response_content',
      logErrors: ['response_content'],
    },
    {
      label: 'a failure on the second part still errors the message',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(1000)}` },
      exchanges: [
        { reply: { url: SEND_URL, ...created('SM701') } },
        { reply: { url: SEND_URL, status: 500, body: { code: 20500, message: 'Internal Server Error' } } },
      ],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a channel without account_sid or auth_token fails without calling Twilio',
      channel: 'unconfigured',
      msg: {},
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
      logErrors: ['channel_config'],
    },
    {
      label: 'more than 10 attachments cannot be sent',
      msg: { attachments: Array.from({ length: 11 }, (_, i) => `image/png:https://example.com/${i}.png`) },
      exchanges: [],
      status: 'failed',
      reason: 'message_invalid',
    },
  ],
});
