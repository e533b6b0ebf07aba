// Test servers listen on 127.0.0.1 below 32768: the ephemeral range above it
// is where outgoing connections get their ports, so a test port there collides.
import net from 'node:net';

const PORT_MIN = 20000;
const PORT_MAX = 32000;

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

export async function pickFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (await isPortFree(port)) return port;
  }
  throw new Error(`no free port found in ${PORT_MIN}–${PORT_MAX}`);
}
