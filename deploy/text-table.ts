/**
 * A plain-text table for the terminal: every column padded to its widest cell (the header
 * included), two spaces between columns, no trailing blanks. `rightAligned` says which columns
 * hold numbers. Both status commands (`gatehouse status`, `gatehouse deploy status`) print with it.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: (column: number) => boolean = () => false,
): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((cells) => (cells[i] ?? '').length)));
  return all
    .map((cells) =>
      widths
        .map((width, i) => {
          const cell = cells[i] ?? '';
          return rightAligned(i) ? cell.padStart(width) : cell.padEnd(width);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
