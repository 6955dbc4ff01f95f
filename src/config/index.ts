export { loadConfig, loadDotenv, ConfigError, type Config, type GuildLimit, type LoadOptions } from './load.ts';
export { Secret } from './secret.ts';
export { IMAGE_FORMATS, BACKENDS, type ImageFormat, type BackendChoice } from './schema.ts';
export { readConfigOrExit } from './read-config-or-exit.ts';
