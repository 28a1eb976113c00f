export { AcmeManager, type AcmeManagerOptions } from './manager.js';
export { acmeCertificateFiles } from './storage.js';
