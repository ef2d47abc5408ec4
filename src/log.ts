// winston logger factory: JSON lines in a cluster or when piped, readable lines on a TTY.
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', json = !process.stdout.isTTY): Logger {
  const format = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level: lvl, message, component, ...rest }) => {
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${lvl} ${component ? `[${String(component)}] ` : ''}${String(message)}${extra}`;
        }),
      );
  return winston.createLogger({ level, format, transports: [new winston.transports.Console()] });
}
