import { kannelHandler as handler } from '../../handlers/kannel.js';
import { DEFAULT_CHANNEL_UUID, type ChannelSpec } from '../harness/channels.js';
import { TEST_BASE_URL, runIncomingCases, type IncomingCase } from '../harness/incoming.js';
import { DEFAULT_OUTGOING_UUID, runOutgoingCases, type OutgoingCase } from '../harness/outgoing.js';
import { FakeProvider } from '../harness/provider.js';

const provider = new FakeProvider().install();

const SEND_URL = 'http://kannel:13013/cgi-bin/sendsms';
const CUSTOM_SEND_URL = 'https://sms.example.com/kannel/sendsms';
// Characters that URL- and form-encoding spell differently, so the redaction of each is checked.
const PASSWORD = 'K4nnel&pass word+1';
const SENT_UUID = '0191e180-7d60-7000-8000-0000000000aa';

const channels = {
  default: {
    uuid: DEFAULT_CHANNEL_UUID,
    address: '2020',
    country: 'RW',
    config: { send_url: SEND_URL, username: 'herald', password: PASSWORD, verify_ssl: false },
  },
  national: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000b001',
    address: '2021',
    country: 'RW',
    config: {
      send_url: `${CUSTOM_SEND_URL}?smsc=mtn`,
      username: 'herald2',
      password: 'second-secret',
      use_national: true,
      encoding: 'unicode',
      dlr_mask: 19,
    },
  },
  plain: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000b002',
    address: '',
    country: null,
    config: { send_url: CUSTOM_SEND_URL, username: 'herald3', password: 'third-secret', encoding: 'default' },
  },
  unconfigured: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000b003',
    address: '2023',
    config: { username: 'herald4', password: 'fourth-secret' },
  },
  nationalNoCountry: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000b005',
    address: '2025',
    country: null,
    config: { send_url: SEND_URL, username: 'herald6', password: 'sixth-secret', use_national: true },
  },
  misconfigured: {
    uuid: '8eb23e93-5ecb-45ba-b726-00000000b004',
    address: '2024',
    config: { send_url: SEND_URL, username: 'herald5', password: 'fifth-secret', encoding: 'latin1' },
  },
} satisfies Record<string, ChannelSpec & { uuid: string }>;

/** Kannel's delivery report for the message sent as SENT_UUID. */
function dlr(status: string, expected: IncomingCase['statuses'], label: string): IncomingCase {
  return {
    label,
    method: 'GET',
    url: `status?id=${SENT_UUID}&status=${status}`,
    prepare: (backend, channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID }),
    status: 200,
    response: 'Status Update Accepted',
    statuses: expected,
  };
}

runIncomingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'GET receive with the fields of a Courier get-url',
      method: 'GET',
      url: 'receive?backend=mtn&sender=%2B250788383383&message=Hello+World&ts=1700000000&id=5f2a6a1e-kannel&to=2020',
      status: 200,
      response: ['Message Accepted', '"external_id":"5f2a6a1e-kannel"'],
      msgs: [
        {
          urn: 'tel:+250788383383',
          text: 'Hello World',
          externalId: '5f2a6a1e-kannel',
          receivedOn: new Date(1_700_000_000_000),
        },
      ],
    },
    {
      label: 'POST receive with a form body',
      url: 'receive',
      form: { sender: '+250788383383', message: 'Muraho', ts: '1700000100', id: 'k-2' },
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Muraho', externalId: 'k-2', receivedOn: new Date(1_700_000_100_000) }],
    },
    {
      label: 'POST receive from a post-url: the fields in the query, the raw text as the body',
      url: 'receive?sender=%2B250788383383&message=Posted&id=k-3',
      body: 'Posted',
      headers: { 'content-type': 'text/plain' },
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'Posted', externalId: 'k-3' }],
    },
    {
      label: 'receive accepts `from` and `text` for `sender` and `message`',
      method: 'GET',
      url: 'receive?from=%2B250788383383&text=aliases',
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'aliases' }],
    },
    {
      label: 'a local number becomes E.164 in the channel country',
      method: 'GET',
      url: 'receive?sender=0788+383+383&message=local&id=k-4',
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: 'local' }],
    },
    {
      label: 'an alphanumeric sender id is kept',
      method: 'GET',
      url: 'receive?sender=MTN&message=Your+balance+is+low&id=k-5',
      status: 200,
      msgs: [{ urn: 'tel:MTN', text: 'Your balance is low', externalId: 'k-5' }],
    },
    {
      label: 'an empty message is still a message',
      method: 'GET',
      url: 'receive?sender=%2B250788383383&message=&id=k-6',
      status: 200,
      msgs: [{ urn: 'tel:+250788383383', text: '', externalId: 'k-6' }],
    },
    {
      label: 'unicode text arrives as sent',
      url: 'receive',
      form: { sender: '+250788383383', message: 'Привет ☺', id: 'k-7' },
      status: 200,
      msgs: [{ text: 'Привет ☺' }],
    },
    {
      label: 'receive without a sender → 400 naming "sender"',
      method: 'GET',
      url: 'receive?message=hi&id=k-8',
      status: 400,
      response: 'missing required field \\"sender\\"',
    },
    {
      label: 'receive with an invalid number → 400 naming "sender"',
      method: 'GET',
      url: 'receive?sender=%2B12&message=hi',
      status: 400,
      response: 'invalid field \\"sender\\"',
    },
    {
      label: 'receive with an invalid `from` alias → 400 naming "from"',
      method: 'GET',
      url: 'receive?from=not+a+number!&message=hi',
      status: 400,
      response: 'invalid field \\"from\\"',
    },
    {
      label: 'receive with a ts that is not a unix time → 400 naming "ts"',
      method: 'GET',
      url: 'receive?sender=%2B250788383383&message=hi&ts=yesterday',
      status: 400,
      response: ['\\"ts\\"', 'unix time'],
    },
    dlr('1', [{ msgUuid: SENT_UUID, status: 'delivered' }], 'DLR 1 (delivered to phone) → delivered'),
    dlr('2', [{ msgUuid: SENT_UUID, status: 'failed', reason: 'not delivered to the phone' }], 'DLR 2 (not delivered to phone) → failed'),
    dlr('4', [{ msgUuid: SENT_UUID, status: 'wired' }], 'DLR 4 (queued on SMSC) → wired'),
    dlr('8', [{ msgUuid: SENT_UUID, status: 'sent' }], 'DLR 8 (delivered to SMSC) → sent'),
    dlr('16', [{ msgUuid: SENT_UUID, status: 'failed', reason: 'rejected by the SMSC' }], 'DLR 16 (not delivered to SMSC) → failed'),
    {
      label: 'POST status with a form body, uuid in any case',
      url: 'status',
      form: { id: SENT_UUID.toUpperCase(), status: '1' },
      prepare: (backend, channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID }),
      status: 200,
      statuses: [{ msgUuid: SENT_UUID, status: 'delivered' }],
      check: ({ backend }) => {
        if (backend.outgoing.get(SENT_UUID)?.status !== 'delivered') throw new Error('message not delivered');
      },
    },
    {
      label: 'status for a message Herald does not know → 200 Ignored',
      method: 'GET',
      url: `status?id=${SENT_UUID}&status=1`,
      status: 200,
      response: ['Ignored', `no message with uuid ${SENT_UUID}`],
    },
    {
      label: 'status with an unknown DLR type → 400 naming "status"',
      method: 'GET',
      url: `status?id=${SENT_UUID}&status=3`,
      prepare: (backend, channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID }),
      status: 400,
      response: ['\\"status\\"', 'got \\"3\\"'],
    },
    {
      label: 'status with %d left unreplaced → 400 naming "status"',
      method: 'GET',
      url: `status?id=${SENT_UUID}&status=%25d`,
      status: 400,
      response: '\\"status\\"',
    },
    {
      label: 'status without a status → 400 naming "status"',
      method: 'GET',
      url: `status?id=${SENT_UUID}`,
      status: 400,
      response: 'missing required field \\"status\\"',
    },
    {
      label: 'status without an id → 400 naming "id"',
      method: 'GET',
      url: 'status?status=1',
      status: 400,
      response: 'missing required field \\"id\\"',
    },
    {
      label: 'status with an id that is not a uuid → 400 naming "id"',
      method: 'GET',
      url: 'status?id=12345&status=1',
      status: 400,
      response: 'invalid field \\"id\\": \\"12345\\" is not a message uuid',
    },
    ...['constructor', '__proto__', 'toString'].map(
      (word): IncomingCase => ({
        label: `status "${word}" (a key every object inherits) → 400 naming "status"`,
        method: 'GET',
        url: `status?id=${SENT_UUID}&status=${word}`,
        prepare: (backend, channel) => void backend.addSentMsg({ channel, uuid: SENT_UUID }),
        status: 400,
        response: ['\\"status\\"', `got \\"${word}\\"`],
      }),
    ),
  ],
});

