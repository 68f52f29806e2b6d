// Client settings for talking to the emulator: loopback endpoint, dummy credentials, fixed region.
// Never an AWS endpoint: every client the offline runtime makes goes through here.

export const REGION = 'us-east-1';
export const ACCOUNT_ID = '123456789012'; // moto's default account
export const DUMMY_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export interface Endpoint {
  url: string;
}

export const clientConfig = (endpoint: Endpoint) => ({
  endpoint: endpoint.url,
  region: REGION,
  credentials: DUMMY_CREDENTIALS,
});
