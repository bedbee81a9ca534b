import { describe, expect, it } from 'vitest';
import { reasonCode, telegramHandler as handler } from '../../handlers/telegram.js';
import { MemoryBackend } from '../../backends/memory/backend.js';
import { createApp } from '../../src/server.js';
import { TEST_BASE_URL, runIncomingCases } from '../harness/incoming.js';
import { testLogger } from '../harness/logger.js';
import { runOutgoingCases } from '../harness/outgoing.js';
import { FakeProvider } from '../harness/provider.js';

const provider = new FakeProvider().install();

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
const SECRET = 'hook-Secret_42';
const API = `https://api.telegram.org/bot${TOKEN}`;
const FILES = `https://api.telegram.org/file/bot${TOKEN}`;
const PROXY = 'https://tg-proxy.example.com';

const channels = {
  default: { config: { auth_token: TOKEN } },
  secured: { config: { auth_token: TOKEN, secret_token: SECRET } },
  proxied: { config: { auth_token: TOKEN, base_url: `${PROXY}/` } },
  tokenless: { config: {} },
  schemeless: { config: { auth_token: TOKEN, base_url: 'tg-proxy.example.com' } },
};

const nic = { id: 3527065, first_name: 'Nic', last_name: 'Pottier', username: 'NicPottier' };
const privateChat = { id: 3527065, type: 'private', first_name: 'Nic', last_name: 'Pottier', username: 'NicPottier' };
const NIC = 'telegram:3527065#nicpottier';
const DATE = 1454119029;
const RECEIVED_ON = new Date(DATE * 1000);

function update(message: Record<string, unknown>): object {
  return { update_id: 174114370, message: { message_id: 41, from: nic, chat: privateChat, date: DATE, ...message } };
}

const getFile = (fileId: string, filePath: string, base = API) => ({
  method: 'GET',
  url: `${base}/getFile?file_id=${fileId}`,
  body: { ok: true, result: { file_id: fileId, file_unique_id: 'u1', file_size: 1024, file_path: filePath } },
});

/** The error codes in the request's channel log. */
const logErrors = (codes: string[]) => ({ backend }: { backend: { logs: { errors: { code: string }[] }[] } }) => {
  expect(backend.logs[0]!.errors.map((e) => e.code)).toEqual(codes);
};

runIncomingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'text message',
      url: 'receive',
      body: update({ text: 'Hello World' }),
      status: 200,
      response: ['Message Accepted', '"external_id":"41"'],
      msgs: [{ urn: NIC, text: 'Hello World', attachments: [], externalId: '41', contactName: 'Nic Pottier', receivedOn: RECEIVED_ON }],
    },
    {
      label: 'sender without last name or username',
      url: 'receive',
      body: update({ from: { id: 77, first_name: 'Ann' }, chat: { id: 77, type: 'private', first_name: 'Ann' }, text: 'hi' }),
      status: 200,
      msgs: [{ urn: 'telegram:77', text: 'hi', contactName: 'Ann' }],
    },
    {
      label: '/start → new_conversation event, no message',
      url: 'receive',
      body: update({ text: '/start' }),
      status: 200,
      response: 'Event Accepted',
      events: [{ type: 'new_conversation', urn: NIC, contactName: 'Nic Pottier' }],
    },
    {
      label: '/start with a deep-link payload → new_conversation event',
      url: 'receive',
      body: update({ text: '/start ref-42' }),
      status: 200,
      events: [{ type: 'new_conversation', urn: NIC }],
    },
    {
      label: 'photo: the largest size is resolved with getFile, caption as text',
      url: 'receive',
      body: update({
        caption: 'Look at this',
        photo: [
          { file_id: 'small', file_unique_id: 's', width: 90, height: 51 },
          { file_id: 'large', file_unique_id: 'l', width: 800, height: 455 },
          { file_id: 'medium', file_unique_id: 'm', width: 320, height: 182 },
        ],
      }),
      provider: [getFile('large', 'photos/file_1.jpg')],
      status: 200,
      msgs: [{ urn: NIC, text: 'Look at this', attachments: [`image/jpeg:${FILES}/photos/file_1.jpg`], externalId: '41' }],
    },
    {
      label: 'voice through a custom base_url keeps its mime type',
      channel: 'proxied',
      url: 'receive',
      body: update({ voice: { file_id: 'v1', file_unique_id: 'v', duration: 3, mime_type: 'audio/ogg' } }),
      provider: [getFile('v1', 'voice/file_2.oga', `${PROXY}/bot${TOKEN}`)],
      status: 200,
      msgs: [{ text: '', attachments: [`audio/ogg:${PROXY}/file/bot${TOKEN}/voice/file_2.oga`] }],
    },
    {
      label: 'video without mime type → video/mp4',
      url: 'receive',
      body: update({ video: { file_id: 'vid', file_unique_id: 'v', width: 1, height: 1, duration: 2 } }),
      provider: [getFile('vid', 'videos/file_3.mp4')],
      status: 200,
      msgs: [{ attachments: [`video/mp4:${FILES}/videos/file_3.mp4`] }],
    },
    {
      label: 'audio, document and sticker attachments',
      url: 'receive',
      body: update({ document: { file_id: 'doc', file_unique_id: 'd', file_name: 'a.pdf', mime_type: 'application/pdf' }, caption: 'the report' }),
      provider: [getFile('doc', 'documents/file_4.pdf')],
      status: 200,
      msgs: [{ text: 'the report', attachments: [`application/pdf:${FILES}/documents/file_4.pdf`] }],
    },
    {
      label: 'document without mime type → application/octet-stream',
      url: 'receive',
      body: update({ document: { file_id: 'doc2', file_unique_id: 'd2', file_name: 'notes' } }),
      provider: [getFile('doc2', 'documents/file_7')],
      status: 200,
      msgs: [{ text: '', attachments: [`application/octet-stream:${FILES}/documents/file_7`] }],
    },
    {
      label: 'static sticker → image/webp',
      url: 'receive',
      body: update({ sticker: { file_id: 'stk', file_unique_id: 's', type: 'regular', width: 512, height: 512, is_animated: false, is_video: false } }),
      provider: [getFile('stk', 'stickers/file_5.webp')],
      status: 200,
      msgs: [{ text: '', attachments: [`image/webp:${FILES}/stickers/file_5.webp`] }],
    },
    {
      label: 'audio without mime type → audio/mpeg',
      url: 'receive',
      body: update({ audio: { file_id: 'aud', file_unique_id: 'a', duration: 60 } }),
      provider: [getFile('aud', 'music/file_6.mp3')],
      status: 200,
      msgs: [{ attachments: [`audio/mpeg:${FILES}/music/file_6.mp3`] }],
    },
    {
      label: 'getFile answers 400: the caption is still stored, the error logged',
      url: 'receive',
      body: update({ caption: 'Look', photo: [{ file_id: 'gone', file_unique_id: 'g', width: 1, height: 1 }] }),
      provider: [{ url: `${API}/getFile`, status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' } }],
      status: 200,
      response: 'Message Accepted',
      msgs: [{ text: 'Look', attachments: [] }],
      check: logErrors(['media_unresolved']),
    },
    {
      label: 'getFile answers 400 "file is too big": stored without the attachment, since asking again cannot help',
      url: 'receive',
      body: update({ caption: 'film', video: { file_id: 'huge', file_unique_id: 'h', width: 1, height: 1, duration: 600 } }),
      provider: [{ url: `${API}/getFile`, status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: file is too big' } }],
      status: 200,
      msgs: [{ text: 'film', attachments: [] }],
      check: ({ backend }) => expect(backend.logs[0]!.errors[0]!.message).toContain('file is too big'),
    },
    {
      label: 'getFile unreachable: 503 so Telegram delivers the update again, nothing stored',
      url: 'receive',
      body: update({ voice: { file_id: 'v9', file_unique_id: 'v', duration: 1 } }),
      provider: [{ url: `${API}/getFile`, networkError: true }],
      status: 503,
      check: ({ backend }) => expect(backend.logs[0]!.errors.map((e) => e.code)).toContain('connection_failed'),
    },
    {
      label: 'getFile answers 200 without a file_path: stored without the attachment',
      url: 'receive',
      body: update({ document: { file_id: 'big', file_unique_id: 'b' } }),
      provider: [{ url: `${API}/getFile`, body: { ok: true, result: { file_id: 'big', file_unique_id: 'b' } } }],
      status: 200,
      msgs: [{ text: '', attachments: [] }],
      check: logErrors(['media_unresolved']),
    },
    {
      label: 'getFile answers 502: 503 so Telegram delivers the update again, nothing stored',
      url: 'receive',
      body: update({ caption: 'pic', photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }] }),
      provider: [{ url: `${API}/getFile`, status: 502, body: 'Bad Gateway' }],
      status: 503,
    },
    {
      label: 'getFile answers 429: 503 so Telegram delivers the update again, nothing stored',
      url: 'receive',
      body: update({ caption: 'pic', photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }] }),
      provider: [
        { url: `${API}/getFile`, status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 5', parameters: { retry_after: 5 } } },
      ],
      status: 503,
    },
    {
      label: 'media on a channel without auth_token: 503 naming the setting, nothing stored, so Telegram retries once it is fixed',
      channel: 'tokenless',
      url: 'receive',
      body: update({ caption: 'pic', photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }] }),
      provider: [],
      status: 503,
      response: 'channel config \\"auth_token\\" is required',
    },
    {
      label: 'location → geo attachment',
      url: 'receive',
      body: update({ location: { latitude: -2.910574, longitude: -79.000239 } }),
      status: 200,
      msgs: [{ text: '', attachments: ['geo:-2.910574,-79.000239'] }],
    },
    {
      label: 'venue → geo attachment with its title and address as text',
      url: 'receive',
      body: update({
        location: { latitude: 1.5, longitude: 30.25 },
        venue: { location: { latitude: 1.5, longitude: 30.25 }, title: 'Kigali Heights', address: 'KG 7 Ave' },
      }),
      status: 200,
      msgs: [{ text: 'Kigali Heights, KG 7 Ave', attachments: ['geo:1.5,30.25'] }],
    },
    {
      label: 'shared contact → its phone number as text',
      url: 'receive',
      body: update({ contact: { phone_number: '+250788123123', first_name: 'Bob', user_id: 99 } }),
      status: 200,
      msgs: [{ urn: NIC, text: '+250788123123', attachments: [] }],
    },
    {
      label: 'message with nothing Herald stores (a poll) → ignored',
      url: 'receive',
      body: update({ poll: { id: '1', question: 'Tea?', options: [] } }),
      status: 200,
      response: ['Ignored', 'no text or content'],
    },
    {
      label: 'edited_message update → ignored, naming it',
      url: 'receive',
      body: { update_id: 5, edited_message: { message_id: 41, chat: privateChat, date: DATE, edit_date: DATE, text: 'fixed' } },
      status: 200,
      response: ['Ignored', 'edited_message'],
    },
    {
      label: 'callback_query update → ignored',
      url: 'receive',
      body: { update_id: 6, callback_query: { id: 'cb', from: nic, data: 'x' } },
      status: 200,
      response: ['Ignored', 'callback_query'],
    },
    {
      label: 'body is not JSON → 400',
      url: 'receive',
      body: 'update_id=1',
      headers: { 'content-type': 'application/json' },
      status: 400,
      response: 'not valid JSON',
    },
    {
      label: 'empty body → 400',
      url: 'receive',
      body: '',
      status: 400,
      response: 'empty',
    },
    {
      label: 'missing update_id → 400 naming it',
      url: 'receive',
      body: { message: { message_id: 1 } },
      status: 400,
      response: '\\"update_id\\"',
    },
    {
      label: 'chat id of the wrong type → 400 naming it',
      url: 'receive',
      body: update({ chat: { id: 'abc', type: 'private' }, text: 'hi' }),
      status: 400,
      response: '\\"message.chat.id\\"',
    },
    {
      label: 'message without date → 400 naming it',
      url: 'receive',
      body: { update_id: 1, message: { message_id: 1, chat: privateChat, text: 'hi' } },
      status: 400,
      response: '\\"message.date\\"',
    },
    {
      label: 'secret_token configured and matching → accepted',
      channel: 'secured',
      url: 'receive',
      body: update({ text: 'Hello' }),
      headers: { 'X-Telegram-Bot-Api-Secret-Token': SECRET },
      status: 200,
      msgs: [{ urn: NIC, text: 'Hello' }],
    },
    {
      label: 'secret_token configured, header missing → 403',
      channel: 'secured',
      url: 'receive',
      body: update({ text: 'Hello' }),
      status: 403,
      response: 'missing header',
    },
    {
      label: 'secret_token configured, header wrong → 403',
      channel: 'secured',
      url: 'receive',
      body: update({ text: 'Hello' }),
      headers: { 'X-Telegram-Bot-Api-Secret-Token': 'hook-Secret_43' },
      status: 403,
      response: 'does not match',
    },
  ],
});

