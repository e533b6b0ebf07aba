// A Server-Sent Events client for the tests: reads GET /api/events over real
// HTTP and parses it as a browser's EventSource does (id, event, data).
import http from 'node:http';

export interface ServerEvent {
  id: string;
  event: string;
  data: unknown;
}

export class EventStreamClient {
  readonly events: ServerEvent[] = [];
  #request: http.ClientRequest | undefined;
  #waiters: (() => void)[] = [];
  #closed = false;
  status = 0;

  /** Opens the stream; resolves on the response's headers. */
  static open(url: string, headers: Record<string, string>): Promise<EventStreamClient> {
    const client = new EventStreamClient();
    return new Promise((resolve, reject) => {
      client.#request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
        client.status = response.statusCode ?? 0;
        response.setEncoding('utf8');
        let buffer = '';
        response.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            client.#parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        });
        response.on('close', () => {
          client.#closed = true;
          client.#wake();
        });
        resolve(client);
      });
      client.#request.on('error', (error) => (client.status === 0 ? reject(error) : undefined));
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The id of the last event received (what a browser would send as Last-Event-ID). */
  get lastEventId(): string {
    return this.events.at(-1)?.id ?? '';
  }

  #parse(block: string): void {
    let id = '';
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    this.events.push({ id, event, data: JSON.parse(data.join('\n')) as unknown });
    this.#wake();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Waits until an event after the first `from` matches, within `timeoutMs`; answers it. */
  async waitFor(
    match: (event: ServerEvent) => boolean,
    { timeoutMs = 1000, from = 0, what = 'an event' } = {},
  ): Promise<ServerEvent> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed)
        throw new Error(
          `no ${what} within ${timeoutMs} ms${this.#closed ? ' (stream closed)' : ''}; got ${JSON.stringify(this.events.slice(from))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the server ends the stream, within `timeoutMs`; answers how long that took. */
  async waitClosed({ timeoutMs = 1000, what = 'the stream to end' } = {}): Promise<number> {
    const since = performance.now();
    const deadline = since + timeoutMs;
    while (!this.#closed) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no end of ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return performance.now() - since;
  }

  close(): void {
    this.#request?.destroy();
  }
}
