// HTTP plumbing for the server on bare node:http: bounded body reading, multipart/form-data, image sniffing,
// JSON replies, and the lingering close that lets a client read an early error before its upload is cut.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request the server refuses, with the status and message to answer it with. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** The client went away (aborted upload, reset): there is nobody to answer. */
export class ClientGone extends Error {}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: RequestError): void {
  sendJson(res, err.status, { error: err.message }, err.headers);
}

/**
 * Answers without reading the rest of the body, then discards whatever the client still sends for up to
 * `lingerMs` (or `lingerBytes`) before cutting the connection: closing on unread data would reset the socket and
 * could destroy the answer before the client reads it (nginx's lingering_close).
 */
export function answerEarly(
  req: IncomingMessage,
  res: ServerResponse,
  err: RequestError,
  { lingerMs = 2000, lingerBytes = 64 << 20 } = {},
): void {
  if (req.complete) {
    sendError(res, err);
    return;
  }
  let discarded = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, lingerMs);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > lingerBytes) cut();
  });
  req.on('end', () => clearTimeout(timer));
  req.on('close', () => clearTimeout(timer));
  req.resume();
  sendError(res, err);
}

/**
 * Reads the whole body, refusing it with 413 as soon as it passes `limit` bytes (announced by Content-Length or
 * counted as chunks arrive), and with 408 when no byte arrives for `idleMs`. The request stays paused on refusal.
 */
export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  const tooLarge = () => new RequestError(413, `body is larger than the server's limit of ${limit} bytes`);
  const announced = req.headers['content-length'];
  if (announced !== undefined && Number(announced) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer = setTimeout(onIdle, idleMs);
    function onIdle() {
      stop();
      reject(new RequestError(408, `no body data for ${idleMs} ms`));
    }
    function stop() {
      clearTimeout(timer);
      req.pause();
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
    }
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > limit) {
        stop();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
      clearTimeout(timer);
      timer = setTimeout(onIdle, idleMs);
    }
    function onEnd() {
      stop();
      resolve(Buffer.concat(chunks, size));
    }
    function onGone() {
      stop();
      reject(new ClientGone('client closed the connection during the upload'));
    }
    function onClose() {
      if (!req.complete) onGone();
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}

/** The bytes of the `field` part of a multipart/form-data body (RFC 7578), with its file name if given. */
export function multipartField(body: Buffer, contentType: string, field: string): { data: Buffer; filename?: string } {
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new RequestError(400, 'multipart/form-data without a boundary parameter');
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  if (start < 0) throw new RequestError(400, 'multipart body does not contain its boundary');
  for (;;) {
    start += delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), start);
    if (next < 0) throw new RequestError(400, 'multipart body is truncated: a part has no closing boundary');
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0 || headerEnd > next) throw new RequestError(400, 'multipart part without a header block');
    const headers = body.subarray(start, headerEnd).toString('latin1');
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (name === field) {
      const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
      return { data: body.subarray(headerEnd + 4, next), filename };
    }
    start = next + 2;
  }
  throw new RequestError(400, `multipart body has no "${field}" field`);
}

const signatures: [string, (b: Buffer) => boolean][] = [
  ['jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['png', (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))],
  ['gif', (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString('latin1'))],
  ['webp', (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'],
  ['tiff', (b) => ['II*\0', 'MM\0*'].includes(b.subarray(0, 4).toString('latin1'))],
  [
    'avif/heif',
    (b) =>
      b.subarray(4, 8).toString('latin1') === 'ftyp' && /^(avif|avis|heic|heix|mif1)/.test(b.toString('latin1', 8, 12)),
  ],
];

/** The image format the bytes start like, or null: a cheap 415 before any decoder sees them. SVG is not accepted. */
export function sniffImage(bytes: Buffer): string | null {
  for (const [format, test] of signatures) if (test(bytes)) return format;
  return null;
}

export const acceptedFormats = 'JPEG, PNG, GIF, WebP, TIFF, AVIF/HEIF';
