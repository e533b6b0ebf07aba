// The HTTP limit: a bare node:http server, one process like the app, that
// answers every request with the bytes the app answered (status, headers and
// body, compressed as the app compressed them), after reading the request
// body as the app must. What is left between it and the app is the app's own work.
//
//   node --import tsx bench/http/bare-server.ts <response.json> <port>
import { readFileSync } from 'node:fs';
import http from 'node:http';

export interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  bodyBase64: string;
}

const [file, port] = process.argv.slice(2);
if (!file || !port) {
  console.error('usage: bare-server.ts <response.json> <port>');
  process.exit(2);
}
const captured = JSON.parse(readFileSync(file, 'utf8')) as CapturedResponse;
const body = Buffer.from(captured.bodyBase64, 'base64');
const headers = { ...captured.headers, 'content-length': String(body.length) };

const server = http.createServer((request, response) => {
  request.resume();
  request.once('end', () => {
    response.writeHead(captured.status, headers);
    response.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
