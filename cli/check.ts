import type { Command } from 'commander';
import { formatAddress, type RouteTarget } from '../config/index.js';
import { certificateReports } from '../proxy/tls/certificates.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('validate a config file and print every problem with its key (exit 1), like nginx -t')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .action((opts: { config?: string }) => {
      const config = loadConfigOrExit(opts.config);
      const pool = config.upstream.resolve
        ? `${config.upstream.resolve.host}:${config.upstream.resolve.port} (re-resolved)`
        : config.upstream.servers.map((s) => s.address).join(', ');
      console.log(`${config.source ?? 'default config'}: ok`);
      console.log(`  listen ${formatAddress(config.listen)}, status ${formatAddress(config.status.listen)}`);
      console.log(`  upstream ${config.upstream.balance}: ${pool}`);
      for (const route of config.routes)
        console.log(`  route ${route.name}: ${describeTarget(route.target)}`);
      if (!config.tls) return;
      // Every pair is read as the TLS listener would: a file it could not serve fails the check.
      console.log(`  tls ${formatAddress(config.tls.listen)}${config.tls.http2 ? ' (h2, http/1.1)' : ''}`);
      let failed = false;
      for (const report of certificateReports(config.tls.certificates)) {
        const until = report.notAfter ? ` until ${report.notAfter.toISOString()}` : '';
        console.log(`  certificate ${report.pair.cert}: ${report.names.join(', ') || '(no names)'}${until}`);
        for (const warning of report.warnings) console.warn(`warning: ${warning}`);
        for (const error of report.errors) console.error(`error: ${error}`);
        failed ||= report.errors.length > 0;
      }
      if (config.tls.acme)
        console.log(`  acme ${config.tls.acme.directory}: ${config.tls.acme.domains.join(', ')}`);
      if (failed) process.exitCode = 1;
    });
}

function describeTarget(target: RouteTarget): string {
  switch (target.kind) {
    case 'static':
      return `static ${target.root}`;
    case 'redirect':
      return `redirect ${target.status} ${target.to}`;
    default:
      return target.pool === 'default'
        ? 'the top-level upstream'
        : `upstream ${target.upstream.balance}: ${target.upstream.servers.map((s) => s.address).join(', ') || 'discovered'}`;
  }
}
