import { randomBytes } from 'node:crypto';
import type { APIInteraction, APIUser } from 'discord.js';
import type { FakeClock } from './clock.ts';

export const InteractionKind = { ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4 } as const;

/** What the fake knows about one interaction it dispatched, and how it has been answered so far. */
export interface InteractionRecord {
  readonly id: string;
  readonly token: string;
  readonly type: number;
  readonly payload: APIInteraction;
  readonly channelId: string;
  readonly guildId: string | undefined;
  readonly user: APIUser;
  readonly attachmentSizeLimit: number;
  readonly commandName: string | undefined;
  /** 1 chat input, 2 user, 3 message (application commands and their autocomplete only). */
  readonly commandType: number | undefined;
  /** A message command's target. */
  readonly targetMessageId: string | undefined;
  /** Fake-clock time of creation; the token's age counts from here. */
  createdAt: number;
  acknowledged: boolean;
  callbackType: number | undefined;
  originalMessageId: string | undefined;
  followUpIds: string[];
  /** For a component interaction: the message whose component was used. */
  sourceMessageId: string | undefined;
  /** The modal a type-9 callback opened, as sent. */
  modal: unknown;
  /** The choices a type-8 callback sent (autocomplete). */
  choices: { name: string; value: string | number }[] | undefined;
}

export interface TokenRules {
  /** The initial response must come within this (Discord: 3 s), else the token dies. */
  responseDeadlineMs: number;
  /** An acknowledged token works this long (Discord: 15 min). */
  tokenLifetimeMs: number;
}

export class InteractionStore {
  readonly #byId = new Map<string, InteractionRecord>();
  readonly #byToken = new Map<string, InteractionRecord>();

  constructor(
    private readonly clock: FakeClock,
    readonly rules: TokenRules,
  ) {}

  /** A token shaped like Discord's: base64 of `interaction:<id>:<secret>`, without padding. */
  static makeToken(id: string): string {
    return Buffer.from(`interaction:${id}:${randomBytes(48).toString('base64url')}`).toString('base64url');
  }

  add(record: InteractionRecord): void {
    this.#byId.set(record.id, record);
    this.#byToken.set(record.token, record);
  }

  get(id: string): InteractionRecord | undefined {
    return this.#byId.get(id);
  }

  byToken(token: string): InteractionRecord | undefined {
    return this.#byToken.get(token);
  }

  all(): InteractionRecord[] {
    return [...this.#byId.values()];
  }

  now(): number {
    return this.clock.now();
  }

  ageMs(record: InteractionRecord): number {
    return this.clock.now() - record.createdAt;
  }

  /** Whether the initial callback may still be sent. */
  canAcknowledge(record: InteractionRecord): boolean {
    return this.ageMs(record) <= this.rules.responseDeadlineMs;
  }

  /** Whether webhook routes accept the token: acknowledged in time and younger than the lifetime. */
  tokenValid(record: InteractionRecord): boolean {
    const age = this.ageMs(record);
    if (age > this.rules.tokenLifetimeMs) return false;
    return record.acknowledged || age <= this.rules.responseDeadlineMs;
  }

  /** Makes one token older than its lifetime without touching the clock. */
  expire(record: InteractionRecord): void {
    record.createdAt = this.clock.now() - this.rules.tokenLifetimeMs - 1;
  }
}
