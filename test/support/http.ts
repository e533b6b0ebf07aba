// Raw HTTP for what fetch will not do: send a Host header of our choosing,
// or hand over a compressed body without decoding it.
import http from 'node:http';

export interface RawRequestOptions {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function rawRequest(baseUrl: string, options: RawRequestOptions): Promise<RawResponse> {
  return rawRequestBytes(baseUrl, options).then((response) => ({ ...response, body: response.body.toString('utf8') }));
}

/** The body exactly as it came over the wire: never decompressed. */
export function rawRequestBytes(
  baseUrl: string,
  options: RawRequestOptions,
): Promise<Omit<RawResponse, 'body'> & { body: Buffer }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
