// A TCP gate in front of the real kube-apiserver, for tests that need the API server to be
// unreachable for one client only (the shared control plane keeps running for everyone else):
//   'open'   - connections pass through to the API server (TLS end to end, nothing is read);
//   'hold'   - new connections are accepted and held until the gate opens (a hung network);
//   'refuse' - new connections are closed at once (a server that is down).
// Open connections are cut when the gate leaves 'open', so keep-alive sockets fail too.
// It also stands in for a Service in front of several replicas (no kube-proxy here): `route`
// chooses which port later connections reach, and `connections` counts them per port.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export type GateMode = 'open' | 'hold' | 'refuse';

export class ApiGate {
  private mode: GateMode;
  private readonly held: Socket[] = [];
  private readonly live = new Set<Socket>();
  /** Connections passed through, by target port. */
  readonly connections = new Map<number, number>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
    mode: GateMode,
  ) {
    this.mode = mode;
  }

  /** A gate on a free loopback port in front of `apiServerUrl` (any https://host:port). */
  static async start(apiServerUrl: string, mode: GateMode = 'open'): Promise<ApiGate> {
    const url = new URL(apiServerUrl);
    const target = { host: url.hostname, port: Number(url.port) };
    const holder: { gate?: ApiGate } = {};
    const server = createServer((socket) => holder.gate?.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    holder.gate = new ApiGate(server, (server.address() as { port: number }).port, target, mode);
    return holder.gate;
  }

  /** Later connections go to `port` on the same host (open ones stay where they are). */
  route(port: number): void {
    this.target.port = port;
  }

  /** Connections held right now (waiting for the gate to open). */
  get heldCount(): number {
    return this.held.length;
  }

  set(mode: GateMode): void {
    this.mode = mode;
    if (mode !== 'open') for (const s of this.live) s.destroy();
    if (mode === 'open') for (const s of this.held.splice(0)) this.pipe(s);
    if (mode === 'refuse') for (const s of this.held.splice(0)) s.destroy();
  }

  /** A kubeconfig like `kubeconfigPath`'s whose server is this gate (the certificate names 127.0.0.1). */
  kubeconfigYaml(kubeconfigPath: string): string {
    const yaml = readFileSync(kubeconfigPath, 'utf8');
    return yaml.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${this.port}`);
  }

  kubeConfig(kubeconfigPath: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml(kubeconfigPath));
    return kc;
  }

  async close(): Promise<void> {
    for (const s of [...this.held.splice(0), ...this.live]) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.mode === 'open') this.pipe(socket);
    else if (this.mode === 'hold') this.held.push(socket);
    else socket.destroy();
  }

  private pipe(socket: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    this.connections.set(this.target.port, (this.connections.get(this.target.port) ?? 0) + 1);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    this.live.add(socket);
    socket.on('close', () => this.live.delete(socket));
    socket.pipe(upstream).pipe(socket);
  }
}
