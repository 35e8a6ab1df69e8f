// An error with the HTTP status, a machine-readable type and the request field it is about.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param?: string,
    readonly extra: {retryAfter?: number} = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The error body every route answers with (the OpenAI shape, which A1111 and RunPod clients also tolerate). */
export function errorBody(err: {message: string; type: string; param?: string}): {
  error: {message: string; type: string; param: string | null};
} {
  return {error: {message: err.message, type: err.type, param: err.param ?? null}};
}
