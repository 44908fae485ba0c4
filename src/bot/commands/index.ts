/**
 * Every chat command, in the order menus and /help list them. Each lives in its own file with its
 * definition (name, description, typed params), its handler and its buttons; adapters derive
 * Telegram's `setMyCommands` list and Discord's slash-command definitions from here.
 */
import { approvalsCommand } from './approvals.ts';
import { botsCommand } from './bots.ts';
import { cancelCommand } from './cancel.ts';
import { deleteCommand } from './delete.ts';
import { helpCommand } from './help.ts';
import { linkCommand } from './link.ts';
import { logsCommand } from './logs.ts';
import { muteCommand } from './mute.ts';
import { newbotCommand } from './newbot.ts';
import { pauseCommand } from './pause.ts';
import { pipelinesCommand } from './pipelines.ts';
import { resultsCommand } from './results.ts';
import { resumeCommand } from './resume.ts';
import { runCommand } from './run.ts';
import { runpipelineCommand } from './runpipeline.ts';
import { scheduleCommand } from './schedule.ts';
import { statusCommand } from './status.ts';
import { stopCommand } from './stop.ts';
import { subscribeCommand } from './subscribe.ts';
import { taskCommand } from './task.ts';
import type { Command, Param } from './types.ts';
import { unlinkCommand } from './unlink.ts';
import { unsubscribeCommand } from './unsubscribe.ts';

/** `/run <bot> [input…]`, `/link <bot> <completed|failed|result> <target>` (Discord-only options left out). */
export function usageOf(c: Command): string {
  const part = (p: Param) => {
    const inner = p.kind === 'choice' && p.choices ? p.choices.join('|') : p.name === 'prompt' || p.name === 'input' || p.name === 'spec' ? `${p.name}…` : p.name;
    return p.required ? `<${inner}>` : `[${inner}]`;
  };
  return [`/${c.name}`, ...c.params.filter((p) => !p.discordOnly).map(part)].join(' ');
}

const help = helpCommand(() => COMMANDS, usageOf);

/** The commands, as menus list them. */
export const COMMANDS: Command[] = [
  botsCommand,
  runCommand,
  stopCommand,
  statusCommand,
  resultsCommand,
  logsCommand,
  newbotCommand,
  scheduleCommand,
  pauseCommand,
  resumeCommand,
  linkCommand,
  unlinkCommand,
  subscribeCommand,
  unsubscribeCommand,
  muteCommand,
  pipelinesCommand,
  runpipelineCommand,
  deleteCommand,
  approvalsCommand,
  taskCommand,
  cancelCommand,
  help,
  // Telegram opens every chat with /start.
  { ...help, name: 'start', hidden: true },
];
