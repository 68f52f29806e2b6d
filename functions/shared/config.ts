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
