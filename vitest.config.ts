import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          // Handlers read configuration at import; unit tests get a complete, fake environment.
          env: {
            TABLE_NAME: 'test-table',
            STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:pipeline',
            ALERTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
            PIPELINE_EVENTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:pipeline-events',
            ALERT_THRESHOLD: '1000',
            ALERT_EVERY_MULTIPLE: 'true',
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'test',
            AWS_SECRET_ACCESS_KEY: 'test',
            POWERTOOLS_DEV: 'true',
            POWERTOOLS_LOG_LEVEL: 'SILENT',
            POWERTOOLS_TRACE_ENABLED: 'false',
            POWERTOOLS_METRICS_DISABLED: 'true',
            POWERTOOLS_SERVICE_NAME: 'unit-test',
            POWERTOOLS_METRICS_NAMESPACE: 'CsvAnalyticsTest',
          },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          // One emulator and one offline runtime for the whole suite; files run one after another.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
