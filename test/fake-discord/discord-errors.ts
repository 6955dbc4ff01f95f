/**
 * Discord's REST error responses: HTTP status plus the JSON body `{ message, code, errors? }`. Codes and messages
 * are the ones Discord returns (see "JSON Error Codes" in the API docs); the per-field `errors` details of
 * "Invalid Form Body" follow Discord's shape, but their inner codes and texts are approximations.
 */
export interface DiscordErrorBody {
  message: string;
  code: number;
  errors?: unknown;
}

export class DiscordHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: DiscordErrorBody,
  ) {
    super(`${status} ${body.code} ${body.message}`);
    this.name = 'DiscordHttpError';
  }
}

const error = (status: number, code: number, message: string) => () => new DiscordHttpError(status, { message, code });

export const discordErrors = {
  unauthorized: error(401, 0, '401: Unauthorized'),
  notFound: error(404, 0, '404: Not Found'),
  methodNotAllowed: error(405, 0, '405: Method Not Allowed'),
  unknownChannel: error(404, 10003, 'Unknown Channel'),
  unknownGuild: error(404, 10004, 'Unknown Guild'),
  unknownMessage: error(404, 10008, 'Unknown Message'),
  unknownUser: error(404, 10013, 'Unknown User'),
  unknownWebhook: error(404, 10015, 'Unknown Webhook'),
  unknownInteraction: error(404, 10062, 'Unknown interaction'),
  unknownApplicationCommand: error(404, 10063, 'Unknown application command'),
  requestEntityTooLarge: error(413, 40005, 'Request entity too large'),
  alreadyAcknowledged: error(400, 40060, 'Interaction has already been acknowledged.'),
  missingAccess: error(403, 50001, 'Missing Access'),
  cannotEditOthersMessage: error(403, 50005, 'Cannot edit a message authored by another user'),
  cannotSendEmptyMessage: error(400, 50006, 'Cannot send an empty message'),
  missingPermissions: error(403, 50013, 'Missing Permissions'),
  invalidWebhookToken: error(401, 50027, 'Invalid Webhook Token'),
  invalidJson: error(400, 50109, 'The request body contains invalid JSON.'),
};

/** One problem in a request body: where (path of keys/indexes) and what. */
export interface FormProblem {
  path: (string | number)[];
  code: string;
  message: string;
}

/** 400 / 50035 "Invalid Form Body" with Discord's nested `errors` object, e.g. `{content: {_errors: [...]}}`. */
export function invalidFormBody(problems: FormProblem[]): DiscordHttpError {
  const errors: Record<string, unknown> = {};
  for (const problem of problems) {
    let node = errors;
    for (const key of problem.path) {
      const name = String(key);
      node[name] ??= {};
      node = node[name] as Record<string, unknown>;
    }
    const list = (node._errors ??= []) as { code: string; message: string }[];
    list.push({ code: problem.code, message: problem.message });
  }
  return new DiscordHttpError(400, { message: 'Invalid Form Body', code: 50035, errors });
}
