/**
 * The org that exists from the first start (migration 0001): the admin token acts on it, and the
 * channels of `HERALD_CHANNELS_FILE` belong to it.
 */
export const DEFAULT_ORG_UUID = '00000000-0000-4000-8000-000000000000';