const DLR_URL = `${TEST_BASE_URL}/c/kn/${DEFAULT_CHANNEL_UUID}/status?id=${DEFAULT_OUTGOING_UUID}&status=%d`;
/** What every request to the default channel carries besides its text. */
const DEFAULT_QUERY = {
  username: 'herald',
  password: PASSWORD,
  from: '2020',
  to: '+250788383383',
  'dlr-url': DLR_URL,
  'dlr-mask': '31',
};
const ACCEPTED = { url: SEND_URL, status: 202, body: '0: Accepted for delivery' };
/** Text and a signed download URL (about 1,000 characters, no spaces) that do not fit one part together. */
const LONG_TEXT = 'word '.repeat(140).trim();
const LONG_URL = `https://files.example.com/${'a1/'.repeat(320)}photo.jpg?sig=${'b'.repeat(25)}`;

runOutgoingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'GSM-7 text goes as is, and %d survives in the dlr-url Kannel decodes',
      msg: { text: 'Hello World' },
      exchanges: [
        {
          reply: ACCEPTED,
          request: {
            url:
              `${SEND_URL}?username=herald&password=K4nnel%26pass+word%2B1&from=2020&to=%2B250788383383` +
              `&dlr-url=https%3A%2F%2Fherald.example.com%2Fc%2Fkn%2F${DEFAULT_CHANNEL_UUID}%2Fstatus%3Fid%3D${DEFAULT_OUTGOING_UUID}%26status%3D%25d` +
              '&dlr-mask=31&text=Hello+World',
          },
        },
      ],
      status: 'wired',
      externalIds: [],
    },
    {
      label: 'smart encoding: look-alike characters are replaced to stay GSM-7',
      msg: { text: '“Don’t” – wait…' },
      exchanges: [{ reply: ACCEPTED, request: { query: { ...DEFAULT_QUERY, text: '"Don\'t" - wait...' } } }],
      status: 'wired',
      check: () => expectNoParam('coding'),
    },
    {
      label: 'smart encoding: text that cannot be GSM-7 goes as UCS-2',
      msg: { text: 'Simple message ☺' },
      exchanges: [
        { reply: ACCEPTED, request: { query: { ...DEFAULT_QUERY, text: 'Simple message ☺', coding: '2', charset: 'utf8' } } },
      ],
      status: 'wired',
    },
    {
      label: 'Kannel answering 200 "Sent." is success too',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 200, body: 'Sent.' } }],
      status: 'wired',
      externalIds: [],
    },
    {
      label: 'unicode encoding, national number, dlr_mask and a send_url with its own query',
      channel: 'national',
      msg: { text: 'Hello' },
      exchanges: [
        {
          reply: { url: CUSTOM_SEND_URL, status: 202, body: '0: Accepted for delivery' },
          request: {
            query: {
              smsc: 'mtn',
              username: 'herald2',
              password: 'second-secret',
              from: '2021',
              to: '0788383383',
              text: 'Hello',
              coding: '2',
              charset: 'utf8',
              'dlr-mask': '19',
              'dlr-url': `${TEST_BASE_URL}/c/kn/${channels.national.uuid}/status?id=${DEFAULT_OUTGOING_UUID}&status=%d`,
            },
          },
        },
      ],
      status: 'wired',
    },
    {
      label: 'use_national keeps E.164 for a number of another country',
      channel: 'national',
      msg: { urn: 'tel:+447911123456', text: 'Hello' },
      exchanges: [{ reply: { url: CUSTOM_SEND_URL, status: 202 }, request: { query: { to: '+447911123456' } } }],
      status: 'wired',
    },
    {
      label: 'use_national without a channel country keeps E.164: no number is national to it',
      channel: 'nationalNoCountry',
      msg: { urn: 'tel:+447911123456', text: 'Hello' },
      exchanges: [{ reply: ACCEPTED, request: { query: { to: '+447911123456' } } }],
      status: 'wired',
    },
    {
      label: 'default encoding sends the text as is, with no coding, and no from without an address',
      channel: 'plain',
      msg: { text: 'Simple message ☺' },
      exchanges: [{ reply: { url: CUSTOM_SEND_URL, status: 202 }, request: { query: { text: 'Simple message ☺' } } }],
      status: 'wired',
      check: () => {
        expectNoParam('coding');
        expectNoParam('from');
      },
    },
    {
      label: 'long text is sent as one request per part',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(700)}` },
      exchanges: [
        { reply: ACCEPTED, request: { query: { ...DEFAULT_QUERY, text: 'a'.repeat(1000) } } },
        { reply: ACCEPTED, request: { query: { ...DEFAULT_QUERY, text: 'b'.repeat(700) } } },
      ],
      status: 'wired',
      externalIds: [],
    },
    {
      label: 'attachments are sent as URLs after the text',
      msg: { text: 'Look at this', attachments: ['image/jpeg:https://example.com/a.jpg', 'audio/mp3:https://example.com/b.mp3'] },
      exchanges: [
        {
          reply: ACCEPTED,
          request: { query: { text: 'Look at this\nhttps://example.com/a.jpg\nhttps://example.com/b.mp3' } },
        },
      ],
      status: 'wired',
    },
    {
      label: 'a long attachment URL is never cut: it goes whole in a part of its own',
      msg: { text: LONG_TEXT, attachments: [`image/jpeg:${LONG_URL}`] },
      exchanges: [
        { reply: ACCEPTED, request: { query: { text: LONG_TEXT } } },
        { reply: ACCEPTED, request: { query: { text: LONG_URL } } },
      ],
      status: 'wired',
    },
    {
      label: 'an attachment without text is sent as its URL',
      msg: { text: '', attachments: ['image/jpeg:https://example.com/a.jpg'] },
      exchanges: [{ reply: ACCEPTED, request: { query: { text: 'https://example.com/a.jpg' } } }],
      status: 'wired',
    },
    {
      label: 'quick replies are not sent: SMS has no buttons',
      msg: { text: 'Are you coming?', quickReplies: ['Yes', 'No'] },
      exchanges: [{ reply: ACCEPTED, request: { query: { text: 'Are you coming?' } } }],
      status: 'wired',
    },
    {
      label: '403 (authorization failed) → failed "forbidden"',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 403, body: 'Authorization failed for sendsms' } }],
      status: 'failed',
      reason: 'forbidden',
      logErrors: ['forbidden'],
    },
    {
      label: '400 (e.g. missing receiver) → failed',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 400, body: 'Missing receiver number' } }],
      status: 'failed',
      reason: 'response_status',
      logErrors: ['response_status'],
    },
    {
      label: '503 → errored, to be retried',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 503, body: 'Sending failed.' } }],
      status: 'errored',
      reason: 'connection_failed',
      logErrors: ['connection_failed'],
    },
    {
      label: '429 from a proxy in front of Kannel → throttled, back in the queue',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, status: 429, headers: { 'retry-after': '5' } } }],
      status: 'queued',
      logErrors: ['throttled'],
    },
    {
      label: 'network error → errored',
      msg: { text: 'Hi' },
      exchanges: [{ reply: { url: SEND_URL, networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'the second part failing after the first was accepted → errored',
      msg: { text: `${'a'.repeat(1000)} ${'b'.repeat(700)}` },
      exchanges: [ACCEPTED, { url: SEND_URL, status: 500 }].map((reply) => ({ reply })),
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'no send_url → failed, nothing sent',
      channel: 'unconfigured',
      msg: { text: 'Hi' },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
      logErrors: ['channel_config'],
    },
    {
      label: 'an unknown encoding → failed, nothing sent',
      channel: 'misconfigured',
      msg: { text: 'Hi' },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
    },
  ] satisfies OutgoingCase[],
});

/** Fails when the first request to Kannel carried `name`. */
function expectNoParam(name: string): void {
  const url = new URL(provider.requests[0]!.url);
  if (url.searchParams.has(name)) throw new Error(`request carried "${name}": ${url}`);
}
