import type { Logger } from 'pino';
import type { EngineEventName, EngineEvents, EventBus } from '../event-bus.ts';
import { CLUSTER_CHANNELS, type ClusterMember } from './cluster.ts';

/** Postgres refuses a NOTIFY payload of 8,000 bytes or more; a batch stays under this. */
const MAX_PAYLOAD_BYTES = 7_500;
/** Strings longer than this travel cut short: a listener elsewhere reads the full text from the database. */
const MAX_STRING_CHARS = 500;

/** One event as it travels between processes. */
interface WireEvent {
  event: EngineEventName;
  payload: unknown;
}

/** A copy of `value` whose long strings are cut to {@link MAX_STRING_CHARS} (objects and arrays walked). */
function compact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING_CHARS ? `${value.slice(0, MAX_STRING_CHARS)}…` : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => compact(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compact(v, depth + 1)]));
}

/**
 * Carries this process's engine events to the other processes of the cluster, and theirs here
 * (Postgres NOTIFY on {@link CLUSTER_CHANNELS.events}). An event from elsewhere reaches only the
 * listeners that asked for remote events (`bus.on(…, { remote: true })`: the live views, log
 * streams and chat delivery, which read what they show from the shared database); the work an
 * event starts (chains, pipelines, notifications, the activity feed) happens once, in the
 * process where it was emitted. Events of one turn travel in one notification (several when they
 * do not fit in {@link MAX_PAYLOAD_BYTES}), in emit order; long strings are cut short
 * ({@link MAX_STRING_CHARS}).
 * @returns a function that stops the bridge.
 */
export function bridgeEvents(bus: EventBus, member: ClusterMember, log: Logger): () => void {
  let batch: WireEvent[] = [];
  let scheduled = false;
  const send = (events: WireEvent[]) =>
    member.notify(CLUSTER_CHANNELS.events, JSON.stringify({ from: member.workerId, events })).catch((err: unknown) => log.warn({ err }, 'could not send events to the other processes'));
  const flush = () => {
    scheduled = false;
    const all = batch;
    batch = [];
    let part: WireEvent[] = [];
    let size = 0;
    for (const e of all) {
      const n = Buffer.byteLength(JSON.stringify(e));
      if (part.length > 0 && size + n > MAX_PAYLOAD_BYTES) {
        void send(part);
        part = [];
        size = 0;
      }
      part.push(e);
      size += n;
    }
    if (part.length > 0) void send(part);
  };
  const offTap = bus.tap((event, payload) => {
    batch.push({ event, payload: compact(payload) });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  member.on(CLUSTER_CHANNELS.events, (raw) => {
    let msg: { from: string; events: WireEvent[] };
    try {
      msg = JSON.parse(raw) as typeof msg;
    } catch {
      return;
    }
    if (msg.from === member.workerId) return;
    for (const e of msg.events) bus.emitRemote(e.event, e.payload as EngineEvents[typeof e.event]);
  });
  return offTap;
}
