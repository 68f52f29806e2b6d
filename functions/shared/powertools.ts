import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

// One instance of each per execution environment; service name and namespace come from the template's
// Globals (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE).
export const logger = new Logger();
export const tracer = new Tracer();
// Metrics' own warnings (an invocation with no metrics, say) go through the Logger, so every line a function
// prints stays one JSON document; by default they are plain console text between the JSON lines.
export const metrics = new Metrics({ logger });
