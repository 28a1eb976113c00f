import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A process that listens on a TCP port, as Linux's /proc tells it. */
export interface PortHolder {
  pid: number;
  /** Its command line, shortened for one line of text. */
  command: string;
}

const LISTEN = '0A';
const COMMAND_LENGTH = 80;

/**
 * The socket inodes listening on `port` in one /proc/net/tcp or tcp6 table. A row is
 * `sl local_address rem_address st ... uid timeout inode`, the port in hex after the colon.
 */
export function listeningInodes(table: string, port: number): string[] {
  const inodes: string[] = [];
  for (const row of table.split('\n').slice(1)) {
    const fields = row.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== LISTEN) continue;
    const local = fields[1] ?? '';
    if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
    const inode = fields[9]!;
    if (inode !== '0') inodes.push(inode);
  }
  return inodes;
}

/**
 * Who listens on `port`: the sockets from /proc/net/tcp{,6}, then the process whose file
 * descriptors include one of them. null when nothing says (not Linux, the port is held in another
 * network namespace, or the process belongs to a user whose /proc entries this one cannot read).
 * Only asked after a bind failed, so walking every process is fine.
 */
export async function findPortHolder(port: number, procRoot = '/proc'): Promise<PortHolder | null> {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(join(procRoot, 'net', table), 'utf8').catch(() => '');
    for (const inode of listeningInodes(text, port)) inodes.add(inode);
  }
  if (inodes.size === 0) return null;
  const pids = (await readdir(procRoot).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  for (const pid of pids) {
    const fdDir = join(procRoot, pid, 'fd');
    const fds = await readdir(fdDir).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(join(fdDir, fd)).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match && inodes.has(match[1]!)) {
        return { pid: Number(pid), command: await commandOf(procRoot, pid) };
      }
    }
  }
  return null;
}

async function commandOf(procRoot: string, pid: string): Promise<string> {
  const raw = await readFile(join(procRoot, pid, 'cmdline'), 'utf8').catch(() => '');
  // One line: `python3 -c "..."` may carry newlines of its own.
  const command = raw.split('\0').join(' ').replace(/\s+/g, ' ').trim() || '?';
  return command.length > COMMAND_LENGTH ? `${command.slice(0, COMMAND_LENGTH - 1)}…` : command;
}
