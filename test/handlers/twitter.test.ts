import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cutLabel, twitterHandler as handler } from '../../handlers/twitter.js';
import { ChannelConfig, type Channel } from '../../src/channel.js';
import { ChannelConfigError } from '../../src/send-error.js';
import type { Urn } from '../../src/urn.js';
import type { ChannelSpec } from '../harness/channels.js';
import { runIncomingCases, type IncomingCase } from '../harness/incoming.js';
import { runOutgoingCases } from '../harness/outgoing.js';
import { FakeProvider } from '../harness/provider.js';

const provider = new FakeProvider().install();

const API_KEY = 'twt-consumer-key-0001';
const API_SECRET = 'twt-consumer-secret-0001';
const ACCESS_TOKEN = '1234567890-twtAccessToken0001';
const ACCESS_TOKEN_SECRET = 'twt-access-secret-0001';
const CHANNEL_ID = '1234567890';
const keys = { api_key: API_KEY, api_secret: API_SECRET, access_token: ACCESS_TOKEN, access_token_secret: ACCESS_TOKEN_SECRET };
const PROXY = 'https://x-proxy.example.com';

const channels = {
  default: { address: 'herald_dm', config: { ...keys, handle_id: CHANNEL_ID } },
  unhandled: { config: { ...keys, api_key: 'twt-consumer-key-0002', access_token: '1234567890-twtAccessToken0002' } },
  proxied: { config: { ...keys, api_key: 'twt-consumer-key-0003', base_url: `${PROXY}/` } },
  keyless: { config: {} },
} satisfies Record<string, ChannelSpec>;

/** X's webhook signature, written out here apart from the handler's so the cases check it. */
const hmac256 = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('base64');

/** A POST of `payload` as X sends it: the exact JSON, signed with the channel's api_secret. */
function signed(payload: object | string, secret = API_SECRET): Pick<IncomingCase, 'url' | 'body' | 'headers'> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return { url: 'receive', body, headers: { 'content-type': 'application/json', 'x-twitter-webhooks-signature': `sha256=${hmac256(secret, body)}` } };
}

/** How a field's name appears in the JSON error envelope. */
const named = (field: string) => JSON.stringify(`"${field}"`).slice(1, -1);

const BOB = 'twitterid:3527065#bobsmith';
const TIMESTAMP = '1542039186292';
const users = {
  '3527065': { id: '3527065', name: 'Bob Smith', screen_name: 'BobSmith' },
  [CHANNEL_ID]: { id: CHANNEL_ID, name: 'Herald', screen_name: 'herald_dm' },
};

function dm(id: string, text: string, data: Record<string, unknown> = {}, senderId = '3527065'): object {
  const target = { recipient_id: senderId === CHANNEL_ID ? '3527065' : CHANNEL_ID };
  return {
    type: 'message_create',
    id,
    created_timestamp: TIMESTAMP,
    message_create: { target, sender_id: senderId, source_app_id: '268278', message_data: { text, entities: {}, ...data } },
  };
}

const activity = (...events: object[]) => ({ for_user_id: CHANNEL_ID, direct_message_events: events, users });

const media = (type: string, mediaUrl: string, extra: object = {}) => ({
  attachment: { type: 'media', media: { id_str: '9', type, media_url_https: mediaUrl, url: 'https://t.co/Xyz1', ...extra } },
});

/** A request body and its signature computed once with `openssl dgst -sha256 -hmac twt-consumer-secret-0001`. */
const VECTOR_BODY =
  '{"for_user_id":"1234567890","direct_message_events":[{"type":"message_create","id":"1062015437679050760","created_timestamp":"1542039186292",' +
  '"message_create":{"target":{"recipient_id":"1234567890"},"sender_id":"3527065","message_data":{"text":"Hello from X",' +
  '"entities":{"hashtags":[],"symbols":[],"user_mentions":[],"urls":[]}}}}],"users":{"3527065":{"id":"3527065","name":"Bob Smith","screen_name":"BobSmith"}}}';
const VECTOR_SIGNATURE = 'sha256=QwRYqvihmhT2EQxXRPI3KiqJRkn9tRmfkkQnMNEpOU4=';

