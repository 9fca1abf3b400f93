/**
 * bun run lint:api — lints the OpenAPI document the app serves at /swagger/json with Spectral and
 * the OWASP API Security ruleset (.spectral.yaml). Builds the app on a throwaway embedded PGlite,
 * so no database is needed. Exit 1 on any error-level finding; warnings are summarised.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { createApp } from '../src/app';
import { EventBus } from '../src/modules/realtime/bus';
import { DatabaseCluster } from '../src/db';
import { JobQueue } from '../src/jobs';
import { parseConfig } from '../src/config/env';
import { createLogger } from '../src/lib/logger';

const root = resolve(import.meta.dir, '..');
const workDir = mkdtempSync(join(tmpdir(), 'bx-lint-api-'));
const documentPath = join(workDir, 'openapi.json');
const reportPath = join(workDir, 'spectral.json');

const finding = z.object({
  code: z.union([z.string(), z.number()]),
  message: z.string(),
  severity: z.number(),
  path: z.array(z.union([z.string(), z.number()])),
});

async function writeDocument(): Promise<void> {
  const config = parseConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent', DATA_DIR: workDir, SWAGGER_ENABLED: 'true' });
  const logger = createLogger({ level: 'silent' });
  const database = await DatabaseCluster.open(config.database, logger);
  try {
    // Never started: the document needs the routes, not a running queue.
    const app = createApp({ config, database, logger, jobs: JobQueue.create({ database, logger }), bus: new EventBus(database, logger, 'lint-api') });
    const response = await app.handle(new Request('http://localhost/swagger/json'));
    if (!response.ok) throw new Error(`/swagger/json answered ${response.status}`);
    writeFileSync(documentPath, JSON.stringify(await response.json(), null, 2));
  } finally {
    await database.close();
  }
}

try {
  await writeDocument();
  const spectral = Bun.spawnSync(
    [join(root, 'node_modules/.bin/spectral'), 'lint', documentPath, '--ruleset', join(root, '.spectral.yaml'), '--format', 'json', '--output', reportPath, '--quiet'],
    { cwd: root, stdout: 'inherit', stderr: 'inherit' },
  );
  let findings: z.infer<typeof finding>[];
  try {
    findings = z.array(finding).parse(JSON.parse(readFileSync(reportPath, 'utf8')));
  } catch {
    console.error(`lint:api: spectral produced no report (exit ${spectral.exitCode})`);
    process.exit(1);
  }
  const errors = findings.filter((item) => item.severity === 0);
  const warnings = findings.filter((item) => item.severity === 1);
  for (const item of errors) console.error(`error  ${item.code}  ${item.path.join('.')}\n       ${item.message}`);
  const byRule = new Map<string, number>();
  for (const item of warnings) byRule.set(String(item.code), (byRule.get(String(item.code)) ?? 0) + 1);
  for (const [code, count] of [...byRule].sort((a, b) => b[1] - a[1])) console.log(`warning x${count}  ${code}`);
  console.log(`lint:api: ${errors.length} error(s), ${warnings.length} warning(s) (spectral:oas + OWASP rulesets; document: ${documentPath})`);
  process.exitCode = errors.length > 0 ? 1 : 0;
} finally {
  if (process.exitCode === 0) rmSync(workDir, { recursive: true, force: true });
}