describe('Telegram redelivering an update after a 503', () => {
  it('stores the message once, with its attachment, when getFile works again', async () => {
    const backend = new MemoryBackend();
    const channel = backend.addChannel({ type: 'tg', config: { auth_token: TOKEN } });
    const app = createApp({ backend, handlers: [handler], baseUrl: TEST_BASE_URL, logger: testLogger });
    const deliver = () =>
      app.request(`${TEST_BASE_URL}/c/tg/${channel.uuid}/receive`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(update({ caption: 'pic', photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }] })),
      });

    provider.expect([{ url: `${API}/getFile`, status: 502, body: 'Bad Gateway' }]);
    expect((await deliver()).status).toBe(503);
    expect(backend.msgsIn).toEqual([]);

    provider.expect([getFile('p', 'photos/file_9.jpg')]);
    const first = await deliver();
    expect(first.status).toBe(200);
    provider.expect([getFile('p', 'photos/file_9.jpg')]);
    const again = await deliver();
    expect(again.status).toBe(200);

    expect(provider.mismatches).toEqual([]);
    expect(backend.msgsIn.map((m) => ({ text: m.text, attachments: m.attachments }))).toEqual([
      { text: 'pic', attachments: [`image/jpeg:${FILES}/photos/file_9.jpg`] },
    ]);
    const uuidOf = async (res: Response) => ((await res.json()) as { data: { msg_uuid: string }[] }).data[0]!.msg_uuid;
    expect(await uuidOf(again)).toBe(await uuidOf(first));
  });
});

