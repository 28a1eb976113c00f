/** nginx config blocks are indented by four spaces, as in the nginx docs and the stock configs. */
export function indent(lines: readonly string[]): string[] {
  return lines.map((line) => (line === '' ? '' : `    ${line}`));
}
