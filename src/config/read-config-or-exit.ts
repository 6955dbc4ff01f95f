import { ConfigError, loadConfig, loadDotenv, type Config, type LoadOptions } from './load.ts';

/**
 * Loads `.env` and the config for a command-line entry point; on a bad value prints one line per problem and
 * exits 1, so no entry point ever starts half-configured.
 */
export function readConfigOrExit(options: LoadOptions = {}): Config {
  loadDotenv();
  try {
    return loadConfig(process.env, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
    process.stderr.write('See .env.example for every setting, its default and its range.\n');
    process.exit(1);
  }
}
