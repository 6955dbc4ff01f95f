import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PRIVILEGED_INTENTS, startFakeDiscord, type FakeDiscord } from './index.ts';
import { RawGatewayClient } from './raw-gateway-client.ts';

// Gateway protocol details checked with a bare WebSocket client: what discord.js relies on, and the close codes
// Discord uses when a client gets it wrong.

let fake: FakeDiscord;
const clients: RawGatewayClient[] = [];

beforeEach(async () => {
  fake = await startFakeDiscord({ heartbeatIntervalMs: 1000 });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await fake.close();
});

async function connect(query = '?v=10&encoding=json', base = fake.gateway.url): Promise<RawGatewayClient> {
  const client = await RawGatewayClient.connect(`${base}${query}`);
  clients.push(client);
  return client;
}

describe('gateway', () => {
  it('says HELLO, answers heartbeats, and sends READY then GUILD_CREATE after IDENTIFY', async () => {
    const client = await connect();
    const hello = await client.next((p) => p.op === 10);
    expect(hello.d).toMatchObject({ heartbeat_interval: 1000 });

    client.send({ op: 1, d: null });
    await client.next((p) => p.op === 11);
    const ready = await client.identify(fake.token);
    expect(ready).toMatchObject({ resume_gateway_url: fake.gateway.resumeUrl, session_id: fake.gateway.sessionId });
    const guild = await client.dispatch('GUILD_CREATE');
    expect(guild).toMatchObject({ s: 2, d: { id: fake.guild.id, channels: [{ id: fake.channel.id }] } });

    fake.gateway.ackHeartbeats = false;
    client.send({ op: 1, d: 2 });
    await fake.waitUntil(() => fake.gateway.connections()[0]!.heartbeats === 2);
    expect(client.payloads.filter((p) => p.op === 11)).toHaveLength(1);

    fake.gateway.requestHeartbeat();
    fake.gateway.requestReconnect();
    fake.gateway.invalidateSession(true);
    await client.next((p) => p.op === 9);
    expect(client.payloads.slice(-3).map((p) => [p.op, p.d])).toEqual([
      [1, null],
      [7, null],
      [9, true],
    ]);
  });

  it('compresses with zlib-stream when asked', async () => {
    const client = await connect('?v=10&encoding=json&compress=zlib-stream');
    await client.identify(fake.token);
    await client.dispatch('GUILD_CREATE');
    expect(fake.gateway.connections()[0]!.compress).toBe('zlib-stream');
    expect(client.payloads.map((p) => p.op)).toEqual([10, 0, 0]);
  });

  it('closes with Discord codes for a bad token, bad intents, early payloads, bad JSON and a bad version', async () => {
    const cases: [string, (c: RawGatewayClient) => void, number][] = [
      ['?v=10&encoding=json', (c) => c.send({ op: 2, d: { token: 'wrong', intents: 1, properties: {} } }), 4004],
      ['?v=10&encoding=json', (c) => c.send({ op: 2, d: { token: fake.token, intents: PRIVILEGED_INTENTS, properties: {} } }), 4014],
      ['?v=10&encoding=json', (c) => c.send({ op: 2, d: { token: fake.token, intents: -1, properties: {} } }), 4013],
      ['?v=10&encoding=json', (c) => c.send({ op: 3, d: {} }), 4003],
      ['?v=10&encoding=json', (c) => c.send('{not json'), 4002],
      ['?v=9&encoding=json', () => undefined, 4012],
    ];
    for (const [query, act, code] of cases) {
      const client = await connect(query);
      act(client);
      expect((await client.closed).code).toBe(code);
    }

    const identified = await connect();
    await identified.identify(fake.token);
    identified.send({ op: 2, d: { token: fake.token, intents: 1, properties: {} } });
    expect((await identified.closed).code).toBe(4005);

    const etf = await RawGatewayClient.connect(`${fake.gateway.url}?v=10&encoding=etf`).catch((e: unknown) => e);
    expect(String(etf)).toContain('400');
  });

  it('allows privileged intents the application has enabled', async () => {
    await fake.close();
    fake = await startFakeDiscord({ enabledPrivilegedIntents: PRIVILEGED_INTENTS });
    const client = await connect();
    await client.identify(fake.token, 1 | PRIVILEGED_INTENTS);
    expect(fake.gateway.identifies()[0]!.intents).toBe(1 | PRIVILEGED_INTENTS);
  });

  it('resumes a dropped session with replay, and refuses unknown sessions and future sequence numbers', async () => {
    const first = await connect();
    const { session_id } = await first.identify(fake.token);
    await first.dispatch('GUILD_CREATE');
    const seenSeq = first.lastSeq;
    fake.gateway.dropConnection({ abrupt: true });
    expect((await first.closed).code).toBe(1006);
    expect(() => fake.gateway.dispatch('TYPING_START', { n: 1 })).not.toThrow();
    fake.gateway.dispatch('TYPING_START', { n: 2 });

    const second = await connect('?v=10&encoding=json', fake.gateway.resumeUrl);
    second.send({ op: 6, d: { token: fake.token, session_id, seq: seenSeq } });
    await second.dispatch('RESUMED');
    expect(second.payloads.filter((p) => p.op === 0).map((p) => [p.t, p.s])).toEqual([
      ['TYPING_START', 3],
      ['TYPING_START', 4],
      ['RESUMED', 5],
    ]);
    expect(fake.gateway.resumes()).toEqual([expect.objectContaining({ outcome: 'resumed', replayed: 2 })]);

    const stranger = await connect();
    stranger.send({ op: 6, d: { token: fake.token, session_id: 'nope', seq: 1 } });
    expect((await stranger.next((p) => p.op === 9)).d).toBe(false);

    const future = await connect();
    future.send({ op: 6, d: { token: fake.token, session_id, seq: 99 } });
    expect((await future.closed).code).toBe(4007);
    expect(() => fake.gateway.dispatch('TYPING_START', {})).toThrow(/no gateway session/);
  });

  it('refuses handshakes during an outage and rejects dispatches without a session', async () => {
    expect(() => fake.interactions.slashCommand({ name: 'x' })).toThrow(/no gateway session/);
    fake.gateway.failNextConnections(1);
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${fake.gateway.url}?v=10&encoding=json`);
      ws.on('error', (error) => resolve(error.message));
    });
    expect(refused).toContain('503');
    const client = await connect();
    await client.identify(fake.token);
    expect(fake.gateway.readyCount).toBe(1);
  });
});
