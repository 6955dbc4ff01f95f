/**
 * A fake Discord for end-to-end tests: REST (/api/v10), the gateway WebSocket and the attachment CDN on
 * 127.0.0.1, driven by tests. See README.md in this folder.
 */
export { FakeDiscord, startFakeDiscord, type FakeDiscordOptions } from './fake-discord.ts';
export type { RecordedFile, RecordedRequest, RequestPredicate } from './request-log.ts';
export type { CdnAddOptions, CdnFault, CdnRequest, FakeCdn } from './cdn.ts';
export type {
  DropOptions,
  FakeGateway,
  GatewayConnection,
  IdentifyRecord,
  ResumeRecord,
} from './gateway.ts';
export { PRIVILEGED_INTENTS } from './gateway.ts';
export type {
  AutocompleteOptions,
  ButtonOptions,
  MessageCommandOptions,
  SelectOptions,
  FakeInteractions,
  InteractionHandle,
  MemberOptions,
  SlashCommandOptions,
  SlashOptionValue,
} from './interactions.ts';
export type { MessageStore, StoredMessage } from './message-store.ts';
export type { CommandStore } from './commands.ts';
export type { FakeClock } from './clock.ts';
export type { DelayOptions, FaultHandle, FaultMatch, RateLimitOptions, RestFaults, ServerErrorOptions } from './rest-faults.ts';
export { MessageFlag } from './message-body.ts';
export { BOT_PERMISSIONS, MEMBER_PERMISSIONS, Permission } from './world.ts';
export type { DiscordErrorBody } from './discord-errors.ts';
export { loginTestClient } from './client.ts';
