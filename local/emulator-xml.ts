/**
 * The XML the emulator's own S3 answers are written in (local/emulator*.ts): what fauxqs lacks and the
 * project adds — listings, tagging, versioning, refusals — answers in S3's shapes and errors.
 */
import type { FastifyReply } from 'fastify';

/** An S3 XML document. */
export const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;

export const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Undoes XML character references and the predefined entities (a request body's text). */
export const xmlUnescape = (s: string) =>
  s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity] ?? '';
  });

/** Answers with S3's error document. */
export function s3Error(reply: FastifyReply, status: number, code: string, message: string): void {
  void reply
    .code(status)
    .header('content-type', 'application/xml')
    .send(xml(`<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`));
}
