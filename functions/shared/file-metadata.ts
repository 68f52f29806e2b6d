import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ddb } from './clients.ts';
import { FILE_METADATA_SK, FILES_GSI1PK, filePk } from './keys.ts';
import type { FileMetadataItem, FileRef, FileStatus, Validation } from './model.ts';

export interface FileOutcome {
  status: FileStatus;
  file: FileRef;
  executionArn: string;
  validation?: Validation;
  storedRows: number;
  destinationKey: string | null;
  reason?: string;
  error?: { Error: string; Cause?: string };
  completedAt: string;
}

/**
 * The `FILE#<key> | METADATA` item: one per upload key, overwritten by the latest outcome, so repeating a
 * task repeats the same write. Rows in = stored + rejected is recorded on it.
 */
export const putFileMetadata = async (table: string, outcome: FileOutcome): Promise<void> => {
  const { file, validation } = outcome;
  const metadata: FileMetadataItem = {
    key: file.key,
    fileId: file.fileId,
    status: outcome.status,
    executionArn: outcome.executionArn,
    rows: {
      total: validation?.totalRows ?? 0,
      stored: outcome.storedRows,
      rejected: validation?.rejectedRows ?? 0,
    },
    rejectsKey: validation?.rejectsKey ?? null,
    rejectSample: validation?.rejectSample ?? [],
    reason: outcome.reason,
    destinationKey: outcome.destinationKey,
    uploadedAt: file.eventTime,
    completedAt: outcome.completedAt,
    bucket: file.bucket,
    etag: file.etag,
    versionId: file.versionId,
    size: file.size,
    error: outcome.error,
  };
  await ddb.send(
    new PutCommand({
      TableName: table,
      Item: {
        PK: filePk(file.key),
        SK: FILE_METADATA_SK,
        type: 'FILE',
        ...metadata,
        GSI1PK: FILES_GSI1PK,
        // The file id, not the key: an index sort key holds at most 1,024 bytes and an S3 key can take all of them.
        GSI1SK: `${outcome.completedAt}#${file.fileId}`,
      },
    }),
  );
};
