// An error that carries the HTTP status the client should see; anything else is a 500.
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: { [name: string]: string } = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);
