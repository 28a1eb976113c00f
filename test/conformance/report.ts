import { cases } from './cases.js';
import { type FrontName, selectedFronts } from './fronts.js';
import { runCase } from './run-case.js';

/**
 * `npm run conformance`: every case on every front, a table case × front → pass/fail, the
 * documented differences, and a summary line. Exit 1 when any case failed.
 */
const fronts = selectedFronts(process.env.CONFORMANCE_FRONTS);
const results = new Map<string, Map<FrontName, string | null>>();
let passed = 0;
let failed = 0;

for (const c of cases) {
  const row = new Map<FrontName, string | null>();
  results.set(c.name, row);
  for (const front of fronts) {
    try {
      await runCase(c, front);
      row.set(front.name, null);
      passed++;
    } catch (err) {
      row.set(front.name, summary(err));
      failed++;
    }
  }
}

/** The first lines of a failure, enough to see what went wrong without the stack. */
function summary(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, 4)
    .join('\n      ')
    .slice(0, 600);
}

const width = Math.max(...cases.map((c) => c.name.length));
const mark = (error: string | null | undefined) => (error === null ? 'pass' : 'FAIL');
console.log(`${'case'.padEnd(width)}  ${fronts.map((f) => f.name.padEnd(9)).join('  ')}`);
console.log(`${'-'.repeat(width)}  ${fronts.map(() => '-'.repeat(9)).join('  ')}`);
for (const c of cases) {
  const row = results.get(c.name)!;
  const note = c.differs ? '  (differs, see below)' : '';
  console.log(
    `${c.name.padEnd(width)}  ${fronts.map((f) => mark(row.get(f.name)).padEnd(9)).join('  ')}${note}`,
  );
}

const failures = cases.flatMap((c) =>
  fronts.flatMap((f) => {
    const error = results.get(c.name)!.get(f.name);
    return error ? [`  ${f.name}: ${c.name}\n      ${error}`] : [];
  }),
);
if (failures.length > 0) console.log(`\nfailures:\n${failures.join('\n')}`);

const differing = cases.filter((c) => c.differs);
if (differing.length > 0) {
  console.log('\ndocumented differences (expected per front):');
  for (const c of differing) {
    console.log(`  ${c.name}\n      gatehouse: ${c.differs!.gatehouse}\n      nginx: ${c.differs!.nginx}`);
  }
}

console.log(`\nconformance: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
