// Client settings for talking to the emulator: loopback endpoint, dummy credentials, fixed region.
// Never an AWS endpoint: every client the offline runtime makes goes through here.

export const REGION = 'us-east-1';
export const ACCOUNT_ID = '123456789012'; // moto's default account
export const DUMMY_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export interface Endpoint {
  url: string;
}

/**
 * Who makes a call, carried in the access key id of dummy credentials so the metering proxy in front of
 * the emulator can tell callers apart (as IAM tells roles apart by their credentials): `fn.<Function>`
 * for function code, `esm.<Function>` for Lambda's poller of its event source, `states` for the state
 * machine, `user` for what a user does (uploads), `offline` for the offline runtime's own plumbing.
 */
export const principalCredentials = (principal: string) => ({
  accessKeyId: principal,
  secretAccessKey: DUMMY_CREDENTIALS.secretAccessKey,
});
export const principalOfAccessKey = (accessKeyId: string): string =>
  accessKeyId === DUMMY_CREDENTIALS.accessKeyId ? 'offline' : (accessKeyId.split('~')[0] ?? accessKeyId);

export const clientConfig = (endpoint: Endpoint, principal = 'offline') => ({
  endpoint: endpoint.url,
  region: REGION,
  credentials: principalCredentials(principal),
});
