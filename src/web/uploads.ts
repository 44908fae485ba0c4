import type { FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../engine/errors.ts';
import { MAX_DOC_BYTES } from '../engine/docs.ts';

/** Most files one upload may carry. */
const MAX_FILES = 20;

/** A file of a multipart upload, read whole (at most `MAX_DOC_BYTES`). */
export interface UploadedFile {
  /** The name the client gave it ('' when the part is a plain field). */
  filename: string;
  data: Buffer;
}

/**
 * The files of a `multipart/form-data` request, one at a time. A body the multipart parser cannot
 * read (cut off before its closing boundary, no boundary in the content type, a malformed part
 * header) is the client's fault: it becomes a 400 BAD_REQUEST instead of the parser's plain
 * `Error` (which the app would answer with a 500). The parser's own 4xx errors (a file over the
 * size limit: 413) pass through. Errors of the caller's loop body are not touched.
 * @throws {AppError} BAD_REQUEST
 */
export async function* uploadedFiles(req: FastifyRequest): AsyncGenerator<UploadedFile> {
  let parts: AsyncIterator<{ filename: string; toBuffer(): Promise<Buffer> }>;
  try {
    parts = req.files({ limits: { fileSize: MAX_DOC_BYTES, files: MAX_FILES } })[Symbol.asyncIterator]();
  } catch (err) {
    throw unreadable(err);
  }
  for (;;) {
    let file: UploadedFile;
    try {
      const next = await parts.next();
      if (next.done) return;
      file = { filename: next.value.filename, data: await next.value.toBuffer() };
    } catch (err) {
      throw unreadable(err);
    }
    yield file;
  }
}

function unreadable(err: unknown): Error {
  const status = (err as { statusCode?: number }).statusCode;
  if (isAppError(err) || (typeof status === 'number' && status >= 400 && status < 500)) return err as Error;
  return new AppError('BAD_REQUEST', `The upload could not be read as multipart/form-data (${(err as Error).message ?? 'unreadable body'}).`);
}
