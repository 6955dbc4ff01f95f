const DISCORD_EPOCH = 1_420_070_400_000n;

/**
 * Discord ids: milliseconds since 2015 in the top 42 bits, then worker, process and a 12-bit counter. Built from
 * real time (not the fake clock) so that discord.js's `createdTimestamp` agrees with the bot's own clock.
 */
export function createSnowflakes(): () => string {
  let counter = 0n;
  return () => {
    counter = (counter + 1n) & 0xfffn;
    const ms = BigInt(Date.now()) - DISCORD_EPOCH;
    return ((ms << 22n) | (1n << 17n) | (1n << 12n) | counter).toString();
  };
}

export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}
