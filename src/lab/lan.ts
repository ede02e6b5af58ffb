/**
 * The lab's LANs: /24s whose default is derived from the lab name, so labs with different names
 * get different LANs. A LAN that overlaps a route already on this machine is refused, which also
 * keeps two labs (or a lab and the host's own networks) apart.
 */
import { UserError } from '../model/errors.js';
import { runOk } from './proc.js';

export interface Lan {
  /** First three octets, e.g. "198.19.244". */
  base: string;
  cidr: string;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(s)) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The LAN the controller reaches the nodes on: 198.19.X.0/24 (benchmarking range, RFC 2544). */
export function defaultLan(lab: string): Lan {
  const x = fnv1a(lab) % 256;
  return { base: `198.19.${x}`, cidr: `198.19.${x}.0/24` };
}

/**
 * The internal LAN of the --bastion topology: 198.18.X.0/24 with X < 250, because
 * 198.18.250.0/24 and 198.18.251.0/24 are kept for the transport tests' fixture.
 */
export function defaultInternalLan(lab: string): Lan {
  const x = fnv1a(lab) % 250;
  return { base: `198.18.${x}`, cidr: `198.18.${x}.0/24` };
}

export function parseLan(cidr: string): Lan {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(cidr.trim());
  if (!m || m.slice(1).some((o) => Number(o) > 255)) {
    throw new UserError({ message: `--lan ${cidr}: not an IPv4 /24 network`, hint: 'e.g. --lan 198.19.7.0/24' });
  }
  return { base: `${m[1]}.${m[2]}.${m[3]}`, cidr: `${m[1]}.${m[2]}.${m[3]}.0/24` };
}

function toRange(cidr: string): [number, number] | undefined {
  const [addr, lenText] = cidr.split('/');
  const parts = (addr ?? '').split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  const len = lenText === undefined ? 32 : Number(lenText);
  const ip = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  const size = 2 ** (32 - len);
  const start = Math.floor(ip / size) * size;
  return [start, start + size - 1];
}

export function overlaps(a: string, b: string): boolean {
  const ra = toRange(a);
  const rb = toRange(b);
  return !!ra && !!rb && ra[0] <= rb[1] && rb[0] <= ra[1];
}

interface RouteJson {
  dst?: string;
  dev?: string;
  table?: string;
}

/** Routes on this machine (every table of the root namespace) that overlap `lan`; default routes excluded. */
export async function overlappingRoutes(lan: Lan): Promise<string[]> {
  const routes = JSON.parse(await runOk('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as RouteJson[];
  return routes
    .filter((r) => r.dst && r.dst !== 'default' && overlaps(r.dst, lan.cidr))
    .map((r) => `${r.dst} dev ${r.dev ?? '?'}${r.table && r.table !== 'main' ? ` table ${r.table}` : ''}`);
}

export async function assertLanFree(lan: Lan, what: string): Promise<void> {
  const hits = await overlappingRoutes(lan);
  if (hits.length > 0) {
    throw new UserError({
      message: `${what} ${lan.cidr} overlaps a route on this machine: ${hits[0]}`,
      hint: 'choose another /24 with --lan, or take down the lab that uses it',
    });
  }
}
