import type { ChannelHandler } from '../src/handler.js';
import { externalHandler } from './external.js';
import { kannelHandler } from './kannel.js';
import { telegramHandler } from './telegram.js';
import { twilioHandler } from './twilio.js';
import { twitterHandler } from './twitter.js';
import { vonageHandler } from './vonage.js';

/** Every channel type Herald serves. A new handler is added here and nowhere else. */
export const handlers: readonly ChannelHandler[] = [externalHandler, telegramHandler, twilioHandler, kannelHandler, twitterHandler, vonageHandler];
