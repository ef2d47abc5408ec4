// A TCP forwarder standing in for a Service in front of several replicas (no kube-proxy here):
// the API server calls one address, the test chooses which replica's port it reaches and counts
// the connections each one got. TLS passes through untouched, as through a Service.
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpForwarder {
  /** Connections forwarded, by target port. */
  readonly connections = new Map<number, number>();
  private readonly server: Server = createServer((socket) => this.forward(socket));
  private readonly sockets = new Set<Socket>();
  private listening = 0;

  private constructor(private target: number) {}

  static async start(target: number, host = '127.0.0.1'): Promise<TcpForwarder> {
    const forwarder = new TcpForwarder(target);
    await new Promise<void>((resolve, reject) => forwarder.server.once('error', reject).listen(0, host, resolve));
    const address = forwarder.server.address();
    if (address === null || typeof address === 'string') throw new Error('the forwarder has no port');
    forwarder.listening = address.port;
    return forwarder;
  }

  /** The port the API server calls. */
  get port(): number {
    return this.listening;
  }

  /** Later connections go to `port` (open ones stay where they are). */
  route(port: number): void {
    this.target = port;
  }

  private forward(socket: Socket): void {
    const port = this.target;
    this.connections.set(port, (this.connections.get(port) ?? 0) + 1);
    const upstream = connect(port, '127.0.0.1');
    for (const s of [socket, upstream]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      s.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
