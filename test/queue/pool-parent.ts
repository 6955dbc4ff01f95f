/**
 * A parent process for the parent-death test: starts a pool of two engine workers on the tiny model, keeps one
 * busy with a long job, prints `{"pids":[...]}` on one line, and waits to be killed.
 *
 *   node --import tsx test/queue/pool-parent.ts <tiny model folder>
 */
import { makePool, tinyJob, UNTIL_TIME_LIMIT, waitFor } from './worker-pool-helpers.ts';

const [weightsDir] = process.argv.slice(2);
if (!weightsDir) throw new Error('usage: pool-parent.ts <tiny model folder>');
const { pool } = makePool(weightsDir, { workers: 2 });
await pool.start();
await waitFor(() => pool.status().alive === 2, 30_000, 'two workers');
let running!: () => void;
const started = new Promise<void>((resolve) => (running = resolve));
void pool.run(tinyJob('long', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 600_000 }), (e) => e.type === 'progress' && running(), new AbortController().signal);
await started;
process.stdout.write(`${JSON.stringify({ pids: pool.status().workers.map((w) => w.pid) })}\n`);
setInterval(() => undefined, 60_000);
