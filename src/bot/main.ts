import { ConfigError, loadConfig, loadDotenv, type Config } from '../config/index.ts';

/** `npm start`: configuration first, so that a missing token or a bad value stops everything at once. */
function readConfigOrExit(): Config {
  loadDotenv();
  try {
    return loadConfig(process.env, { requireToken: true });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
    process.stderr.write('See .env.example for every setting, its default and its range.\n');
    process.exit(1);
  }
}

const config = readConfigOrExit();
process.stderr.write(`config ok (log level ${config.log.level}); the bot itself is not built yet\n`);
process.exit(1);
