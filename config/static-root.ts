import { statSync } from 'node:fs';
import type { ConfigProblem } from './errors.js';

/**
 * A static route's root must be an existing folder when the config is checked. `nginx -t` does not
 * check it; a mistyped root would otherwise only show as a 404 for every file.
 */
export function checkStaticRoot(folder: string, at: string, problems: ConfigProblem[]): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(folder).isDirectory();
  } catch {
    problems.push({ path: at, message: `${folder} does not exist` });
    return;
  }
  if (!isDirectory) problems.push({ path: at, message: `${folder} is not a directory` });
}