runIncomingCases({
  handler,
  channels,
  cases: [
    {
      label: 'CRC check: the token signed with api_secret (vector computed with openssl)',
      method: 'GET',
      url: 'receive?crc_token=crc-challenge-0001&nonce=MTUxNDk3',
      status: 200,
      contentType: 'application/json',
      response: '{"response_token":"sha256=cT9zZluoUnrcw9MO6OB1E1AZQD7jDsLBbbuCjMJb2oc="}',
    },
    {
      label: 'CRC check: a URL-encoded token is signed decoded',
      method: 'GET',
      url: 'receive?crc_token=a%2Bb%3D%2Fc',
      status: 200,
      response: '"sha256=TeKbRcOlMaZmpXckawvW0qRo0WMMllX2XRvqWi/BSmE="',
    },
    {
      label: 'CRC check without crc_token → 400 naming it',
      method: 'GET',
      url: 'receive',
      status: 400,
      response: named('crc_token'),
    },
    {
      label: 'CRC check on a channel without api_secret → 503 naming it, so X tries again once it is fixed',
      channel: 'keyless',
      method: 'GET',
      url: 'receive?crc_token=abc',
      status: 503,
      response: 'api_secret',
    },
    {
      label: 'a DM signed as X signs it (vector computed with openssl)',
      url: 'receive',
      body: VECTOR_BODY,
      headers: { 'content-type': 'application/json', 'x-twitter-webhooks-signature': VECTOR_SIGNATURE },
      status: 200,
      response: ['Message Accepted', '"external_id":"1062015437679050760"'],
      msgs: [
        {
          urn: BOB,
          text: 'Hello from X',
          attachments: [],
          externalId: '1062015437679050760',
          contactName: 'Bob Smith',
          receivedOn: new Date(1542039186292),
        },
      ],
    },
    {
      label: 'HTML entities X escapes are decoded once',
      ...signed(activity(dm('101', 'Fish &amp; chips &lt;3 &gt;_&lt; &amp;lt;b&amp;gt;'))),
      status: 200,
      msgs: [{ urn: BOB, text: 'Fish & chips <3 >_< &lt;b&gt;' }],
    },
    {
      label: "a photo: media_url_https typed by its extension, the media's t.co link dropped from the text",
      ...signed(activity(dm('102', 'Look at this https://t.co/Xyz1', media('photo', 'https://ton.twitter.com/1.1/ton/data/dm/102/9/aBc.jpg')))),
      status: 200,
      msgs: [{ text: 'Look at this', attachments: ['image/jpeg:https://ton.twitter.com/1.1/ton/data/dm/102/9/aBc.jpg'], externalId: '102' }],
    },
    {
      label: 'a PNG without text',
      ...signed(activity(dm('103', 'https://t.co/Xyz1', media('photo', 'https://ton.twitter.com/1.1/ton/data/dm/103/9/chart.PNG')))),
      status: 200,
      msgs: [{ text: '', attachments: ['image/png:https://ton.twitter.com/1.1/ton/data/dm/103/9/chart.PNG'] }],
    },
    {
      label: 'a video: its best MP4 rather than the still in media_url_https',
      ...signed(
        activity(
          dm(
            '104',
            'clip https://t.co/Xyz1',
            media('video', 'https://pbs.twimg.com/dm_video_preview/104/img/still.jpg', {
              video_info: {
                variants: [
                  { content_type: 'application/x-mpegURL', url: 'https://video.twimg.com/dm_video/104/pl/list.m3u8' },
                  { bitrate: 832000, content_type: 'video/mp4', url: 'https://video.twimg.com/dm_video/104/vid/640x360/b.mp4' },
                  { bitrate: 2176000, content_type: 'video/mp4', url: 'https://video.twimg.com/dm_video/104/vid/1280x720/a.mp4' },
                  { bitrate: 256000, content_type: 'video/mp4', url: 'https://video.twimg.com/dm_video/104/vid/320x180/c.mp4' },
                ],
              },
            }),
          ),
        ),
      ),
      status: 200,
      msgs: [{ text: 'clip', attachments: ['video/mp4:https://video.twimg.com/dm_video/104/vid/1280x720/a.mp4'] }],
    },
    {
      label: 'a GIF without video_info: the still, typed by its extension',
      ...signed(activity(dm('105', '', media('animated_gif', 'https://pbs.twimg.com/dm_gif_preview/105/still.jpg')))),
      status: 200,
      msgs: [{ text: '', attachments: ['image/jpeg:https://pbs.twimg.com/dm_gif_preview/105/still.jpg'] }],
    },
    {
      label: 'several DMs in one request → several messages, in order; a sender missing from users has no name',
      ...signed(activity(dm('201', 'first'), dm('202', 'second', {}, '999888777'), dm('203', 'third'))),
      status: 200,
      msgs: [
        { urn: BOB, text: 'first', externalId: '201', contactName: 'Bob Smith' },
        { urn: 'twitterid:999888777', text: 'second', externalId: '202' },
        { urn: BOB, text: 'third', externalId: '203' },
      ],
      check: ({ backend }) => expect(backend.msgsIn[1]!.contactName).toBeUndefined(),
    },
    {
      label: "the channel's own DM (sender is handle_id) is skipped, the person's kept",
      ...signed({ direct_message_events: [dm('301', 'our reply', {}, CHANNEL_ID), dm('302', 'thanks!')], users }),
      status: 200,
      msgs: [{ urn: BOB, text: 'thanks!', externalId: '302' }],
    },
    {
      label: "only the channel's own DM and another event type → Ignored, saying why",
      ...signed(activity(dm('303', 'our reply', {}, CHANNEL_ID), { type: 'message_delete', id: '304', created_timestamp: TIMESTAMP })),
      status: 200,
      response: ['Ignored', '1 sent by the channel, 1 other events'],
    },
    {
      label: 'without handle_id, the subscribed account (for_user_id) is still recognised as the channel',
      channel: 'unhandled',
      ...signed(activity(dm('305', 'our reply', {}, CHANNEL_ID))),
      status: 200,
      response: ['Ignored', '1 sent by the channel'],
    },
    {
      label: 'activity without direct_message_events (typing, tweets) → Ignored, naming what it was',
      ...signed({ for_user_id: CHANNEL_ID, direct_message_indicate_typing_events: [{ created_timestamp: TIMESTAMP, sender_id: '3527065' }] }),
      status: 200,
      response: ['Ignored', 'direct_message_indicate_typing_events'],
    },
    {
      label: 'a body changed after signing → 403',
      ...signed(activity(dm('401', 'hi'))),
      body: JSON.stringify(activity(dm('401', 'hi, changed'))),
      status: 403,
      response: 'does not match',
    },
    {
      label: 'signed with another secret → 403',
      ...signed(activity(dm('402', 'hi')), 'not-the-channel-secret'),
      status: 403,
    },
    {
      label: 'no signature header → 403',
      url: 'receive',
      body: activity(dm('403', 'hi')),
      status: 403,
      response: 'missing header',
    },
    {
      label: 'the signature is checked before the body is read: bad JSON without one → 403',
      url: 'receive',
      body: '{"direct_message_events": [',
      headers: { 'content-type': 'application/json' },
      status: 403,
    },
    {
      label: 'signed body that is not JSON → 400',
      ...signed('{"direct_message_events": ['),
      status: 400,
      response: 'not valid JSON',
    },
    {
      label: 'a message_create event without message_create → 400 naming it',
      ...signed(activity({ type: 'message_create', id: '501', created_timestamp: TIMESTAMP })),
      status: 400,
      response: named('direct_message_events.0.message_create'),
    },
    {
      label: 'a sender id that is not a user id → 400 naming it',
      ...signed(activity(dm('502', 'hi', {}, 'bob'))),
      status: 400,
      response: named('direct_message_events.0.message_create.sender_id'),
    },
    {
      label: 'created_timestamp that is not epoch milliseconds → 400 naming it',
      ...signed(activity({ ...dm('503', 'hi'), created_timestamp: '2018-11-12T16:13:06Z' })),
      status: 400,
      response: named('direct_message_events.0.created_timestamp'),
    },
    {
      label: 'media without an http(s) URL → 400 naming it',
      ...signed(activity(dm('504', 'hi', media('photo', 'ftp://example.com/a.jpg')))),
      status: 400,
      response: named('direct_message_events.0.message_create.message_data.attachment.media.media_url_https'),
    },
    {
      label: 'a channel without api_secret cannot check signatures → 503 until it is fixed',
      channel: 'keyless',
      ...signed(activity(dm('505', 'hi'))),
      status: 503,
      response: 'api_secret',
    },
  ],
});

