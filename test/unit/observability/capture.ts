// A logger whose JSON lines the test reads (the program's format: src/log.ts logFormat).
import { Writable } from 'node:stream';
import winston from 'winston';
import { logFormat } from '../../../src/log.js';

export type Line = Record<string, unknown> & { level: string; message: string };

export function capturedLogger(level = 'debug'): { logger: winston.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  const logger = winston.createLogger({ level, format: logFormat(true), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}
