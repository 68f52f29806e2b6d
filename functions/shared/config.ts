import { MissingConfigError } from './errors.ts';

/** Reads a required environment variable once; a missing one is a deployment bug, so fail loudly by name. */
export const requireEnv = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new MissingConfigError(name);
  return value;
};

/** A numeric setting with a documented default (the template passes every value explicitly). */
export const numberEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new MissingConfigError(`${name} (not a number: ${raw})`);
  return value;
};

/** A whole number ≥ 1 (thresholds, counts). */
export const positiveIntegerEnv = (name: string, fallback: number): number => {
  const value = numberEnv(name, fallback);
  if (!Number.isInteger(value) || value < 1) throw new MissingConfigError(`${name} (not a positive integer)`);
  return value;
};

/** 'true' or 'false', nothing else: a typo in a flag must not silently mean false. */
export const booleanEnv = (name: string, fallback: boolean): boolean => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new MissingConfigError(`${name} (not true or false: ${raw})`);
  return raw === 'true';
};
