import { join } from 'node:path';
import type { Command } from 'commander';
import { projectRoot } from '../config/index.js';
import {
  createDevCertificates,
  DEV_NAMES,
  devCertificateInstructions,
} from '../proxy/tls/dev-certificates.js';

export function registerCert(program: Command): void {
  program
    .command('cert')
    .description(`make certificates for HTTPS; --dev: a local CA and a ${DEV_NAMES.join(' / ')} certificate`)
    .option(
      '--dev',
      'development certificates (the only kind so far; production ones come from tls.acme or your CA)',
    )
    .option('-o, --out <dir>', 'folder to write them to (default: .gatehouse/certs of the project)')
    .action(async (flags: { dev?: boolean; out?: string }) => {
      if (!flags.dev) {
        console.error('gatehouse cert: only --dev is supported (use tls.acme for public certificates)');
        process.exitCode = 1;
        return;
      }
      const folder = flags.out ?? join(projectRoot(), '.gatehouse', 'certs');
      const dev = await createDevCertificates(folder);
      console.log(
        `${dev.newAuthority ? 'Made a local CA and' : 'Reused the local CA for'} a certificate for ${DEV_NAMES.join(', ')} in ${folder}\n`,
      );
      console.log(devCertificateInstructions(dev));
    });
}
