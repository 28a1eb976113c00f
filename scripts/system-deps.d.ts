// Types of system-deps.js, for the tests' requires() helper (test/helpers/system-deps.ts).

export type SystemDepName =
  | 'nginx'
  | 'chromium'
  | 'wrk'
  | 'pebble'
  | 'h2load'
  | 'logrotate'
  | 'docker'
  | 'docker compose'
  | 'pm2';

export interface SystemDep {
  name: SystemDepName;
  /** The Debian package that provides it. */
  apt?: string;
  /** Installed with the Docker engine by ensure-engine.sh. */
  engine?: true;
  /** A global npm package, installed at the lockfile's version. */
  npm?: string;
  /** What needs it, in words. */
  usedBy: string;
  /** Whether `npm test` needs it (the preflight checks only those). */
  tests: boolean;
  /** Why it is not usable on this machine, or null when it is. */
  missing(): string | null;
}

export const packageRoot: string;
export const engineScript: string;
export const setupCommand: string;
export const baseImages: readonly string[];
export const systemDeps: readonly SystemDep[];
export function which(name: string, skip?: (realPath: string) => boolean): string | null;
export function globalPm2(): string | null;
export function logrotateBin(): string | null;
export function composeCommand(): string[] | null;
export function globalPm2Version(): string | null;
export function lockedVersion(name: string): string;
export function installHint(dep: SystemDep): string;
