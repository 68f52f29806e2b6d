import { describe, expect, it } from 'vitest';
import { notEmulated } from '../../../local/provision.ts';
import type { Template } from '../../../local/template.ts';

describe('notEmulated', () => {
  it('lists, in template order, the resources whose type has no provisioner', () => {
    const template: Template = {
      Resources: {
        Bucket: { Type: 'AWS::S3::Bucket' },
        BucketPolicy: { Type: 'AWS::S3::BucketPolicy' },
        Queue: { Type: 'AWS::SQS::Queue' },
        QueuePolicy: { Type: 'AWS::SQS::QueuePolicy' },
        Alarm: { Type: 'AWS::CloudWatch::Alarm' },
        Fn: { Type: 'AWS::Serverless::Function' },
      },
    };

    expect(notEmulated(template)).toEqual([
      'BucketPolicy (AWS::S3::BucketPolicy)',
      'QueuePolicy (AWS::SQS::QueuePolicy)',
      'Alarm (AWS::CloudWatch::Alarm)',
    ]);
  });

  it('lists nothing for the types the pipeline runs on', () => {
    const emulated = [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::SNS::Topic',
      'AWS::SNS::Subscription',
      'AWS::SQS::Queue',
      'AWS::Serverless::Function',
      'AWS::Serverless::StateMachine',
      'AWS::Serverless::Api',
      'AWS::Serverless::LayerVersion',
    ];
    const template: Template = {
      Resources: Object.fromEntries(emulated.map((type, index) => [`R${index}`, { Type: type }])),
    };

    expect(notEmulated(template)).toEqual([]);
  });
});
