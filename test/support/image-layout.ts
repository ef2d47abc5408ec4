// What the Dockerfile's last stage copies, assembled without a container engine: its COPY lines
// read from the Dockerfile and each source mapped to what produced it here (`make build`'s
// dist/ for the build stage, `npm ci --omit=dev` for the deps stage).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './program.js';

export interface RuntimeStage {
  workdir: string;
  user?: string;
  entrypoint: string[];
  env: Record<string, string>;
  copies: { from: string; source: string; dest: string }[];
}

/** The Dockerfile's last stage: its WORKDIR, USER, ENV, ENTRYPOINT and COPY --from lines. */
export function runtimeStage(dockerfile = join(repoRoot, 'Dockerfile')): RuntimeStage {
  const lines = readFileSync(dockerfile, 'utf8').split('\n').map((l) => l.trim());
  const last = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0).at(-1) ?? 0;
  const stage: RuntimeStage = { workdir: '/', entrypoint: [], env: {}, copies: [] };
  for (const line of lines.slice(last + 1)) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instruction.toUpperCase()) {
      case 'WORKDIR':
        stage.workdir = args;
        break;
      case 'USER':
        stage.user = args;
        break;
      case 'ENV': {
        const [k = '', v = ''] = args.split('=');
        stage.env[k] = v;
        break;
      }
      case 'ENTRYPOINT':
        stage.entrypoint = JSON.parse(args) as string[];
        break;
      case 'COPY': {
        const m = /^--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(args);
        if (!m) throw new Error(`the runtime stage copies only from other stages: ${line}`);
        stage.copies.push({ from: m[1] as string, source: m[2] as string, dest: m[3] as string });
        break;
      }
      default:
        break;
    }
  }
  return stage;
}

/**
 * `npm ci --omit=dev` from this package-lock.json, built once per lock file and Node.js version
 * (the better-sqlite3 build takes minutes) in the cache folder; returns its folder.
 */
export async function productionDependencies(): Promise<string> {
  const lock = readFileSync(join(repoRoot, 'package-lock.json'));
  const key = createHash('sha256').update(lock).update(readFileSync(join(repoRoot, 'package.json'))).update(`${process.version}-${process.arch}`).digest('hex').slice(0, 16);
  const root = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ovim-operator', 'prod-deps');
  const done = join(root, key);
  if (existsSync(join(done, 'node_modules'))) return done;
  const work = `${done}.${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(work, 'package.json'));
  cpSync(join(repoRoot, 'package-lock.json'), join(work, 'package-lock.json'));
  await promisify(execFile)('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: work, timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  rmSync(done, { recursive: true, force: true });
  renameSync(work, done);
  return done;
}

/** Runs `make build`'s steps (dist/ with the files the program reads). */
export async function makeBuild(): Promise<void> {
  await promisify(execFile)('bash', [join(repoRoot, 'hack', 'build.sh')], { cwd: repoRoot, timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 });
}

/**
 * Copies what the runtime stage copies into `root` (standing for the image's /), from the
 * build stage's /src (this repository, after makeBuild) and the deps stage's /app.
 */
export function assemble(stage: RuntimeStage, root: string, sources: Record<string, { prefix: string; dir: string }>): void {
  for (const copy of stage.copies) {
    const from = sources[copy.from];
    if (!from) throw new Error(`no source for the stage ${copy.from}`);
    if (!copy.source.startsWith(from.prefix)) throw new Error(`${copy.source} is outside ${from.prefix} of ${copy.from}`);
    const src = join(from.dir, copy.source.slice(from.prefix.length));
    const dest = join(root, copy.dest.startsWith('/') ? copy.dest : join(stage.workdir, copy.dest));
    if (!existsSync(src)) throw new Error(`the Dockerfile copies ${copy.source} from ${copy.from}, which does not exist (${src})`);
    cpSync(src, dest, { recursive: true });
  }
}
