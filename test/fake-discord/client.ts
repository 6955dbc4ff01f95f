import { once } from 'node:events';
import { Client, Events, GatewayIntentBits, type ClientOptions } from 'discord.js';
import type { FakeDiscord } from './fake-discord.ts';

/**
 * A real discord.js Client logged in to the fake (intents: Guilds), resolved once it is ready. For tests of the
 * fake itself and for tests that need a second client; the bot under test builds its own from configuration.
 */
export async function loginTestClient(fake: FakeDiscord, options: Partial<ClientOptions> = {}): Promise<Client<true>> {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    ...options,
    rest: { ...options.rest, api: fake.apiUrl },
  });
  try {
    const ready = once(client, Events.ClientReady);
    await client.login(fake.token);
    await ready;
  } catch (error) {
    await client.destroy();
    throw error;
  }
  return client as Client<true>;
}
