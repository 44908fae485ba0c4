import { AppError, type ErrorCode } from '../engine/errors.ts';

/**
 * Parses a numeric id from a URL path. Anything that is not a whole number of at most 15 digits
 * names nothing, so it is answered like an id that does not exist.
 * @param code the not-found code to throw, e.g. `BOT_NOT_FOUND`
 * @param what the thing's name in the message, e.g. "bot"
 * @throws {AppError} `code`, "No <what> with id <raw>."
 */
export function pathId(raw: string, code: ErrorCode, what: string): number {
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id)) throw new AppError(code, `No ${what} with id ${raw}.`);
  return id;
}
