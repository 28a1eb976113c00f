import { describe, test } from 'node:test';
import { requires } from '../helpers/system-deps.js';
import { cases } from './cases.js';
import { selectedFronts } from './fronts.js';
import { runCase } from './run-case.js';

// The same cases against our proxy and real nginx (rendered host config), in front of the same
// backends. CONFORMANCE_FRONTS=nginx (or gatehouse) runs one front only.
const frontsToRun = selectedFronts(process.env.CONFORMANCE_FRONTS);

for (const front of frontsToRun) {
  describe(`conformance: ${front.name}`, requires(...front.needs), () => {
    for (const c of cases) {
      test(c.name, { timeout: 60_000 }, () => runCase(c, front));
    }
  });
}
