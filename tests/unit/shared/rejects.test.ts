import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { openS3Writer } from '../../../functions/shared/rejects.ts';
import { bodyText } from '../../helpers/s3.ts';

const s3Mock = mockClient(S3Client);

describe('openS3Writer', () => {
  beforeEach(() => {
    s3Mock.reset();
  });

  it('uploads everything written, in order, when closed', async () => {
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const writer = openS3Writer('bucket', 'rejected/a.csv.rejects.csv', 'text/csv');

    await writer.write('row,line\n');
    await writer.write('1,2\n');
    await writer.close();

    const [call] = s3Mock.commandCalls(PutObjectCommand);
    expect(call?.args[0].input).toMatchObject({
      Bucket: 'bucket',
      Key: 'rejected/a.csv.rejects.csv',
      ContentType: 'text/csv',
    });
    expect(bodyText(call?.args[0].input.Body)).toBe('row,line\n1,2\n');
  });

  it('fails a blocked write with the upload’s own error when the upload fails', async () => {
    s3Mock
      .on(CreateMultipartUploadCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"p"' });
    s3Mock.on(AbortMultipartUploadCommand).resolves({});
    const writer = openS3Writer('bucket', 'rejected/big.csv.rejects.csv', 'text/csv');
    const line = `${'x'.repeat(1023)}\n`;

    // lib-storage reads one 5 MiB part per uploader (4) before each finds the upload failed; past that
    // nothing reads the body any more.
    const writeAll = async () => {
      for (let i = 0; i < 40 * 1024; i += 1) await writer.write(line);
    };

    await expect(writeAll()).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(writer.close()).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});