const SEND_URL = 'https://api.twitter.com/1.1/direct_messages/events/new.json';
const URN: Urn = 'twitterid:3527065#bobsmith';
const created = (id: string) => ({ body: { event: { type: 'message_create', id, created_timestamp: TIMESTAMP, message_create: {} } } });
const twitterError = (status: number, code: number, message: string, headers?: Record<string, string>) => ({
  status,
  body: { errors: [{ code, message }] },
  ...(headers ? { headers } : {}),
});
const dmJson = (text: string, options?: string[]) => ({
  event: {
    type: 'message_create',
    message_create: {
      target: { recipient_id: '3527065' },
      message_data: { text, ...(options ? { quick_reply: { type: 'options', options: options.map((label) => ({ label })) } } : {}) },
    },
  },
});
const LONG_1 = 'x'.repeat(9_000);
const LONG_2 = 'y'.repeat(2_000);

/**
 * Checks the nth request's OAuth 1.0a header: the channel's key and token, and a signature
 * recomputed here from X's description (only the oauth_* parameters are signed: the body is JSON).
 */
function expectOAuthSigned(n: number, url: string, consumerKey = API_KEY, token = ACCESS_TOKEN): Record<string, string> {
  const header = provider.requests[n]?.headers.get('authorization') ?? '';
  expect(header).toMatch(/^OAuth /);
  const fields = Object.fromEntries([...header.matchAll(/([a-z_]+)="([^"]*)"/g)].map(([, k, v]) => [k!, decodeURIComponent(v!)]));
  const { oauth_signature: signature, ...params } = fields;
  expect(params).toMatchObject({ oauth_consumer_key: consumerKey, oauth_token: token, oauth_signature_method: 'HMAC-SHA1', oauth_version: '1.0' });
  expect(Math.abs(Number(params.oauth_timestamp) - Date.now() / 1000)).toBeLessThan(60);
  const paramString = Object.keys(params).sort().map((k) => `${k}=${encodeURIComponent(params[k]!)}`).join('&');
  const base = `POST&${encodeURIComponent(url)}&${encodeURIComponent(paramString)}`;
  expect(signature).toBe(createHmac('sha1', `${API_SECRET}&${ACCESS_TOKEN_SECRET}`).update(base).digest('base64'));
  return fields;
}

/** The wait a throttled outcome asked for, in ms. */
const throttledFor = (outcome: object) => (outcome as { until: Date }).until.getTime() - Date.now();

runOutgoingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'a text → one message_create event, OAuth-signed; the event id is recorded',
      msg: { urn: URN },
      exchanges: [
        {
          reply: { method: 'POST', url: SEND_URL, ...created('1066701345218539524') },
          request: { url: SEND_URL, headers: { 'content-type': 'application/json' }, json: dmJson('Simple message ☺') },
        },
      ],
      status: 'sent',
      externalIds: ['1066701345218539524'],
      check: () => expectOAuthSigned(0, SEND_URL),
    },
    {
      label: 'a custom base_url is where the request goes, and what is signed',
      channel: 'proxied',
      msg: { urn: URN, text: 'Hi' },
      exchanges: [{ reply: { url: `${PROXY}/1.1/direct_messages/events/new.json`, ...created('7') }, request: { json: dmJson('Hi') } }],
      status: 'sent',
      externalIds: ['7'],
      check: () => expectOAuthSigned(0, `${PROXY}/1.1/direct_messages/events/new.json`, 'twt-consumer-key-0003'),
    },
    {
      label: 'text over 10,000 characters → one request per part, each with its own nonce',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}` },
      exchanges: [
        { reply: { url: SEND_URL, ...created('11') }, request: { json: dmJson(LONG_1) } },
        { reply: { url: SEND_URL, ...created('12') }, request: { json: dmJson(LONG_2) } },
      ],
      status: 'sent',
      externalIds: ['11', '12'],
      check: () => expect(expectOAuthSigned(0, SEND_URL).oauth_nonce).not.toBe(expectOAuthSigned(1, SEND_URL).oauth_nonce),
    },
    {
      label: 'quick replies → options with labels',
      msg: { urn: URN, text: 'Tea or coffee?', quickReplies: ['Tea', 'Coffee'] },
      exchanges: [{ reply: { url: SEND_URL, ...created('21') }, request: { json: dmJson('Tea or coffee?', ['Tea', 'Coffee']) } }],
      status: 'sent',
      externalIds: ['21'],
    },
    {
      label: 'long text with quick replies → the options ride on the last part only',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}`, quickReplies: ['OK'] },
      exchanges: [
        { reply: { url: SEND_URL, ...created('31') }, request: { json: dmJson(LONG_1) } },
        { reply: { url: SEND_URL, ...created('32') }, request: { json: dmJson(LONG_2, ['OK']) } },
      ],
      status: 'sent',
      externalIds: ['31', '32'],
    },
    {
      label: 'labels are cut to 36 code points without splitting an emoji, a flag or an accented letter',
      msg: {
        urn: URN,
        text: 'Pick one',
        quickReplies: ['a'.repeat(40), '😀'.repeat(40), '🇷🇼'.repeat(19), `${'x'.repeat(35)}e\u0301`],
      },
      exchanges: [
        {
          reply: { url: SEND_URL, ...created('41') },
          request: { json: dmJson('Pick one', ['a'.repeat(36), '😀'.repeat(36), '🇷🇼'.repeat(18), 'x'.repeat(35)]) },
        },
      ],
      status: 'sent',
      externalIds: ['41'],
    },
    {
      label: 'attachments → their URLs after the text',
      msg: { urn: URN, text: 'Our menu', attachments: ['image/jpeg:https://example.com/menu.jpg', 'application/pdf:https://example.com/menu.pdf'] },
      exchanges: [
        { reply: { url: SEND_URL, ...created('51') }, request: { json: dmJson('Our menu\nhttps://example.com/menu.jpg\nhttps://example.com/menu.pdf') } },
      ],
      status: 'sent',
      externalIds: ['51'],
    },
    {
      label: 'an attachment without text → its URL as the text, with the quick replies',
      msg: { urn: URN, text: '', attachments: ['image/png:https://example.com/chart.png'], quickReplies: ['Nice'] },
      exchanges: [{ reply: { url: SEND_URL, ...created('52') }, request: { json: dmJson('https://example.com/chart.png', ['Nice']) } }],
      status: 'sent',
      externalIds: ['52'],
    },
    {
      label: '429 with x-rate-limit-reset → back in the queue, the channel paused until the window resets',
      msg: { urn: URN },
      exchanges: [
        { reply: { url: SEND_URL, ...twitterError(429, 88, 'Rate limit exceeded', { 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 120) }) } },
      ],
      status: 'queued',
      logErrors: ['throttled'],
      check: ({ outcome }) => {
        expect(throttledFor(outcome)).toBeGreaterThan(60_000);
        expect(throttledFor(outcome)).toBeLessThanOrEqual(120_000);
      },
    },
    {
      label: 'error 88 under another status, with Retry-After → throttled for that long',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(420, 88, 'Rate limit exceeded', { 'retry-after': '5' }) } }],
      status: 'queued',
      check: ({ outcome }) => {
        expect(throttledFor(outcome)).toBeGreaterThan(4_000);
        expect(throttledFor(outcome)).toBeLessThanOrEqual(5_000);
      },
    },
    {
      label: 'error 349 (the person blocked the account or closed their DMs) → failed, contact stopped',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(403, 349, 'You cannot send messages to this user.') } }],
      status: 'failed',
      reason: 'contact_stopped',
      contactStopped: true,
      logErrors: ['contact_stopped'],
    },
    {
      label: 'error 150 (the person has not opened their DMs to the account) → failed with the code, contact not stopped',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(403, 150, 'You cannot send messages to users who are not following you.') } }],
      status: 'failed',
      reason: '150',
      logErrors: ['150'],
    },
    {
      label: "another 4xx → failed with X's error code",
      msg: { urn: 'twitterid:1' },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(404, 108, 'Cannot find specified user.') } }],
      status: 'failed',
      reason: '108',
    },
    {
      label: 'bad credentials (error 32) → failed with the code',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(401, 32, 'Could not authenticate you.') } }],
      status: 'failed',
      reason: '32',
    },
    {
      label: 'a 4xx without an X error body → failed, response_status',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, status: 400, body: '<html>Bad Request</html>' } }],
      status: 'failed',
      reason: 'response_status',
    },
    {
      label: 'over capacity (503, error 130) → errored, retried later',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, ...twitterError(503, 130, 'Over capacity') } }],
      status: 'errored',
      reason: 'connection_failed',
      logErrors: ['connection_failed'],
    },
    {
      label: 'a network error → errored',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a 2xx without event.id → errored, response_content',
      msg: { urn: URN },
      exchanges: [{ reply: { url: SEND_URL, body: { event: {} } } }],
      status: 'errored',
      reason: 'response_content',
    },
    {
      label: 'the second part failing after the first was sent → errored',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}` },
      exchanges: [
        { reply: { url: SEND_URL, ...created('61') } },
        { reply: { url: SEND_URL, ...twitterError(500, 131, 'Internal error') } },
      ],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'more than 20 quick replies → failed, message_invalid, nothing sent',
      msg: { urn: URN, quickReplies: Array.from({ length: 21 }, (_, i) => `option ${i}`) },
      exchanges: [],
      status: 'failed',
      reason: 'message_invalid',
    },
    {
      label: 'a URN that is not twitterid → failed, message_invalid',
      msg: { urn: 'tel:+250788383383' },
      exchanges: [],
      status: 'failed',
      reason: 'message_invalid',
    },
    {
      label: 'a channel without its keys → failed, channel_config, nothing sent',
      channel: 'keyless',
      msg: { urn: URN },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
      check: ({ log }) => expect(log.errors[0]!.message).toContain('"api_key" is required'),
    },
  ],
});

function channel(config: Record<string, unknown>): Channel {
  return { uuid: '0191e180-7d60-7000-8000-0000000c0c01', orgUuid: '', type: 'twt', name: 'twt', address: '', country: null, tps: 0, config: new ChannelConfig(config) };
}

describe('Twitter (twt) config', () => {
  it('redacts the four secrets', () => {
    expect(handler.redact(channel({ ...keys, handle_id: CHANNEL_ID }))).toEqual([API_KEY, API_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET]);
  });

  it.each([[keys], [{ ...keys, handle_id: CHANNEL_ID, base_url: PROXY }]])('accepts a working config (%j)', (config) => {
    expect(() => handler.checkConfig(channel(config))).not.toThrow();
  });

  const unworkable: [Record<string, unknown>, string][] = [
    ...Object.keys(keys).map((key): [Record<string, unknown>, string] => [{ ...keys, [key]: undefined }, `channel config "${key}" is required`]),
    [{ ...keys, handle_id: '@herald_dm' }, 'handle_id'],
    [{ ...keys, base_url: 'api.twitter.com' }, 'base_url'],
  ];
  it.each(unworkable)('refuses a config that cannot work, naming the setting (%j)', (config, problem) => {
    const check = () => handler.checkConfig(channel(config));
    expect(check).toThrow(ChannelConfigError);
    expect(check).toThrow(problem);
  });
});

describe('cutting a quick reply label', () => {
  it.each([
    ['Yes', 'Yes'],
    ['a'.repeat(36), 'a'.repeat(36)],
    [`${'a'.repeat(35)}👍🏽`, 'a'.repeat(35)],
    ['👨‍👩‍👧‍👦'.repeat(6), '👨‍👩‍👧‍👦'.repeat(5)],
  ])('%s → %s', (label, expected) => {
    const cut = cutLabel(label);
    expect(cut).toBe(expected);
    expect([...cut].length).toBeLessThanOrEqual(36);
  });
});