const sent = (messageId: number) => ({ ok: true, result: { message_id: messageId, chat: { id: 12345, type: 'private' }, date: DATE } });
const keyboard = (...buttons: string[]) => ({
  keyboard: buttons.map((text) => [{ text }]),
  resize_keyboard: true,
  one_time_keyboard: true,
});
const LONG_1 = 'x'.repeat(4000);
const LONG_2 = 'y'.repeat(200);
const CAPTION_TOO_LONG = 'z'.repeat(1025);
const URN = 'telegram:12345#bob';

runOutgoingCases({
  handler,
  channels,
  provider,
  cases: [
    {
      label: 'plain text → sendMessage',
      msg: { urn: URN, text: 'Simple message ☺' },
      exchanges: [
        {
          request: { url: `${API}/sendMessage`, headers: { 'content-type': 'application/json' }, json: { chat_id: '12345', text: 'Simple message ☺' } },
          reply: { method: 'POST', url: `${API}/sendMessage`, body: sent(133) },
        },
      ],
      status: 'wired',
      externalIds: ['133'],
    },
    {
      label: 'custom base_url',
      channel: 'proxied',
      msg: { urn: URN, text: 'Hi' },
      exchanges: [{ reply: { url: `${PROXY}/bot${TOKEN}/sendMessage`, body: sent(7) } }],
      status: 'wired',
      externalIds: ['7'],
    },
    {
      label: 'long text → one sendMessage per part',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}` },
      exchanges: [
        { request: { json: { chat_id: '12345', text: LONG_1 } }, reply: { url: `${API}/sendMessage`, body: sent(1) } },
        { request: { json: { chat_id: '12345', text: LONG_2 } }, reply: { url: `${API}/sendMessage`, body: sent(2) } },
      ],
      status: 'wired',
      externalIds: ['1', '2'],
    },
    {
      label: 'quick replies → a one-time reply keyboard, one button per row',
      msg: { urn: URN, text: 'Tea or coffee?', quickReplies: ['Tea', 'Coffee'] },
      exchanges: [
        {
          request: { json: { chat_id: '12345', text: 'Tea or coffee?', reply_markup: keyboard('Tea', 'Coffee') } },
          reply: { url: `${API}/sendMessage`, body: sent(9) },
        },
      ],
      status: 'wired',
      externalIds: ['9'],
    },
    {
      label: 'long text with quick replies → the keyboard rides on the last part',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}`, quickReplies: ['OK'] },
      exchanges: [
        { request: { json: { chat_id: '12345', text: LONG_1 } }, reply: { url: `${API}/sendMessage`, body: sent(1) } },
        { request: { json: { chat_id: '12345', text: LONG_2, reply_markup: keyboard('OK') } }, reply: { url: `${API}/sendMessage`, body: sent(2) } },
      ],
      status: 'wired',
      externalIds: ['1', '2'],
    },
    {
      label: 'image with short text → sendPhoto with the text as caption',
      msg: { urn: URN, text: 'My pic!', attachments: ['image/jpeg:https://foo.bar/image.jpg'], quickReplies: ['Like'] },
      exchanges: [
        {
          request: {
            json: { chat_id: '12345', photo: 'https://foo.bar/image.jpg', caption: 'My pic!', reply_markup: keyboard('Like') },
          },
          reply: { url: `${API}/sendPhoto`, body: sent(20) },
        },
      ],
      status: 'wired',
      externalIds: ['20'],
    },
    {
      label: 'image with text over the caption limit → text first, then the photo',
      msg: { urn: URN, text: CAPTION_TOO_LONG, attachments: ['image/png:https://foo.bar/image.png'] },
      exchanges: [
        { request: { json: { chat_id: '12345', text: CAPTION_TOO_LONG } }, reply: { url: `${API}/sendMessage`, body: sent(21) } },
        { request: { json: { chat_id: '12345', photo: 'https://foo.bar/image.png' } }, reply: { url: `${API}/sendPhoto`, body: sent(22) } },
      ],
      status: 'wired',
      externalIds: ['21', '22'],
    },
    {
      label: 'video, document and audio → their own methods, caption on the first',
      msg: {
        urn: URN,
        text: 'Files',
        attachments: ['video/mp4:https://foo.bar/v.mp4', 'application/pdf:https://foo.bar/d.pdf', 'audio/mpeg:https://foo.bar/a.mp3'],
        quickReplies: ['Thanks'],
      },
      exchanges: [
        { request: { json: { chat_id: '12345', video: 'https://foo.bar/v.mp4', caption: 'Files' } }, reply: { url: `${API}/sendVideo`, body: sent(31) } },
        { request: { json: { chat_id: '12345', document: 'https://foo.bar/d.pdf' } }, reply: { url: `${API}/sendDocument`, body: sent(32) } },
        {
          request: { json: { chat_id: '12345', audio: 'https://foo.bar/a.mp3', reply_markup: keyboard('Thanks') } },
          reply: { url: `${API}/sendAudio`, body: sent(33) },
        },
      ],
      status: 'wired',
      externalIds: ['31', '32', '33'],
    },
    {
      label: 'attachment without text → no caption',
      msg: { urn: URN, text: '', attachments: ['image/jpeg:https://foo.bar/image.jpg'] },
      exchanges: [{ request: { json: { chat_id: '12345', photo: 'https://foo.bar/image.jpg' } }, reply: { url: `${API}/sendPhoto`, body: sent(40) } }],
      status: 'wired',
      externalIds: ['40'],
    },
    {
      label: '403 bot was blocked → failed, contact stopped',
      msg: { urn: URN },
      exchanges: [
        {
          reply: { url: `${API}/sendMessage`, status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' } },
        },
      ],
      status: 'failed',
      reason: 'contact_stopped',
      contactStopped: true,
      logErrors: ['contact_stopped'],
    },
    {
      label: '403 user is deactivated → failed, contact stopped',
      msg: { urn: URN },
      exchanges: [
        { reply: { url: `${API}/sendMessage`, status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: user is deactivated' } } },
      ],
      status: 'failed',
      contactStopped: true,
    },
    {
      label: "403 bot can't initiate conversation → failed with its reason, contact not stopped",
      msg: { urn: URN },
      exchanges: [
        {
          reply: {
            url: `${API}/sendMessage`,
            status: 403,
            body: { ok: false, error_code: 403, description: "Forbidden: bot can't initiate conversation with a user" },
          },
        },
      ],
      status: 'failed',
      reason: 'bot_cant_initiate_conversation_with_a_user',
      contactStopped: false,
    },
    {
      label: '400 chat not found → failed with the provider reason',
      msg: { urn: URN },
      exchanges: [
        { reply: { url: `${API}/sendMessage`, status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } } },
      ],
      status: 'failed',
      reason: 'chat_not_found',
      logErrors: ['chat_not_found'],
    },
    {
      label: '401 with a body that is not the Bot API’s → failed, response_status',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, status: 401, body: 'Unauthorized' } }],
      status: 'failed',
      reason: 'response_status',
    },
    {
      label: '429 with parameters.retry_after → throttled for that long, queued again',
      msg: { urn: URN },
      exchanges: [
        {
          reply: {
            url: `${API}/sendMessage`,
            status: 429,
            body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } },
          },
        },
      ],
      status: 'queued',
      logErrors: ['throttled'],
      check: ({ outcome }) => {
        expect(outcome.kind).toBe('throttled');
        const wait = (outcome as { until: Date }).until.getTime() - Date.now();
        expect(wait).toBeGreaterThan(6_000);
        expect(wait).toBeLessThanOrEqual(7_000);
      },
    },
    {
      label: '429 with only a Retry-After header → throttled',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, status: 429, body: 'slow down', headers: { 'retry-after': '3' } } }],
      status: 'queued',
      check: ({ outcome }) => {
        const wait = (outcome as { until: Date }).until.getTime() - Date.now();
        expect(wait).toBeGreaterThan(2_000);
        expect(wait).toBeLessThanOrEqual(3_000);
      },
    },
    {
      label: '5xx → errored, retried later',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, status: 502, body: 'Bad Gateway' } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'network error → errored',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, networkError: true } }],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: '2xx with ok:false → errored, response_content',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, body: { ok: false, description: 'something odd' } } }],
      status: 'errored',
      reason: 'response_content',
    },
    {
      label: '2xx that is not JSON → errored, response_content',
      msg: { urn: URN },
      exchanges: [{ reply: { url: `${API}/sendMessage`, body: '<html>proxy page</html>' } }],
      status: 'errored',
      reason: 'response_content',
    },
    {
      label: 'second part fails after the first was accepted → errored',
      msg: { urn: URN, text: `${LONG_1} ${LONG_2}` },
      exchanges: [
        { reply: { url: `${API}/sendMessage`, body: sent(1) } },
        { reply: { url: `${API}/sendMessage`, status: 500, body: { ok: false, error_code: 500, description: 'Internal Server Error' } } },
      ],
      status: 'errored',
      reason: 'connection_failed',
    },
    {
      label: 'a base_url that is not an http(s) URL → failed, channel_config',
      channel: 'schemeless',
      msg: { urn: URN, text: 'hi' },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
      check: ({ log }) => expect(log.errors[0]!.message).toContain('"base_url" must be an http(s) URL'),
    },
    {
      label: 'a non-telegram URN → failed, nothing sent',
      msg: { urn: 'tel:+250788383383' },
      exchanges: [],
      status: 'failed',
      reason: 'message_invalid',
    },
    {
      label: 'a geo attachment → failed, nothing sent',
      msg: { urn: URN, text: 'here', attachments: ['geo:1.5,30.25'] },
      exchanges: [],
      status: 'failed',
      reason: 'message_invalid',
    },
    {
      label: 'channel without auth_token → failed, channel_config',
      channel: 'tokenless',
      msg: { urn: URN },
      exchanges: [],
      status: 'failed',
      reason: 'channel_config',
    },
  ],
});

describe('telegram reasonCode', () => {
  it('takes what follows the HTTP phrase', () => {
    expect(reasonCode(400, 'Bad Request: chat not found')).toBe('chat_not_found');
  });
  it('stops at a further colon and drops apostrophes', () => {
    expect(reasonCode(400, "Bad Request: can't parse entities: Can't find end of the entity")).toBe('cant_parse_entities');
  });
  it('uses a description without a colon whole', () => {
    expect(reasonCode(401, 'Unauthorized')).toBe('unauthorized');
  });
  it('falls back to the error code', () => {
    expect(reasonCode(400, ': ')).toBe('400');
  });
});
