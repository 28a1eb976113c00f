/** One problem in a config file: where (key path, dotted) and what was expected. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config that cannot be used; carries every problem found, not only the first. */
export class ConfigError extends Error {
  readonly code = 'GH_ERR_CONFIG';
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(formatProblems(file, problems));
    this.name = 'ConfigError';
  }
}

export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  const head = `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  return [head, ...problems.map((p) => `  ${file}: ${p.path || '(top level)'}: ${p.message}`)].join('\n');
}
