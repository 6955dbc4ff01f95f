import type { FakeCdn } from './cdn.ts';
import type { CommandStore } from './commands.ts';
import type { InteractionStore } from './interaction-store.ts';
import type { MessageStore } from './message-store.ts';
import type { World } from './world.ts';

/** What the REST route handlers read and change. */
export interface RestDeps {
  world: World;
  commands: CommandStore;
  messages: MessageStore;
  interactions: InteractionStore;
  cdn: FakeCdn;
  /** Limit for files sent to channel routes (interactions carry their own). */
  attachmentSizeLimit: number;
  /** For GET /gateway/bot. */
  gatewayUrl(): string;
  sessionStartLimit(): { total: number; remaining: number; reset_after: number; max_concurrency: number };
}
