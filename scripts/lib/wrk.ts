/**
 * wrk glue for `bun run bench`: one run of wrk against one request, its numbers as typed values.
 *
 * wrk is the load generator because it costs the server's machine far less CPU than an in-process
 * fetch loop: on a 2-core box, a generator written in JS would take a core from the server it
 * measures. Every run gets a small Lua script: it sets the method, body and headers (POST and
 * cookies need it) and its `done()` prints one JSON line (request count, duration, p50/p99 from
 * wrk's HDR histogram, error counts). That line is parsed with zod rather than scraping wrk's
 * human-readable report, whose units change with magnitude (us, ms, s; k, M).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { z } from 'zod';

export type WrkRequest = {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Readonly<Record<string, string>>;
  body?: string;
};

export type WrkOptions = {
  durationS: number;
  connections: number;
  threads: number;
  /** A response slower than this counts as a timeout error, not as a latency sample. */
  timeoutS?: number;
  /** The running wrk is added here while it runs, so an interrupted bench can kill it. */
  track?: Set<Subprocess>;
};

export type WrkErrors = { connect: number; read: number; write: number; status: number; timeout: number };

export type WrkResult = {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** status (HTTP >= 400) + connect + read + write + timeout. */
  errors: number;
  errorDetail: WrkErrors;
};

const DEFAULT_TIMEOUT_S = 10;
/** Past the run's own duration: wrk that has not exited by then is stuck. */
const EXIT_GRACE_MS = 30_000;
/** Prefix of the line `done()` prints, so it is found among wrk's own report lines. */
const RESULT_MARKER = 'BENCH_WRK_RESULT ';

const count = z.number().int().nonnegative();
const wrkOutput = z.object({
  requests: count,
  duration_us: z.number().positive(),
  p50_us: z.number().nonnegative(),
  p99_us: z.number().nonnegative(),
  errors: z.object({ connect: count, read: count, write: count, status: count, timeout: count }),
});

/** The wrk binary on PATH, or null. */
export const findWrk = (): string | null => Bun.which('wrk');

/** First line of `wrk --version` (it exits 1 after printing usage, so the exit code is ignored). */
export function wrkVersion(wrkPath: string): string {
  const result = Bun.spawnSync([wrkPath, '--version'], { stdout: 'pipe', stderr: 'pipe' });
  const text = `${result.stdout.toString()}${result.stderr.toString()}`;
  return text.split('\n')[0]?.replace(/\s+Copyright.*$/, '').trim() || 'wrk (unknown version)';
}

/** A Lua string literal: bytes outside printable ASCII as \ddd, so any header value survives. */
function luaString(value: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(value)) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

function luaScript(request: WrkRequest): string {
  const lines = [`wrk.method = ${luaString(request.method ?? 'GET')}`];
  if (request.body !== undefined) lines.push(`wrk.body = ${luaString(request.body)}`);
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  // %.0f, not %d: percentiles are floats and string.format('%d') of a float is an error in some Luas.
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format('${RESULT_MARKER}{"requests":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,' ..`,
    `    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}}\\n',`,
    '    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),',
    '    e.connect, e.read, e.write, e.status, e.timeout))',
    'end',
    '',
  );
  return lines.join('\n');
}

/** One wrk run; throws when wrk fails or prints no result (a setup problem, not a slow server). */
export async function runWrk(wrkPath: string, request: WrkRequest, options: WrkOptions): Promise<WrkResult> {
  const scriptDir = mkdtempSync(join(tmpdir(), 'bx-wrk-'));
  const script = join(scriptDir, 'request.lua');
  writeFileSync(script, luaScript(request));
  const timeoutS = options.timeoutS ?? DEFAULT_TIMEOUT_S;
  const proc = Bun.spawn(
    [
      wrkPath,
      '--latency',
      '-t', String(options.threads),
      '-c', String(options.connections),
      '-d', `${options.durationS}s`,
      '--timeout', `${timeoutS}s`,
      '-s', script,
      request.url,
    ],
    { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  );
  options.track?.add(proc);
  const killer = setTimeout(() => proc.kill('SIGKILL'), options.durationS * 1000 + EXIT_GRACE_MS);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const line = stdout.split('\n').find((candidate) => candidate.startsWith(RESULT_MARKER));
    if (exitCode !== 0 || line === undefined) {
      const detail = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join('\n');
      throw new Error(`wrk ${request.method ?? 'GET'} ${request.url} failed (exit ${exitCode})${detail ? `:\n${detail}` : ''}`);
    }
    const parsed = wrkOutput.parse(JSON.parse(line.slice(RESULT_MARKER.length)));
    const e = parsed.errors;
    return {
      requests: parsed.requests,
      rps: parsed.requests / (parsed.duration_us / 1e6),
      p50Ms: parsed.p50_us / 1000,
      p99Ms: parsed.p99_us / 1000,
      errors: e.status + e.connect + e.read + e.write + e.timeout,
      errorDetail: e,
    };
  } finally {
    clearTimeout(killer);
    options.track?.delete(proc);
    rmSync(scriptDir, { recursive: true, force: true });
  }
}
