// winston logger factory: JSON lines in a cluster or when piped, readable lines on a TTY. Lines
// logged inside a reconcile carry its fields (controller, controllerKind, namespace, name,
// reconcileID) unless they come from another component's logger (src/observability/reconcile-context.ts).
import winston from 'winston';
import { currentReconcile } from './observability/reconcile-context.js';

export type Logger = winston.Logger;

/** Adds the running reconcile's fields to a line without a component of its own. */
const reconcileFields = winston.format((info) => {
  const context = currentReconcile();
  if (!context || (info.component !== undefined && info.component !== 'controller')) return info;
  for (const [k, v] of Object.entries(context.fields)) if (info[k] === undefined) info[k] = v;
  return info;
});

const text = (v: unknown) => (typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v));

/** The format of every line: JSON, or `time level [component] message key=value …` for a terminal. */
export function logFormat(json: boolean): winston.Logform.Format {
  return json
    ? winston.format.combine(reconcileFields(), winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        reconcileFields(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level: lvl, message, component, ...rest }) => {
          const extra = Object.entries(rest)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => ` ${k}=${text(v)}`)
            .join('');
          return `${String(timestamp)} ${lvl} ${component ? `[${String(component)}] ` : ''}${String(message)}${extra}`;
        }),
      );
}

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', json = !process.stdout.isTTY): Logger {
  return winston.createLogger({ level, format: logFormat(json), transports: [new winston.transports.Console()] });
}
