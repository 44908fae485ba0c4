import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';

/**
 * The bot a button names by id (`run:12` → 12).
 * @throws {AppError} BOT_NOT_FOUND when it was deleted since the button was sent.
 */
export function botById(engine: Engine, id: string): BotRow {
  try {
    return engine.bots.get(Number(id));
  } catch {
    throw new AppError('BOT_NOT_FOUND', 'That bot no longer exists.');
  }
}
