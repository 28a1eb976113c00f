/** npm run fuzz -- --slow N: not there yet (the next step). */
export async function runSlowReport(attackers: number, _seconds: number): Promise<number> {
  console.error(`--slow ${attackers}: the slow-attacker report is not implemented yet`);
  return 2;
}
