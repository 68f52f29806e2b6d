import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from './powertools.ts';

// Created once per execution environment and captured by the tracer. Endpoints come from the standard
// AWS_ENDPOINT_URL* variables, which is how the offline runtime points them at the emulator.
// Path-style addressing only when an endpoint override is set: bucket subdomains of 127.0.0.1 do not resolve.
const endpointOverride = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
export const s3 = /* @__PURE__ */ tracer.captureAWSv3Client(
  new S3Client({ forcePathStyle: endpointOverride !== undefined }),
);
// Numbers: row values are bounded by the row rules (|v| ≤ 1e15) and stored exactly, but sums of squares
// legitimately pass 2^53, where the marshaller would refuse them and the unmarshaller hand back a BigInt
// (or throw, for 1e+30). Aggregates are floating point anyway; they are written and read as JavaScript numbers.
export const ddb = /* @__PURE__ */ DynamoDBDocumentClient.from(
  tracer.captureAWSv3Client(new DynamoDBClient({})),
  {
    marshallOptions: { removeUndefinedValues: true, allowImpreciseNumbers: true },
    unmarshallOptions: { wrapNumbers: (text: string) => Number(text) },
  },
);
export const sns = /* @__PURE__ */ tracer.captureAWSv3Client(new SNSClient({}));
export const sfn = /* @__PURE__ */ tracer.captureAWSv3Client(new SFNClient({}));
