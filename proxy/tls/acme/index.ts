export { attachAcme } from './attach.js';
export { CHALLENGE_PREFIX, challengeToken } from './challenge-path.js';
export { AcmeManager, type AcmeManagerOptions } from './manager.js';
export { acmeCertificateFiles } from './storage.js';
